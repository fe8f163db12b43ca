"""Backpropagation through time with surrogate gradients: autograd through all T steps."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from snn_methods.engine.losses import rate
from snn_methods.engine.precision import Precision
from snn_methods.rules.base import StepOutput


class BPTT:
    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], precision: Precision) -> StepOutput:
        with precision.autocast():
            out = model(x)
            loss = loss_fn(out, y)
        precision.backward(loss)
        return StepOutput(loss.detach(), rate(out.detach()))
