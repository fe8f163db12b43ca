"""Synaptic operations per sample, NeuroBench style, and a simple energy estimate.

For every Conv/Linear call during an evaluation:
  dense        = output elements x fan-in: every multiply-accumulate of the layer run as a dense ANN layer;
  effective    = products whose input AND weight are both non-zero (pruned weights and silent inputs cost nothing),
                 counted as ACs (accumulates) when the layer's input is binary (spikes) and as MACs otherwise
                 (the analog first layer, SEW's integer sums, DSR's scaled spikes).
Totals are summed over time steps and divided by the number of samples. A static first layer that runs once
per sample (direct encoding) is counted once, because it is computed once.

Energy (pJ) = E_MAC * effective MACs + E_AC * effective ACs, with 45 nm float32 costs (Horowitz, ISSCC 2014):
E_MAC = 4.6 pJ, E_AC = 0.9 pJ -- the constants most SNN papers use, and SpikingJelly's SimpleEnergyConfig defaults.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from snn_methods.metrics.hooks import HookProbe
from snn_methods.pruning.selection import prunable_layers

ENERGY_PJ = {"mac": 4.6, "ac": 0.9}

_CONV = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}


def _conv_fn(module: nn.Module):
    for cls, fn in _CONV.items():
        if isinstance(module, cls):
            return fn
    return None


class SynOpsProbe(HookProbe):
    """Context manager counting dense / effective AC / effective MAC operations of every Conv/Linear layer."""

    def __init__(self, model: nn.Module):
        super().__init__(model)
        self.dense = self.acs = self.macs = 0.0
        self.per_layer: dict[str, dict[str, float]] = {}
        self.samples = 0

    def layers(self):
        return prunable_layers(self.model)

    def _start(self, name: str) -> None:
        self.per_layer[name] = {"dense": 0.0, "acs": 0.0, "macs": 0.0}

    def add_samples(self, n: int) -> None:
        self.samples += n

    def _hook(self, name: str):
        @torch.no_grad()
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            x, w = inputs[0], module.weight
            with torch.autocast(x.device.type, enabled=False):
                nz_x = (x != 0).float()
                nz_w = (w != 0).float()
                conv = _conv_fn(module)
                if conv is None:  # Linear: products between non-zero inputs and non-zero weights
                    effective = float((nz_x.reshape(-1, nz_x.shape[-1]).sum(0) * nz_w.sum(0)).sum())
                else:
                    if nz_x.dim() == w.dim() + 1:  # a multi-step layer (SpikingJelly's layer.Conv2d): [T, N, ...]
                        nz_x = nz_x.flatten(0, 1)
                    effective = float(conv(nz_x, nz_w, None, module.stride, module.padding, module.dilation,
                                           module.groups).sum(dtype=torch.float64))
            dense = float(output.numel()) * w[0].numel()
            binary = bool(((x == 0) | (x == 1)).all())
            rec = self.per_layer[name]
            rec["dense"] += dense
            rec["acs" if binary else "macs"] += effective
            self.dense += dense
            if binary:
                self.acs += effective
            else:
                self.macs += effective
        return hook

    def per_sample(self) -> dict:
        n = max(self.samples, 1)
        acs, macs = self.acs / n, self.macs / n
        return {"dense": self.dense / n, "effective_acs": acs, "effective_macs": macs, "synops": acs + macs,
                "energy_pj": ENERGY_PJ["mac"] * macs + ENERGY_PJ["ac"] * acs,
                "layers": {k: {m: v / n for m, v in rec.items()} for k, rec in self.per_layer.items()}}
