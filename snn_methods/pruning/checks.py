"""Config checks of the pruning methods (RULES run by snn_methods.config.validate, check by snn_methods.compat.check; also applied by the
PruningMethod constructors to their arguments, so the Python API gets the same one-line errors)."""
from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from snn_methods.config import int_at_least, non_negative, one_of, optional, positive, target_of
from snn_methods.errors import ConfigError
from snn_methods.pruning.stds import REPARAMETERISATIONS, SCHEDULES

RULES = [
    ("pruning.flat_width", positive, "a number > 0 (STDS's dead-zone half-width D)"),
    ("pruning.reparameterisation", one_of(*REPARAMETERISATIONS), " | ".join(REPARAMETERISATIONS)),
    ("pruning.gradual", one_of(*SCHEDULES), "null | sine | linear"),
    ("pruning.gradual_epochs", optional(int_at_least(1)), "null or an integer >= 1"),
    ("pruning.alpha", non_negative, "a number >= 0"),
    ("pruning.alpha_gr", non_negative, "a number >= 0"),
    ("pruning.l1", non_negative, "a number >= 0"),
    ("pruning.temperature", non_negative, "a number >= 0"),
    ("pruning.zero_threshold", non_negative, "a number >= 0"),
    ("pruning.lr", optional(positive), "null (the learning rate of the optimizer that trains the weights) or a number > 0"),
]


def check_grad_rewire_target(target_sparsity: Any) -> None:
    if not (isinstance(target_sparsity, (int, float)) and 0.5 <= target_sparsity < 1):
        raise ConfigError(f"pruning.target_sparsity={target_sparsity!r} is invalid: Grad R needs a number in [0.5, 1) "
                          f"(its prior centre ln(2 (1 - s)) / alpha must be <= 0)")


def check_stds_shift(init_shift: Any, gradual: Any) -> None:
    if init_shift and gradual:
        raise ConfigError(f"pruning.init_shift=true is invalid with pruning.gradual={gradual}: the mapping starts as "
                          f"the identity, so there is nothing to compensate; set pruning.gradual=null or "
                          f"pruning.init_shift=false")


def check_arguments(**kwargs: Any) -> None:
    """The RULES above applied to a PruningMethod's constructor arguments (`flat_width=...` = `pruning.flat_width`)."""
    for key, ok, allowed in RULES:
        name = key.split(".", 1)[1]
        if name in kwargs and not ok(kwargs[name]):
            raise ConfigError(f"{key}={kwargs[name]!r} is invalid: must be {allowed}")


def check(cfg: Any) -> None:
    """Rules relating several keys of the pruning group."""
    from snn_methods.pruning.methods import STDS, GradRewire

    node, cls = cfg.get("pruning"), target_of(cfg, "pruning")
    if not isinstance(cls, type):
        return
    if issubclass(cls, GradRewire):
        check_grad_rewire_target(OmegaConf.select(cfg, "pruning.target_sparsity"))
    if issubclass(cls, STDS):
        check_stds_shift(node.get("init_shift"), node.get("gradual"))
