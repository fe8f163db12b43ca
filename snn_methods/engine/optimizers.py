"""Optimizers that treat parameter kinds apart: weights, normalisation/bias parameters, and the spiking
neurons' own parameters (`NeuronParameter`: surrogate widths, leaks, thresholds), which some methods train with
another optimizer (ASGL, spec dsr_asgl.md B.9)."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
import torch.nn as nn

from snn_methods.neurons.parameters import NeuronParameter, UninitializedNeuronParameter
from snn_methods.optimizer_set import OptimizerSet

__all__ = ["NeuronParameter", "OptimizerSet", "split_parameters", "split_optimizer", "decay_weights_only"]


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


def split_optimizer(params: Iterable[torch.Tensor], *, main: Callable[..., torch.optim.Optimizer],
                    neuron: Callable[..., torch.optim.Optimizer] | None = None) -> torch.optim.Optimizer:
    """ASGL's parameter split (spec B.9 step 4): `main` (a partial optimizer, its weight_decay applying to
    conv / linear weights only; BatchNorm parameters and biases get 0) and `neuron` (a partial optimizer for the
    NeuronParameters, whose learning rate no LR schedule changes). Without NeuronParameters, or with
    neuron=None, everything goes to `main` (neuron parameters then without weight decay). Param groups (dicts) are
    split likewise, each keeping its other keys."""
    params = list(params)
    given = params if params and isinstance(params[0], dict) else [{"params": params}]
    probe = main([torch.zeros(1, requires_grad=True)])       # the configured weight decay, read off the optimizer
    decay = probe.defaults.get("weight_decay", 0.0)
    main_groups, neuron_params = [], []
    for group in given:      # param groups (e.g. STDS's alpha_gr) keep their own keys in `main`
        extra = {k: v for k, v in group.items() if k != "params"}
        kinds = split_parameters(group["params"])
        no_decay = kinds["no_decay"] + (kinds["neuron"] if neuron is None else [])
        neuron_params += kinds["neuron"] if neuron is not None else []
        main_groups += [g for g in ({**extra, "params": kinds["decay"], "weight_decay": decay},
                                    {**extra, "params": no_decay, "weight_decay": 0.0}) if g["params"]]
    parts = {"main": main(main_groups)} if main_groups else {}
    if neuron_params:
        parts["neuron"] = neuron(neuron_params)
    if not parts:
        raise ValueError("optimizer got an empty parameter list")
    return OptimizerSet(parts, constant_lr=("neuron",) if "neuron" in parts else ())


split_optimizer.weights_part = "main"    # the composition contract (snn_methods/compat.py): who trains weights


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


decay_weights_only.weights_part = "optimizer"
