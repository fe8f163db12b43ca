"""Several optimizers stepped as one (e.g. Grad R on the prunable weights, plain Adam on BatchNorm as `c10.py`
does), so that the engine, the LR schedulers and the AMP scaler see a single `torch.optim.Optimizer`."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator, Sequence

import torch


class _ChainState(Mapping):
    """Read-only view of the children's per-parameter states (`chain.state[p]['sign']`)."""

    def __init__(self, optimizers: Sequence[torch.optim.Optimizer]):
        self.optimizers = optimizers

    def __getitem__(self, p: torch.Tensor) -> dict:
        for opt in self.optimizers:
            if p in opt.state:
                return opt.state[p]
        raise KeyError("this parameter has no optimizer state yet")

    def __iter__(self) -> Iterator[torch.Tensor]:
        for opt in self.optimizers:
            yield from opt.state

    def __len__(self) -> int:
        return sum(len(opt.state) for opt in self.optimizers)


class OptimizerChain(torch.optim.Optimizer):
    """`param_groups` is the children's groups (the same dicts: an LR scheduler changes every child's lr);
    `step` steps every child; the state dict holds one entry per child."""

    def __init__(self, optimizers: Sequence[torch.optim.Optimizer]):
        self.optimizers = list(optimizers)
        if not self.optimizers:
            raise ValueError("OptimizerChain needs at least one optimizer")
        super().__init__([p for opt in self.optimizers for g in opt.param_groups for p in g["params"]], {})
        self._share_groups()

    def _share_groups(self) -> None:
        self.param_groups = [g for opt in self.optimizers for g in opt.param_groups]

    @property
    def state(self) -> Mapping:   # type: ignore[override]
        return _ChainState(self.optimizers)

    @state.setter
    def state(self, value: Any) -> None:
        """torch's constructor assigns an empty state: the children own theirs."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for opt in self.optimizers:
            opt.step()
        return loss

    def state_dict(self) -> dict:   # type: ignore[override]
        return {"optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state_dict: dict) -> None:   # type: ignore[override]
        saved = state_dict.get("optimizers")
        if saved is None or len(saved) != len(self.optimizers):
            raise ValueError(f"optimizer state for {len(self.optimizers)} chained optimizers expected, "
                             f"got {'none' if saved is None else len(saved)}")
        for opt, state in zip(self.optimizers, saved):
            opt.load_state_dict(state)
        self._share_groups()   # torch's load_state_dict gives each child new group dicts
