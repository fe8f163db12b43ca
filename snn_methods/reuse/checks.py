"""Config checks for mode / ckpt / eval_split / init_from / init_strict (RULES run by snn_methods.config.validate, check by snn_methods.compat.check)."""
from __future__ import annotations

from typing import Any

from snn_methods.config import one_of
from snn_methods.errors import ConfigError

RULES = [
    ("mode", one_of("train", "test"), "train or test"),
    ("eval_split", one_of("test", "val"), "test or val (the train split's loader augments and shuffles)"),
    ("init_strict", one_of(True, False), "true or false"),
    ("ckpt", lambda v: v is None or isinstance(v, str), "null or a path"),
    ("init_from", lambda v: v is None or isinstance(v, str), "null or a path"),
]


def check(cfg: Any) -> None:
    mode, ckpt, init_from = cfg.get("mode", "train"), cfg.get("ckpt"), cfg.get("init_from")
    if mode == "test" and not ckpt:
        raise ConfigError("mode=test needs ckpt=PATH: a run directory, a best.pt / last.pt, or a state_dict file")
    if mode == "test" and init_from:
        raise ConfigError(f"init_from={init_from} is for training; mode=test evaluates ckpt={ckpt}")
    if mode == "train" and ckpt:
        raise ConfigError(f"ckpt={ckpt} is read by mode=test only: add mode=test to evaluate it, use "
                          f"init_from=PATH to train from its weights, or resume=PATH to continue that run")
