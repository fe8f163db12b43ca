"""The CIFAR ResNet-18 / ResNet-19 of rate-BP (spec ratebp.md section 7), multi-step, default PyTorch init.

BasicBlock(in, p, s): conv3x3(in->p, s) BN neuron conv3x3(p->p) BN, + shortcut, neuron; the shortcut is the
identity, or conv1x1(in->p, s) BN when the shape changes. Convolutions have no bias. The stem conv3x3 + BN sees
the static image once (SeqStem); the first neuron acts as the encoder.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn as nn

from snn_methods.models.layers import FlattenSeq, SeqStem, SeqToANN
from snn_methods.models.registry import register_model


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out)]


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, planes: int, stride: int, neuron: Callable[..., nn.Module]):
        super().__init__()
        self.branch1 = SeqToANN(*conv_bn(c_in, planes, 3, stride))
        self.sn1 = neuron()
        self.branch2 = SeqToANN(*conv_bn(planes, planes, 3))
        self.shortcut = (SeqToANN(*conv_bn(c_in, planes, 1, stride)) if stride != 1 or c_in != planes
                         else nn.Identity())
        self.sn2 = neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sn2(self.branch2(self.sn1(self.branch1(x))) + self.shortcut(x))


def _stage(c_in: int, planes: int, blocks: int, stride: int, neuron: Callable[..., nn.Module]) -> nn.Sequential:
    layers = [BasicBlock(c_in, planes, stride, neuron)]
    layers += [BasicBlock(planes, planes, 1, neuron) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def _resnet(stages: Sequence[tuple[int, int, int]], stem: int, head: list[nn.Module], neuron: Callable[..., nn.Module],
            input_shape: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = [SeqStem(*conv_bn(input_shape[0], stem, 3)), neuron()]
    c_in = stem
    for planes, blocks, stride in stages:
        layers.append(_stage(c_in, planes, blocks, stride, neuron))
        c_in = planes
    layers += [SeqToANN(nn.AdaptiveAvgPool2d(1)), FlattenSeq(), *head]
    return nn.Sequential(*layers)


@register_model
def ratebp_resnet18(*, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int]) -> nn.Module:
    """Stem 64; stages 2x64, 2x128 /2, 2x256 /2, 2x512 /2; average pool; Linear(512 -> K). 17 neurons, 20 BNs,
    11,173,962 parameters for 10 classes."""
    stages = [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)]
    return _resnet(stages, 64, [nn.Linear(512, num_classes)], neuron, input_shape)


@register_model
def ratebp_resnet19(*, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int]) -> nn.Module:
    """Stem 128; stages 3x128, 3x256 /2, 2x512 /2; average pool; Linear(512 -> 256) neuron Linear(256 -> K).
    18 neurons, 19 BNs, 12,697,994 parameters for 10 classes."""
    stages = [(128, 3, 1), (256, 3, 2), (512, 2, 2)]
    return _resnet(stages, 128, [nn.Linear(512, 256), neuron(), nn.Linear(256, num_classes)], neuron, input_shape)
