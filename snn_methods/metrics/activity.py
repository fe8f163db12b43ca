"""Firing rates of the spiking layers, measured with forward hooks while a data set is evaluated."""
from __future__ import annotations

import torch
import torch.nn as nn

from snn_methods.metrics.hooks import HookProbe
from snn_methods.neurons import spiking_neurons


class FiringRateProbe(HookProbe):
    """Firing rate of a layer = fraction of its neuron-steps with a non-zero output (neurons that scale their
    spikes, e.g. DSR's v_th * spike, count as spiking). The mean is over all neuron-steps of all layers.

    Use as a context manager around an evaluation loop; hooks are removed on exit."""

    def __init__(self, model: nn.Module):
        super().__init__(model)
        self.spikes: dict[str, float] = {}
        self.steps: dict[str, int] = {}

    def layers(self):
        return spiking_neurons(self.model)

    def _start(self, name: str) -> None:
        self.spikes[name], self.steps[name] = 0.0, 0

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            out = output[0] if isinstance(output, (tuple, list)) else output
            self.spikes[name] += float((out != 0).sum())
            self.steps[name] += out.numel()
        return hook

    def rates(self) -> dict[str, float]:
        return {n: self.spikes[n] / self.steps[n] for n in self.spikes if self.steps[n]}

    def mean(self) -> float | None:
        total = sum(self.steps.values())
        return sum(self.spikes.values()) / total if total else None
