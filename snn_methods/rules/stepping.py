"""How a gradient rule feeds a [T, N, ...] input to a multi-step model: in one call, or one time step at a time."""
from __future__ import annotations

from typing import Callable, Iterator

import torch
import torch.nn as nn

STEP_MODES = ("m", "s")


def forward_steps(model: nn.Module, x: torch.Tensor, step_mode: str,
                  call: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """'m': one call on [T, N, ...]. 's': T calls on [1, N, ...] without a reset in between, so every neuron carries
    its state from step to step and every stateless layer (BatchNorm included) sees one time step per call, as the
    originals' single-step loops do; the per-step outputs are concatenated to [T, N, C].

    This is single-step simulation of the suite's multi-step models: their folding wrappers (SeqToANN, SeqStem)
    need the time axis, so the step is a length-1 time axis rather than SpikingJelly's 's' mode tensors [N, ...].
    `call(model, x)` runs the model (default: model(x)).
    """
    call = call or nn.Module.__call__
    if step_mode == "m":
        return call(model, x)
    if step_mode == "s":
        return torch.cat([call(model, x[t:t + 1]) for t in range(x.shape[0])])
    from snn_methods.errors import ConfigError

    raise ConfigError(f"method.step_mode={step_mode!r} is invalid: must be m or s")


def _hooked(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks)


def _chain(model: nn.Sequential) -> Iterator[nn.Module]:
    """The layers a Sequential runs, nested Sequentials (without hooks) opened up."""
    for module in model:
        if type(module) is nn.Sequential and not _hooked(module):
            yield from _chain(module)
        else:
            yield module


def call_releasing_inputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """model(x), for an nn.Sequential run as one loop over its layers with nested Sequentials opened up, so that
    each layer's input is released as soon as the layer has returned. Called as such, a nested Sequential keeps its
    input alive until it returns (its caller's frame holds it): one more [T, N, ...] tensor for every level, which
    a no-grad pass, holding nothing else, notices. The result is model(x) exactly; a model of another type, or a
    Sequential with hooks, is simply called."""
    if type(model) is not nn.Sequential or _hooked(model) or nn.modules.module._global_forward_hooks \
            or nn.modules.module._global_forward_pre_hooks:
        return model(x)
    for module in _chain(model):
        x = module(x)
    return x
