"""Fully connected SNNs."""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Callable, Sequence

import torch.nn as nn

from snn_methods.models.layers import FlattenSeq, SeqStem
from snn_methods.models.registry import register_model


@register_model
def mlp(*, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
        hidden: Sequence[int] = (256,), bias: bool = True) -> nn.Module:
    """Flatten -> [Linear -> neuron] per hidden width -> Linear -> neuron; sized from the data set."""
    widths = [math.prod(input_shape), *hidden, num_classes]
    layers: dict[str, nn.Module] = {"flatten": FlattenSeq()}
    for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        linear = nn.Linear(w_in, w_out, bias=bias)
        layers[f"fc{i}"] = SeqStem(linear) if i == 1 else linear  # the first layer sees the static input
        layers[f"sn{i}"] = neuron()
    return nn.Sequential(OrderedDict(layers))


@register_model
def mnist_fc800(*, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
                hidden: int = 800) -> nn.Module:
    """Grad R's MNIST net (spec pruning.md 2.1): Linear(784, 800, no bias) computed once (static encoder),
    LIF, Linear(800, 10, no bias), LIF. The output spikes, averaged over T, are the rates."""
    return nn.Sequential(OrderedDict(
        flatten=FlattenSeq(),
        fc1=SeqStem(nn.Linear(math.prod(input_shape), hidden, bias=False)), sn1=neuron(),
        fc2=nn.Linear(hidden, num_classes, bias=False), sn2=neuron(),
    ))
