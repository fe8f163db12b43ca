"""Optimizers that treat parameter kinds apart: weights, normalisation/bias parameters, and the spiking
neurons' own parameters (surrogate widths, leaks, thresholds), which some methods train with another
optimizer (ASGL, spec dsr_asgl.md B.9).

A neuron marks its own parameters by creating them as `NeuronParameter`; the mark survives `deepcopy`,
`.to()` and `load_state_dict` (it is the class, not an attribute).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import torch
import torch.nn as nn


class NeuronParameter(nn.Parameter):
    """A parameter of a spiking neuron (not a synaptic weight): optimizers may give it its own settings."""


class UninitializedNeuronParameter(nn.UninitializedParameter):
    """A lazily shaped NeuronParameter (torch lazy-module protocol): becomes a NeuronParameter on materialize."""

    cls_to_become = NeuronParameter


def split_parameters(params: Iterable[torch.Tensor]) -> dict[str, list[torch.Tensor]]:
    """{"neuron": NeuronParameters, "decay": tensors with >= 2 dims (conv / linear weights), "no_decay": the rest
    (BatchNorm weights and biases, layer biases, other scalars)}; parameters without requires_grad are left out."""
    groups: dict[str, list[torch.Tensor]] = {"neuron": [], "decay": [], "no_decay": []}
    for p in params:
        if not p.requires_grad:
            continue
        if isinstance(p, (NeuronParameter, UninitializedNeuronParameter)):
            groups["neuron"].append(p)
        elif not isinstance(p, nn.UninitializedParameter) and p.ndim >= 2:
            groups["decay"].append(p)
        else:
            groups["no_decay"].append(p)
    return groups


class OptimizerSet(torch.optim.Optimizer):
    """Several optimizers stepped as one: what the engine, the GradScaler and LR schedulers see.

    `param_groups` lists every part's groups (so AMP unscales every gradient), the first part's first. Groups of
    the parts named in `constant_lr` are not scheduled: their learning rate is put back to its initial value
    before every step, whatever an LR scheduler wrote into it.
    """

    def __init__(self, parts: dict[str, torch.optim.Optimizer], constant_lr: Sequence[str] = ()):
        self.parts = dict(parts)
        self.constant_lr = tuple(constant_lr)
        self._lrs = {name: [g["lr"] for g in self.parts[name].param_groups] for name in self.constant_lr}
        # the base class wants parameters; the real groups live in the parts (see the param_groups property)
        super().__init__([{"params": []}], {})

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [g for opt in self.parts.values() for g in opt.param_groups]

    @param_groups.setter
    def param_groups(self, value: Any) -> None:  # the base class's constructor assigns []: ignored
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

    def state_dict(self) -> dict[str, Any]:
        return {name: opt.state_dict() for name, opt in self.parts.items()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        missing = set(self.parts) - set(state_dict)
        if missing:
            raise ValueError(f"optimizer state lacks the parts {sorted(missing)}")
        for name, opt in self.parts.items():
            opt.load_state_dict(state_dict[name])

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={type(opt).__name__}" for name, opt in self.parts.items())
        return f"OptimizerSet({inner})"


def split_optimizer(params: Iterable[torch.Tensor], *, main: Callable[..., torch.optim.Optimizer],
                    neuron: Callable[..., torch.optim.Optimizer] | None = None) -> torch.optim.Optimizer:
    """ASGL's parameter split (spec B.9 step 4): `main` (a partial optimizer, its weight_decay applying to
    conv / linear weights only; BatchNorm parameters and biases get 0) and `neuron` (a partial optimizer for the
    NeuronParameters, whose learning rate no LR schedule changes). Without NeuronParameters, or with
    neuron=None, everything goes to `main` (neuron parameters then without weight decay)."""
    groups = split_parameters(params)
    probe = main([torch.zeros(1, requires_grad=True)])       # the configured weight decay, read off the optimizer
    decay = probe.defaults.get("weight_decay", 0.0)
    no_decay = groups["no_decay"] + (groups["neuron"] if neuron is None else [])
    main_groups = [g for g in ({"params": groups["decay"], "weight_decay": decay},
                               {"params": no_decay, "weight_decay": 0.0}) if g["params"]]
    parts = {"main": main(main_groups)} if main_groups else {}
    if neuron is not None and groups["neuron"]:
        parts["neuron"] = neuron(groups["neuron"])
    if not parts:
        raise ValueError("optimizer got an empty parameter list")
    return OptimizerSet(parts, constant_lr=("neuron",) if "neuron" in parts else ())


def decay_weights_only(params: Iterable[torch.Tensor], *, optimizer: Callable[..., torch.optim.Optimizer],
                       weight_decay: float, **kwargs: Any) -> torch.optim.Optimizer:
    """`optimizer` with weight decay on conv / linear weights only (`split_parameters`' "decay" group); BatchNorm
    scales and shifts, biases and neuron parameters get none, as rate-BP's `split_params` does. Parameter dicts
    (param groups) are passed through unchanged."""
    params = list(params)
    if params and isinstance(params[0], dict):
        return optimizer(params, weight_decay=weight_decay, **kwargs)
    groups = split_parameters(params)
    parts = [{"params": groups["decay"], "weight_decay": weight_decay},
             {"params": groups["no_decay"] + groups["neuron"], "weight_decay": 0.0}]
    return optimizer([g for g in parts if g["params"]], **kwargs)
