"""What a pruning method can do, and the no-op default."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
import torch.nn as nn


class PruningMethod:
    """Hooks called by `build` and the engine. The defaults do nothing, so a method overrides only what it needs."""

    name = "none"
    zero_threshold = 0.0   # connectivity counts |w| <= zero_threshold as zero (metrics.connectivity)

    def prepare_model(self, model: nn.Module) -> None:
        """Before the optimizer is built (e.g. reparameterise weights)."""

    def make_optimizer(self, model: nn.Module,
                       optimizer: Callable[[Iterable[Any]], torch.optim.Optimizer]) -> torch.optim.Optimizer:
        """`optimizer` is the configured optimizer with its parameters left out (`_partial_`)."""
        return optimizer(model.parameters())

    def plan(self, epochs: int, steps_per_epoch: int) -> None:
        """The run's length, known once the data is loaded (e.g. for a schedule over all steps)."""

    def after_step(self, model: nn.Module, optimizer: torch.optim.Optimizer, step: int) -> None:
        """After every optimizer step; `step` counts completed steps (1 after the first)."""

    def epoch_stats(self, model: nn.Module) -> dict:
        """Extra per-epoch figures (e.g. prune / regrow counts) for the history and the loggers."""
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what state_dict gave (schedules, masks kept outside the optimizer)."""


class NoPruning(PruningMethod):
    name = "none"
