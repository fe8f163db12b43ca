"""The suite's one rule for what can be pruned: the weights of Conv and Linear layers (not biases, not BN).

Connectivity (metrics) and every pruning method use this rule; a method's exceptions (e.g. STDS leaving the
ImageNet classifier dense) are config switches that filter this list (`exclude_layers`, patterns on module
names), never a second rule. An excluded layer is neither pruned nor counted in connectivity.
"""
from __future__ import annotations

import fnmatch
from typing import Iterable, Iterator

import torch.nn as nn

PRUNABLE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
EXCLUDED = "snn_not_prunable"   # module attribute set by exclude_layers


def prunable_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    for name, module in model.named_modules():
        if isinstance(module, PRUNABLE_TYPES) and not getattr(module, EXCLUDED, False):
            yield name, module


def exclude_layers(model: nn.Module, patterns: Iterable[str]) -> list[str]:
    """Mark the prunable layers whose module name matches one of `patterns` (fnmatch, e.g. `fc`, `layer4.*`)
    as not prunable; return their names. A pattern that matches no prunable layer is an error (a typo)."""
    from snn_methods.errors import ConfigError

    layers = list(prunable_layers(model))
    excluded: list[str] = []
    for pattern in patterns:
        hits = [name for name, _ in layers if fnmatch.fnmatchcase(name, pattern)]
        if not hits:
            raise ConfigError(f"pruning.exclude pattern {pattern!r} matches no prunable layer: the model's prunable "
                              f"layers are {', '.join(n for n, _ in layers) or 'none'}")
        excluded += [h for h in hits if h not in excluded]
    for name, module in layers:
        if name in excluded:
            setattr(module, EXCLUDED, True)
    return excluded
