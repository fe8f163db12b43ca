"""Model registry (timm style): `@register_model` functions, `create_model(name, **kw)`, `list_models(pattern)`.

Every model takes `neuron` (a factory called once per spiking layer), `num_classes` and `input_shape`
(the per-sample shape without time, e.g. (3, 32, 32)), maps [T, N, *input_shape] to [T, N, num_classes],
and uses multi-step modules.
"""
from __future__ import annotations

import fnmatch
import logging
from typing import Any, Callable, Sequence

import torch.nn as nn

from snn_methods.errors import ConfigError

log = logging.getLogger(__name__)

_MODELS: dict[str, Callable[..., nn.Module]] = {}

# Old name -> registered name. Models written for one paper carry its method in their name; these are the names
# they had before, kept so that command lines and the configs saved in older checkpoints still build the same model.
ALIASES: dict[str, str] = {
    "resnet19": "asgl_resnet19",
    "vggsnn2": "asgl_vggsnn",
    "preact_resnet18": "dsr_preact_resnet18",
    "preact_resnet18_imagenet": "dsr_preact_resnet18_imagenet",
    "vggsnn_cifar": "ratebp_vggsnn_cifar",
    "vggsnn_dvs": "ratebp_vggsnn_dvs",
}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    if fn.__name__ in _MODELS or fn.__name__ in ALIASES:
        raise ValueError(f"model {fn.__name__!r} is registered twice")
    _MODELS[fn.__name__] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def default_neuron() -> nn.Module:
    """LIF tau 2, ATan(2), hard reset, detached reset: the pruning seeds' neuron (for notebooks and tests)."""
    from spikingjelly.activation_based import neuron, surrogate

    return neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(), detach_reset=True, step_mode="m")


def resolve_name(name: str) -> str:
    """The registered name of `name` (an old name is logged as deprecated)."""
    if name in ALIASES:
        log.warning("model %r is now called %r: the old name still works but is deprecated", name, ALIASES[name])
        return ALIASES[name]
    return name


def create_model(name: str, *, num_classes: int, input_shape: Sequence[int],
                 neuron: Callable[..., nn.Module] | None = None, **kwargs: Any) -> nn.Module:
    name = resolve_name(name)
    if name not in _MODELS:
        raise ConfigError(f"model.name={name!r} is not a registered model: choose one of {', '.join(list_models())}")
    return _MODELS[name](neuron=neuron or default_neuron, num_classes=int(num_classes),
                         input_shape=tuple(int(s) for s in input_shape), **kwargs)
