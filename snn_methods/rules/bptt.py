"""Backpropagation through time with surrogate gradients: autograd through all T steps."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from snn_methods.losses import rate
from snn_methods.precision import Precision
from snn_methods.rules.base import StepOutput
from snn_methods.rules.stepping import forward_steps


class BPTT:
    """step_mode 'm' (default): the model sees [T, N, ...] in one call; 's': one time step per call (see
    `forward_steps`), which changes only what a BatchNorm normalises with (per-step instead of T*N statistics)."""

    def __init__(self, step_mode: str = "m"):
        self.step_mode = step_mode

    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], precision: Precision) -> StepOutput:
        with precision.autocast():
            out = forward_steps(model, x, self.step_mode)
            loss = loss_fn(out, y)
        precision.backward(loss)
        return StepOutput(loss.detach(), rate(out.detach()))


class NeuronBackward(BPTT):
    """Plain autograd through neurons that define their own backward: DSR's, which differentiates the spike
    representation (no surrogate, no gradient through time). The forward and backward calls are BPTT's; what this
    class adds is the declaration that neurons without such a backward would silently turn it into BPTT."""

    needs_own_backward = True   # the composition contract (snn_methods/compat.py)
