"""Model registry (timm style): `@register_model` functions, `create_model(name, **kw)`, `list_models(pattern)`.

Every model takes `neuron` (a factory called once per spiking layer), `num_classes` and `input_shape`
(the per-sample shape without time, e.g. (3, 32, 32)), maps [T, N, *input_shape] to [T, N, num_classes],
and uses multi-step modules.
"""
from __future__ import annotations

import fnmatch
from typing import Any, Callable, Sequence

import torch.nn as nn

from snn_methods.errors import ConfigError

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    if fn.__name__ in _MODELS:
        raise ValueError(f"model {fn.__name__!r} is registered twice")
    _MODELS[fn.__name__] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def default_neuron() -> nn.Module:
    """LIF tau 2, ATan(2), hard reset, detached reset: the pruning seeds' neuron (for notebooks and tests)."""
    from spikingjelly.activation_based import neuron, surrogate

    return neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(), detach_reset=True, step_mode="m")


def create_model(name: str, *, num_classes: int, input_shape: Sequence[int],
                 neuron: Callable[..., nn.Module] | None = None, **kwargs: Any) -> nn.Module:
    if name not in _MODELS:
        raise ConfigError(f"model.name={name!r} is not a registered model: choose one of {', '.join(list_models())}")
    return _MODELS[name](neuron=neuron or default_neuron, num_classes=int(num_classes),
                         input_shape=tuple(int(s) for s in input_shape), **kwargs)
