"""Learning-rate schedules: torch's schedulers plus *when* they step (`interval`: epoch or step)."""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, LinearLR, MultiStepLR, SequentialLR

from snn_methods.errors import ConfigError


class Schedule:
    """A torch LR scheduler that the engine steps after every optimizer step or after every epoch."""

    def __init__(self, scheduler: Any, interval: str):
        if interval not in ("epoch", "step"):
            raise ConfigError(f"scheduler.interval={interval!r} is invalid: must be epoch or step")
        self.scheduler, self.interval = scheduler, interval

    def step(self) -> None:
        self.scheduler.step()

    def state_dict(self) -> dict:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scheduler.load_state_dict(state)


def _length(interval: str, epochs: int, steps_per_epoch: int) -> int:
    return epochs if interval == "epoch" else epochs * steps_per_epoch


class Constant(Schedule):
    def __init__(self, optimizer: torch.optim.Optimizer, *, epochs: int = 1, steps_per_epoch: int = 1):
        super().__init__(LambdaLR(optimizer, lambda _: 1.0), "epoch")


class Cosine(Schedule):
    """CosineAnnealingLR to eta_min over the run; with warm-up > 0, a linear ramp from lr/warmup first."""

    def __init__(self, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int,
                 interval: str = "epoch", eta_min: float = 0.0, warmup: int = 0):
        total = _length(interval, epochs, steps_per_epoch)
        if not 0 <= warmup < total:
            raise ConfigError(f"scheduler.warmup={warmup} is invalid: must be in [0, {total}) ({interval}s in the run)")
        cosine = CosineAnnealingLR(optimizer, T_max=total - warmup, eta_min=eta_min)
        if warmup:
            ramp = LinearLR(optimizer, start_factor=1.0 / warmup, total_iters=warmup)
            cosine = SequentialLR(optimizer, [ramp, cosine], milestones=[warmup])
        super().__init__(cosine, interval)


class MultiStep(Schedule):
    def __init__(self, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int,
                 interval: str = "epoch", milestones: Sequence[int] = (), gamma: float = 0.1):
        if not gamma > 0:
            raise ConfigError(f"scheduler.gamma={gamma} is invalid: must be > 0")
        super().__init__(MultiStepLR(optimizer, milestones=list(milestones), gamma=gamma), interval)


class CosineWarmupIters(Schedule):
    """Per-epoch cosine times a per-iteration linear warm-up (DSR's recipe), stepped after every optimizer step.

    Iteration i (0-based, counted over the whole run) of epoch e = i // steps_per_epoch trains with
    lr * 0.5 * (1 + cos(pi * e / epochs)) * ((i + 1) / warmup_iters if i < warmup_iters else 1).
    The cosine is evaluated per epoch (constant within one) and never reaches 0; the warm-up spans epochs unless
    `warmup_first_epoch_only` (then it ends with epoch 0 even if warmup_iters is not reached).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int,
                 warmup_iters: int = 400, warmup_first_epoch_only: bool = False):
        if not (isinstance(warmup_iters, int) and warmup_iters >= 0):
            raise ConfigError(f"scheduler.warmup_iters={warmup_iters!r} is invalid: must be an integer >= 0")

        def factor(i: int) -> float:
            epoch = i // steps_per_epoch
            f = 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
            if i < warmup_iters and (epoch == 0 or not warmup_first_epoch_only):
                f *= (i + 1.0) / warmup_iters
            return f

        super().__init__(LambdaLR(optimizer, factor), "step")
