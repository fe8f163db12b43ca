"""ASGL's hybrid spike (Wang et al., ICML 2023; spec dsr_asgl.md B.1-B.2): a surrogate module that any neuron
calling `surrogate_function(v - threshold)` can use (SpikingJelly's LIF / IF / PLIF, or ASGL's own LIF).

Forward in training: where the noise mask says *spike* (probability 1 - p) the Heaviside step 1[x >= 0], where it
says *analog* (probability p) the smooth function H(x); the mask is drawn afresh, elementwise, at every call (so
every time step of every layer). Backward: h = dH/dx for every element, spike or analog; the width parameter of H
gets its gradient from every element too. Evaluation is a pure SNN (Heaviside spikes only).

The smooth functions (spec B.1), with the width w (the README's alpha) stored as the original stores it:
  mns_sig  H(x) = sigmoid(k x),                 k = 1 / w      parameter `slope` (k)
  mns_rec  H(x) = clamp(e^a x + 1/2, 0, 1),     a = -ln w      parameter `log_slope` (a); its gradient passes on the
                                                                 closed interval e^a x + 1/2 in [0, 1] (bounds included)
Granularity of the width: `layer` (one scalar), `channel` (one per channel: dim 1 of the per-step input, shape
(1, C, 1, ...); a [N, features] input has no channels and gets one scalar, as in the original), `neuron` (one per
neuron, shared over the batch). `channel` and `neuron` are shaped on the first
forward call (torch's lazy-module protocol: an optimizer built before then still trains them, and loading a
checkpoint shapes them first).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn
from torch.nn.modules.lazy import LazyModuleMixin

from snn_methods.neurons.parameters import NeuronParameter, UninitializedNeuronParameter
from snn_methods.values import is_finite_number

SMOOTH_FUNCTIONS = ("mns_sig", "mns_rec")
GRANULARITIES = ("layer", "channel", "neuron")
# the stored parameter of each smooth function, and its value for a width w
_STORED = {"mns_sig": ("slope", lambda w: 1.0 / w), "mns_rec": ("log_slope", lambda w: -math.log(w))}


def check_hybrid_args(smooth: str, width: float, granularity: str, p: float) -> None:
    """ValueError naming the argument (the config layer reports the same with the config key first)."""
    if smooth not in SMOOTH_FUNCTIONS:
        raise ValueError(f"smooth function {smooth!r} does not exist: choose one of {', '.join(SMOOTH_FUNCTIONS)}")
    if not (is_finite_number(width) and width > 0):
        raise ValueError(f"width={width!r} is invalid: must be a number > 0")
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity={granularity!r} is invalid: must be one of {', '.join(GRANULARITIES)}")
    check_noise_probability(p)


def check_noise_probability(p: float) -> None:
    if not (isinstance(p, (int, float)) and not isinstance(p, bool) and 0.0 <= p <= 1.0):
        raise ValueError(f"noise probability p={p!r} is invalid: must be in [0, 1]")


class HybridSpike(LazyModuleMixin, nn.Module):
    """ASGL's `EfficientNoisySpikeII` (spec B.2) with the learnable smooth functions of B.1.

    Args:
        smooth: mns_sig | mns_rec.
        width: initial width w > 0 (slope 1/w).
        train_width: the width is a NeuronParameter (trained) or a fixed buffer.
        granularity: layer | channel | neuron.
        p: probability that an element is analog (0 = plain surrogate gradient; 1 = all analog). The noise
            schedule of the ASGL method rewrites it between epochs (`snn_methods.asgl.set_noise_probability`).
    """

    cls_to_become = None   # keep the class after the lazy shapes are known

    def __init__(self, smooth: str = "mns_sig", width: float = 1.0, train_width: bool = True,
                 granularity: str = "layer", p: float = 0.0):
        super().__init__()
        check_hybrid_args(smooth, width, granularity, p)
        self.smooth, self.granularity, self.train_width, self.p = smooth, granularity, bool(train_width), float(p)
        self.param_name, to_stored = _STORED[smooth]
        self.init_value = to_stored(float(width))
        # tests (and studies of the mask) may replace the Bernoulli draw: x -> mask of x's shape (1 spike, 0 analog)
        self.draw_mask: Callable[[torch.Tensor], torch.Tensor] | None = None
        if granularity == "layer":
            value = torch.full((1,), self.init_value)
            if self.train_width:
                self.register_parameter(self.param_name, NeuronParameter(value))
            else:
                self.register_buffer(self.param_name, value)
        elif self.train_width:
            self.register_parameter(self.param_name, UninitializedNeuronParameter())
        else:
            self.register_buffer(self.param_name, nn.UninitializedBuffer())

    # ---------------------------------------------------------------- lazy shapes (channel / neuron)
    def initialize_parameters(self, x: torch.Tensor) -> None:
        stored = getattr(self, self.param_name)
        if not isinstance(stored, (nn.UninitializedParameter, nn.UninitializedBuffer)):
            return
        if self.granularity == "channel":
            shape = (1, x.shape[1]) + (1,) * (x.dim() - 2) if x.dim() >= 3 else (1,)   # [N, F]: no channels
        else:
            shape = (1, *x.shape[1:])
        with torch.no_grad():   # float32 at least: under autocast x may be half, and a half parameter breaks AMP
            stored.materialize(shape, device=x.device, dtype=torch.promote_types(x.dtype, torch.float32))
            stored.fill_(self.init_value)

    # ---------------------------------------------------------------- the two functions of B.1
    def smooth_value(self, x: torch.Tensor) -> torch.Tensor:
        """H(x), differentiable in x and in the stored width parameter."""
        stored = getattr(self, self.param_name)
        if self.smooth == "mns_sig":
            return torch.sigmoid(stored * x)
        z = torch.exp(stored) * x + 0.5
        # clamp(z, 0, 1) with the gradient passing on the closed interval, as the original's autograd gave it
        # (torch 2.14's clamp gives a zero gradient at the bounds)
        return torch.where((z >= 0) & (z <= 1), z, z.detach().clamp(0.0, 1.0))

    def width(self) -> float:
        """The mean current width (1 / slope, or e^-a)."""
        stored = getattr(self, self.param_name).detach()
        return float((1.0 / stored if self.smooth == "mns_sig" else torch.exp(-stored)).mean())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spike = (x >= 0).to(x.dtype)
        if not self.training:
            return spike
        s = self.smooth_value(x)
        # the original's s + ((step - s) * mask).detach(), same floating-point operations, without building a graph
        # for the detached part: value = step where mask = 1, H where mask = 0; gradient = h everywhere
        if self.draw_mask is None and self.p == 0.0:
            return s + (spike - s.detach())
        mask = self.draw_mask(x) if self.draw_mask is not None else torch.bernoulli(torch.full_like(x, 1.0 - self.p))
        return s + (spike - s.detach()) * mask

    def extra_repr(self) -> str:
        lazy = isinstance(getattr(self, self.param_name), (nn.UninitializedParameter, nn.UninitializedBuffer))
        return (f"smooth={self.smooth}, width={'(not shaped yet)' if lazy else f'{self.width():.4g}'}, "
                f"train_width={self.train_width}, granularity={self.granularity}, p={self.p}")


def hybrid_spikes(model: nn.Module) -> list[HybridSpike]:
    return [m for m in model.modules() if isinstance(m, HybridSpike)]


def set_noise_probability(model: nn.Module, p: float) -> int:
    """Write p into every hybrid spike of `model`; returns how many there are."""
    check_noise_probability(p)
    found = hybrid_spikes(model)
    for module in found:
        module.p = float(p)
    return len(found)
