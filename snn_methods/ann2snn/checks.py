"""Config checks for multi-stage recipes (RULES run by snn_methods.config.validate, check by snn_methods.compat.check)."""
from __future__ import annotations

from omegaconf import DictConfig

from snn_methods.config import int_at_least, one_of, optional
from snn_methods.errors import ConfigError

RULES = [
    ("stage", optional(one_of("ann", "calibrate", "snn", "all")), "null, or with a multi-stage preset ann, calibrate, snn or all"),
    ("pipeline.calibrate.split", one_of("train", "val", "test"), "train, val or test"),
    ("pipeline.calibrate.num_samples", int_at_least(1), "an integer >= 1"),
    ("pipeline.calibrate.batch_size", int_at_least(1), "an integer >= 1"),
    ("pipeline.calibrate.percentile", lambda v: isinstance(v, float) and 0 < v <= 1, "a number in (0, 1]"),
]


def check(cfg: DictConfig) -> None:
    if cfg.get("stage") is not None and cfg.get("pipeline") is None:
        raise ConfigError(f"stage={cfg.stage} applies to multi-stage presets only: add experiment=dsr_imagenet_if "
                          f"(or dsr_imagenet_lif), or drop stage=")
