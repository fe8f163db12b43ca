"""Config value checks for the data sets (RULES run by snn_methods.config.validate, check by snn_methods.compat.check)."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from snn_methods.config import int_at_least, one_of, optional, target_of
from snn_methods.data.event_transforms import PIPELINES
from snn_methods.errors import ConfigError


def _is_bool(v: object) -> bool:
    return isinstance(v, bool)


RULES = [
    ("dataset.frames", int_at_least(1), "an integer >= 1 (frames per sample, = T)"),
    ("dataset.split_by", one_of("number", "time"), "number or time"),
    ("dataset.size", optional(int_at_least(1)), "null (keep the sensor's size) or an integer >= 1"),
    ("dataset.pipeline", one_of(*PIPELINES), " | ".join(PIPELINES)),
    ("dataset.orientation", one_of("spikingjelly", "dsr"), "spikingjelly or dsr"),
    ("dataset.train_files_per_class", int_at_least(1), "an integer >= 1"),
    ("dataset.train_ratio", lambda v: isinstance(v, float) and 0 < v < 1, "a number in (0, 1)"),
    ("dataset.split_seed", int_at_least(0), "an integer >= 0"),
    ("dataset.val_from", one_of("train", "test"), "train (a stratified hold-out) or test"),
    ("dataset.pt_layout", one_of("tchw", "chwt"), "tchw or chwt"),
    ("dataset.on_bad_file", one_of("fail", "skip"), "fail or skip"),
    ("dataset.rebuild", _is_bool, "true or false"),
    ("dataset.augment", _is_bool, "true or false"),
    ("dataset.pil_uint8_wrap", _is_bool, "true or false"),
    ("dataset.pil_premultiply_la", _is_bool, "true or false"),
]


def check(cfg: DictConfig) -> None:
    """A data set's declared `splits` and `frames_are_time_steps` (attributes of its function, neuromorphic.py)."""
    data = target_of(cfg, "dataset")
    name = getattr(data, "__name__", "this data set")
    splits = getattr(data, "splits", None)
    split = OmegaConf.select(cfg, "dataset.split")
    if splits is not None and split not in splits:
        raise ConfigError(f"dataset.split={split!r} is invalid for {name}: must be {' | '.join(splits)}")
    frames = OmegaConf.select(cfg, "dataset.frames")
    if getattr(data, "frames_are_time_steps", False) and frames != cfg.get("T"):
        raise ConfigError(f"dataset.frames={frames} but T={cfg.get('T')}: an event data set gives one frame per "
                          f"time step; leave dataset.frames at its default ${{T}} or set both equal")
