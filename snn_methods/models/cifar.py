"""The 6-conv-2-FC CIFAR-10 net of Grad R and STDS (spec pruning.md 2.2)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Sequence

import torch.nn as nn
from spikingjelly.activation_based import layer

from snn_methods.models.layers import FlattenSeq, SeqStem, SeqToANN, Voting, time_batch_norm
from snn_methods.models.registry import register_model


@register_model
def cifar10_6c2f(*, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
                 channels: int = 256, fc_hidden: int = 2048, voting: int = 10, bn_time: str = "merged",
                 num_dropout: int = 2, dropout: float = 0.5) -> nn.Module:
    """conv(in->C)+BN (static encoder) LIF | 5x [conv C->C + BN + LIF], MaxPool2 after conv3 and conv6 (on spikes)
    | Flatten, [Dropout], FC -> fc_hidden, LIF, [Dropout], FC -> num_classes*voting, LIF | voting.

    bn_time: `merged` (STDS, statistics over T*N) or `per_step` (Grad R). num_dropout: 1 (Grad R, before FC7)
    or 2 (STDS, before FC7 and FC8); SpikingJelly's multi-step Dropout keeps one mask for all T steps.
    """
    if num_dropout not in (0, 1, 2):
        from snn_methods.errors import ConfigError

        raise ConfigError(f"model.num_dropout={num_dropout!r} is invalid: must be 0, 1 or 2")
    c_in, h, w = input_shape

    def conv(c1: int, c2: int) -> nn.Module:
        return nn.Conv2d(c1, c2, kernel_size=3, padding=1, bias=False)

    def bn() -> nn.Module:
        return time_batch_norm(nn.BatchNorm2d(channels), bn_time)

    layers: dict[str, nn.Module] = {"conv1": SeqStem(conv(c_in, channels), nn.BatchNorm2d(channels)), "sn1": neuron()}
    for k in range(2, 7):
        layers.update({f"conv{k}": SeqToANN(conv(channels, channels)), f"bn{k}": bn(), f"sn{k}": neuron()})
        if k in (3, 6):
            layers[f"pool{k}"] = SeqToANN(nn.MaxPool2d(2))
    layers["flatten"] = FlattenSeq()
    if num_dropout >= 1:
        layers["dropout7"] = layer.Dropout(dropout, step_mode="m")
    layers.update(fc7=nn.Linear(channels * (h // 4) * (w // 4), fc_hidden, bias=False), sn7=neuron())
    if num_dropout == 2:
        layers["dropout8"] = layer.Dropout(dropout, step_mode="m")
    layers.update(fc8=nn.Linear(fc_hidden, num_classes * voting, bias=False), sn8=neuron(), voting=Voting(voting))
    return nn.Sequential(OrderedDict(layers))
