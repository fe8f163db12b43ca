"""Several optimizers stepped as one (Grad R on the prunable weights and Adam on BatchNorm as `c10.py` does; ASGL's
`main` + `neuron` split; both at once), so that the engine, the GradScaler and LR schedulers see a single
`torch.optim.Optimizer`. It sits below engine and pruning, which both build one."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Iterator, Sequence

import torch


class _PartsState(Mapping):
    """Read-only view of the parts' per-parameter states (`opt.state[p]['sign']`)."""

    def __init__(self, parts: Sequence[torch.optim.Optimizer]):
        self.parts = parts

    def __getitem__(self, p: torch.Tensor) -> dict:
        for opt in self.parts:
            if p in opt.state:
                return opt.state[p]
        raise KeyError("this parameter has no optimizer state yet")

    def __iter__(self) -> Iterator[torch.Tensor]:
        for opt in self.parts:
            yield from opt.state

    def __len__(self) -> int:
        return sum(len(opt.state) for opt in self.parts)


class OptimizerSet(torch.optim.Optimizer):
    """Named parts stepped in order. `param_groups` lists every part's groups, the same dicts (an LR scheduler
    changes every part's lr, AMP unscales every gradient). Groups of the parts named in `constant_lr` are not
    scheduled: their learning rate is put back to its initial value before every step, whatever an LR scheduler
    wrote into it. A part that is itself an OptimizerSet is opened up (its parts and constant_lr join this one)."""

    def __init__(self, parts: dict[str, torch.optim.Optimizer], constant_lr: Sequence[str] = ()):
        flat: dict[str, torch.optim.Optimizer] = {}
        constant = list(constant_lr)
        for name, opt in parts.items():
            if isinstance(opt, OptimizerSet):
                flat.update(opt.parts)
                constant += list(opt.constant_lr)
            else:
                flat[name] = opt
        if not flat:
            raise ValueError("OptimizerSet needs at least one optimizer")
        self.parts = flat
        self.constant_lr = tuple(constant)
        self._lrs = {name: [g["lr"] for g in self.parts[name].param_groups] for name in self.constant_lr}
        # the base class wants parameters; the real groups live in the parts (see the param_groups property)
        super().__init__([{"params": []}], {})

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        return list(self.parts.values())

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [g for opt in self.parts.values() for g in opt.param_groups]

    @param_groups.setter
    def param_groups(self, value: Any) -> None:  # the base class's constructor assigns []: ignored
        pass

    @property
    def state(self) -> Mapping:   # type: ignore[override]
        return _PartsState(self.optimizers)

    @state.setter
    def state(self, value: Any) -> None:  # the base class's constructor assigns an empty state: the parts own theirs
        pass

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if param_group["params"]:
            raise TypeError("OptimizerSet: add parameter groups to one of its parts")

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for name, lrs in self._lrs.items():
            for group, lr in zip(self.parts[name].param_groups, lrs):
                group["lr"] = lr
        for opt in self.parts.values():
            opt.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.parts.values():
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:   # type: ignore[override]
        return {name: opt.state_dict() for name, opt in self.parts.items()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:   # type: ignore[override]
        if "optimizers" in state_dict and "optimizers" not in self.parts:   # the former OptimizerChain's format
            saved = state_dict["optimizers"]
            if len(saved) != len(self.parts):
                raise ValueError(f"optimizer state for {len(self.parts)} optimizers expected, got {len(saved)}")
            state_dict = dict(zip(self.parts, saved))
        missing = set(self.parts) - set(state_dict)
        if missing:
            raise ValueError(f"optimizer state lacks the parts {sorted(missing)}")
        for name, opt in self.parts.items():
            opt.load_state_dict(state_dict[name])

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={type(opt).__name__}" for name, opt in self.parts.items())
        return f"OptimizerSet({inner})"
