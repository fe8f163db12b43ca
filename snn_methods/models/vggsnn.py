"""The VGGSNN of rate-BP (spec ratebp.md section 7), multi-step: conv3x3 (bias) BN neuron blocks with average
pooling (on spikes), one Linear classifier, conv and linear weights ~ N(0, 0.5^2), biases 0 (the original's init).

    ratebp_vggsnn_cifar: 64, 128, A, 256, 256, A, 512, 512, A, 512, 512, AdaptiveAvgPool(3x3), Linear(4608 -> K)
    ratebp_vggsnn_dvs:   64, 128, A, 256, 256, A, 512, 512, A, 512, 512, A,                    Linear(512 * 3 * 3 -> K)
                         (48x48 event frames: 48 -> 24 -> 12 -> 6 -> 3)

A pool that would shrink the map below 1x1 (small inputs such as 8x8 digits) is left out, and the classifier is
sized from the map that remains.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Sequence

import torch.nn as nn

from snn_methods.models.layers import FlattenSeq, SeqStem, SeqToANN
from snn_methods.models.registry import register_model

CIFAR = [64, 128, "A", 256, 256, "A", 512, 512, "A", 512, 512, "P3"]
DVS = [64, 128, "A", 256, 256, "A", 512, 512, "A", 512, 512, "A"]


def _vggsnn(plan: Sequence[int | str], neuron: Callable[..., nn.Module], num_classes: int,
            input_shape: Sequence[int], init_std: float) -> nn.Sequential:
    c_in, (h, w) = input_shape[0], input_shape[1:]
    layers: dict[str, nn.Module] = {}
    k = 0
    for v in plan:
        if v == "A":
            if min(h, w) >= 2:
                layers[f"pool{k}"] = SeqToANN(nn.AvgPool2d(2))
                h, w = h // 2, w // 2
            continue
        if v == "P3":
            layers["pool"] = SeqToANN(nn.AdaptiveAvgPool2d(3))
            h = w = 3
            continue
        k += 1
        block = [nn.Conv2d(c_in, v, kernel_size=3, padding=1, bias=True), nn.BatchNorm2d(v)]
        layers[f"conv{k}"] = SeqStem(*block) if k == 1 else SeqToANN(*block)
        layers[f"sn{k}"] = neuron()
        c_in = v
    layers.update(flatten=FlattenSeq(), fc=nn.Linear(c_in * h * w, num_classes))
    model = nn.Sequential(OrderedDict(layers))
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, init_std)
            nn.init.zeros_(m.bias)
    return model


@register_model
def ratebp_vggsnn_cifar(*, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
                 init_std: float = 0.5) -> nn.Module:
    """9,686,884 parameters for 100 classes (3x32x32)."""
    return _vggsnn(CIFAR, neuron, num_classes, input_shape, init_std)


@register_model
def ratebp_vggsnn_dvs(*, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
               init_std: float = 0.5) -> nn.Module:
    """9,271,498 parameters for 10 classes (2x48x48 event frames)."""
    return _vggsnn(DVS, neuron, num_classes, input_shape, init_std)
