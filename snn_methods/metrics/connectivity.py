"""Connectivity: the fraction of non-zero prunable weights (Conv/Linear weights; biases and BatchNorm excluded).

`with_bn` is Grad R's "with bn" variant: BatchNorm weights and biases are added to the denominator (they are
never counted as zeros), i.e. connectivity = 1 - zeros / (prunable weights + BN parameters).
The effective weight is read (`module.weight`), so reparameterised layers
(e.g. STDS) are measured by the weight the forward pass uses.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from snn_methods.pruning.selection import prunable_layers


@torch.no_grad()
def connectivity(model: nn.Module, zero_threshold: float = 0.0) -> dict:
    """{'total', 'with_bn', 'layers': {name: fraction}, 'nonzero', 'numel'}; a weight is zero if |w| <= zero_threshold."""
    layers, nonzero, numel = {}, 0, 0
    for name, module in prunable_layers(model):
        w = module.weight
        nz = int((w.abs() > zero_threshold).sum())
        layers[name] = nz / w.numel()
        nonzero, numel = nonzero + nz, numel + w.numel()
    bn = sum(p.numel() for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase)
             for p in (m.weight, m.bias) if p is not None)
    if numel == 0:
        return {"total": None, "with_bn": None, "layers": {}, "nonzero": 0, "numel": 0}
    zeros = numel - nonzero
    return {"total": nonzero / numel, "with_bn": 1 - zeros / (numel + bn), "layers": layers,
            "nonzero": nonzero, "numel": numel}
