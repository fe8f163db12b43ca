"""The ImageNet pre-activation spiking ResNet-34 of rate-BP (spec ratebp.md section 7), multi-step.

Stem conv7x7 /2 BN maxpool3 /2 (no neuron: the stem sees the static image once); block = neuron conv3x3 BN neuron
conv3x3 BN, + shortcut of the block's un-spiked input (identity, or conv1x1 /s BN); average pool; Linear.
Convolutions have a bias; Kaiming-normal (fan_out) conv init. Not the DSR PreAct-ResNet (which spikes the
shortcut): a model of its own.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn as nn

from snn_methods.models.layers import FlattenSeq, SeqStem, SeqToANN
from snn_methods.models.registry import register_model


class PreActBlock(nn.Module):
    def __init__(self, c_in: int, planes: int, stride: int, neuron: Callable[..., nn.Module]):
        super().__init__()
        self.sn1 = neuron()
        self.branch1 = SeqToANN(nn.Conv2d(c_in, planes, 3, stride=stride, padding=1), nn.BatchNorm2d(planes))
        self.sn2 = neuron()
        self.branch2 = SeqToANN(nn.Conv2d(planes, planes, 3, padding=1), nn.BatchNorm2d(planes))
        self.shortcut = (SeqToANN(nn.Conv2d(c_in, planes, 1, stride=stride), nn.BatchNorm2d(planes))
                         if stride != 1 or c_in != planes else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branch2(self.sn2(self.branch1(self.sn1(x)))) + self.shortcut(x)


@register_model
def ratebp_preact_resnet34(*, neuron: Callable[..., nn.Module], num_classes: int,
                           input_shape: Sequence[int]) -> nn.Module:
    layers: list[nn.Module] = [SeqStem(nn.Conv2d(input_shape[0], 64, 7, stride=2, padding=3), nn.BatchNorm2d(64),
                                       nn.MaxPool2d(3, stride=2, padding=1))]
    c_in = 64
    for planes, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for i in range(blocks):
            layers.append(PreActBlock(c_in, planes, stride if i == 0 else 1, neuron))
            c_in = planes
    layers += [SeqToANN(nn.AdaptiveAvgPool2d(1)), FlattenSeq(), nn.Linear(512, num_classes)]
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return model
