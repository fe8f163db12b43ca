"""The protocol the engine calls once per training batch."""
from __future__ import annotations

import dataclasses
from typing import Callable, Protocol

import torch
import torch.nn as nn

from snn_methods.precision import Precision


@dataclasses.dataclass
class StepOutput:
    loss: torch.Tensor      # detached scalar
    logits: torch.Tensor    # detached [N, C] decoded output (time average), for the training accuracy


class GradientRule(Protocol):
    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], precision: Precision) -> StepOutput:
        """Forward [T, N, ...] input, compute the loss, leave gradients in `.grad` (the engine zeroes them first,
        resets neuron states around the call and steps the optimizer after)."""
        ...
