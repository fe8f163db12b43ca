"""Spiking VGG."""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Sequence

import torch.nn as nn

from snn_methods.models.layers import FlattenSeq, SeqStem, SeqToANN
from snn_methods.models.registry import register_model

VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


@register_model
def spiking_vgg11(*, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
                  batch_norm: bool = True) -> nn.Module:
    """VGG-11 (configuration A): [conv3x3 -> BN -> neuron] blocks with max-pooling on spikes, then global average
    pooling and a Linear classifier giving per-step logits. Pools that would shrink the map below 1x1 (small
    inputs such as 8x8 digits) are left out."""
    c_in, size = input_shape[0], min(input_shape[1:])
    layers: dict[str, nn.Module] = {}
    k = 0
    for v in VGG11:
        if v == "M":
            if size >= 2:
                layers[f"pool{k}"] = SeqToANN(nn.MaxPool2d(2))
                size //= 2
            continue
        k += 1
        block = [nn.Conv2d(c_in, v, kernel_size=3, padding=1, bias=not batch_norm)]
        if batch_norm:
            block.append(nn.BatchNorm2d(v))
        layers[f"conv{k}"] = SeqStem(*block) if k == 1 else SeqToANN(*block)
        layers[f"sn{k}"] = neuron()
        c_in = v
    layers.update(avgpool=SeqToANN(nn.AdaptiveAvgPool2d(1)), flatten=FlattenSeq(), fc=nn.Linear(c_in, num_classes))
    return nn.Sequential(OrderedDict(layers))
