"""SpikingJelly's SEW-ResNets (Fang et al., NeurIPS 2021), used as they are, in multi-step mode."""
from __future__ import annotations

from typing import Callable, Sequence

import torch.nn as nn

from snn_methods.models.registry import register_model


def _sew(depth: int, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
         cnf: str, zero_init_residual: bool) -> nn.Module:
    from spikingjelly.activation_based import functional, layer
    from spikingjelly.activation_based.model import sew_resnet

    if cnf not in ("ADD", "AND", "IAND"):
        from snn_methods.errors import ConfigError

        raise ConfigError(f"model.cnf={cnf!r} is invalid: must be ADD, AND or IAND")
    build = {18: sew_resnet.sew_resnet18, 34: sew_resnet.sew_resnet34}[depth]
    model = build(cnf=cnf, spiking_neuron=neuron, num_classes=num_classes, zero_init_residual=zero_init_residual)
    if input_shape[0] != 3:  # the zoo's stem is RGB; keep its shape otherwise
        model.conv1 = layer.Conv2d(input_shape[0], 64, kernel_size=7, stride=2, padding=3, bias=False)
    functional.set_step_mode(model, "m")
    return model


@register_model
def sew_resnet18(*, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
                 cnf: str = "ADD", zero_init_residual: bool = False) -> nn.Module:
    return _sew(18, neuron, num_classes, input_shape, cnf, zero_init_residual)


@register_model
def sew_resnet34(*, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
                 cnf: str = "ADD", zero_init_residual: bool = False) -> nn.Module:
    return _sew(34, neuron, num_classes, input_shape, cnf, zero_init_residual)
