"""ASGL's CIFAR and DVS networks (spec dsr_asgl.md B.6), for any neuron: [T, N, C, H, W] -> [T, N, classes].

asgl_resnet18   ResNetX(18): conv3x3(64) + BN + neuron, BasicBlocks [2, 2, 2, 2] (64, 128, 256, 512), global
                average pool, Linear(512, classes) per time step (the loss averages over T: ASGL's Readout).
asgl_resnet19   conv3x3(128) + BN + neuron, BasicBlocks [3, 3, 2] (128, 256, 512), global average pool,
                Linear(512, 256, no bias) + neuron + Linear(256, classes, no bias).
asgl_vggsnn     8 x [conv3x3 + BN + neuron] with AvgPool2 after the 2nd, 4th, 6th and 8th, Linear per time step
                (the DVS main's per-step logits, trained with TET); weights N(0, 0.5^2), biases 0.

BasicBlock: y = neuron( BN(conv3x3( neuron(BN(conv3x3_s(x))) )) + shortcut(x) ), shortcut = conv1x1_s + BN when the
stride or the width changes, else x itself (the previous block's output: spikes * theta).
`bn_type` (B.5): tdbn | bntt | per_step | none (see models.layers.batch_norm_2d). The ResNets keep PyTorch's default
initialisation (ASGL sets none). The first conv runs once on a directly encoded (broadcast) input; its BatchNorm
still sees the T copies, as in the original.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Sequence

import torch
import torch.nn as nn

from snn_methods.models.layers import FlattenSeq, SeqStem, SeqToANN, batch_norm_2d
from snn_methods.models.registry import register_model

Neuron = Callable[..., nn.Module]


def _conv3x3(c_in: int, c_out: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=bias)


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, neuron: Neuron, bn: Callable[[int], nn.Module]):
        super().__init__()
        self.conv1, self.bn1, self.sn1 = SeqToANN(_conv3x3(c_in, c_out, stride)), bn(c_out), neuron()
        self.conv2, self.bn2 = SeqToANN(_conv3x3(c_out, c_out)), bn(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(SeqToANN(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)), bn(c_out))
        self.sn2 = neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.sn1(self.bn1(self.conv1(x)))
        return self.sn2(self.bn2(self.conv2(h)) + self.shortcut(x))


def _resnet(neuron: Neuron, input_shape: Sequence[int], stem: int, stages: Sequence[tuple[int, int, int]],
            bn_type: str, T: int) -> OrderedDict:
    """stem + stages of (blocks, width, first stride) + global average pool + flatten."""
    def bn(c: int) -> nn.Module:
        return batch_norm_2d(bn_type, c, T)

    layers: OrderedDict[str, nn.Module] = OrderedDict(
        conv0=SeqStem(_conv3x3(input_shape[0], stem)), bn0=bn(stem), sn0=neuron())
    c_in = stem
    for i, (blocks, width, stride) in enumerate(stages, start=1):
        layers[f"layer{i}"] = nn.Sequential(*(BasicBlock(c_in if b == 0 else width, width, stride if b == 0 else 1,
                                                         neuron, bn) for b in range(blocks)))
        c_in = width
    layers.update(pool=SeqToANN(nn.AdaptiveAvgPool2d(1)), flatten=FlattenSeq())
    return layers


def _stage_widths(widths: Sequence[int], n: int, name: str) -> list[int]:
    if len(widths) != n or not all(isinstance(w, int) and w > 0 for w in widths):
        from snn_methods.errors import ConfigError

        raise ConfigError(f"model.widths={list(widths)!r} is invalid for {name}: must be {n} positive integers")
    return list(widths)


@register_model
def asgl_resnet18(*, neuron: Neuron, num_classes: int, input_shape: Sequence[int], bn_type: str = "tdbn",
                  widths: Sequence[int] = (64, 128, 256, 512), T: int = 1) -> nn.Module:
    """ASGL's ResNetX(18) (B.6.1): 17 spiking layers; 11,220,132 weights for 100 classes. `widths`: channels of the
    four stages (the stem has the first); `T` is needed by bn_type=bntt only (one BatchNorm per step)."""
    w = _stage_widths(widths, 4, "asgl_resnet18")
    layers = _resnet(neuron, input_shape, w[0], [(2, w[0], 1), (2, w[1], 2), (2, w[2], 2), (2, w[3], 2)], bn_type, T)
    layers["fc"] = nn.Linear(w[3], num_classes)
    return nn.Sequential(layers)


@register_model
def asgl_resnet19(*, neuron: Neuron, num_classes: int, input_shape: Sequence[int], bn_type: str = "tdbn",
             widths: Sequence[int] = (128, 256, 512), hidden: int = 256, T: int = 1) -> nn.Module:
    """ASGL's ResNet-19 (B.6.1): 18 spiking layers; 12,697,728 weights for 10 classes. `widths`: channels of the
    three stages (the stem has the first); `hidden`: the spiking fully connected layer."""
    w = _stage_widths(widths, 3, "asgl_resnet19")
    layers = _resnet(neuron, input_shape, w[0], [(3, w[0], 1), (3, w[1], 2), (2, w[2], 2)], bn_type, T)
    layers.update(fc1=nn.Linear(w[2], hidden, bias=False), sn_fc1=neuron(),
                  fc2=nn.Linear(hidden, num_classes, bias=False))
    return nn.Sequential(layers)


VGGSNN2_CFG = (64, 128, "A", 256, 256, "A", 512, 512, "A", 512, 512, "A")


@register_model
def asgl_vggsnn(*, neuron: Neuron, num_classes: int, input_shape: Sequence[int], bn_type: str = "tdbn",
            bias: bool = False, init_std: float | None = 0.5, T: int = 1) -> nn.Module:
    """ASGL's VGGSNN2 (B.6.2) for 2 x 48 x 48 DVS frames (any input of at least 16 x 16): 8 spiking layers;
    9,268,736 weights with tdbn and no bias. init_std: conv / linear weights N(0, init_std^2), biases 0
    (null: PyTorch's default initialisation)."""
    c_in, h, w = input_shape
    if h < 16 or w < 16:
        from snn_methods.errors import ConfigError

        raise ConfigError(f"model=asgl_vggsnn pools 4 times by 2: it needs inputs of at least 16x16, got {h}x{w}")
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    k = 0
    for item in VGGSNN2_CFG:
        if item == "A":
            layers[f"pool{k}"] = SeqToANN(nn.AvgPool2d(2, 2))
            h, w = h // 2, w // 2
            continue
        k += 1
        conv = _conv3x3(c_in, item, bias=bias)
        layers[f"conv{k}"] = SeqStem(conv) if k == 1 else SeqToANN(conv)
        layers[f"bn{k}"], layers[f"sn{k}"] = batch_norm_2d(bn_type, item, T), neuron()
        c_in = item
    layers.update(flatten=FlattenSeq(), fc=nn.Linear(c_in * h * w, num_classes, bias=bias))
    model = nn.Sequential(layers)
    if init_std is not None:
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, init_std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    return model
