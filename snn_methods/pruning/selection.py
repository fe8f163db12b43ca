"""The suite's one rule for what can be pruned: the weights of Conv and Linear layers (not biases, not BN).

Connectivity (metrics) and every pruning method use this rule; a method's exceptions (e.g. STDS leaving the
ImageNet classifier dense) are config switches that filter this list, never a second rule."""
from __future__ import annotations

from typing import Iterator

import torch.nn as nn

PRUNABLE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def prunable_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    for name, module in model.named_modules():
        if isinstance(module, PRUNABLE_TYPES):
            yield name, module
