"""Optimizer factories for configs whose recipe treats parameter kinds differently."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch


def decay_weights_only(params: Iterable[Any], *, optimizer: Callable[..., torch.optim.Optimizer],
                       weight_decay: float, **kwargs: Any) -> torch.optim.Optimizer:
    """`optimizer` with weight decay on conv / linear weights only (tensors with 2 or more dims); BatchNorm scales and
    shifts and all biases (1-dim tensors) get none, as rate-BP's `split_params` does. Parameter dicts (param groups)
    are passed through unchanged."""
    params = list(params)
    if params and isinstance(params[0], dict):
        return optimizer(params, weight_decay=weight_decay, **kwargs)
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return optimizer([g for g in groups if g["params"]], **kwargs)
