"""SpikingJelly's SEW-ResNets (Fang et al., NeurIPS 2021) in multi-step mode, with the STDS repository's static
stem (spec pruning.md 2.3): conv7x7/2 + BN run once per sample on the image (direct encoding) instead of on T
repeated copies. The forward is the same; BN's running variance then sees the N images once, as the original,
and the stem costs 1/T. Its conv is a plain nn.Conv2d, so pruning and reparameterisation apply to it as to every
other conv."""
from __future__ import annotations

from typing import Callable, Sequence

import torch.nn as nn

from snn_methods.models.layers import SeqStem
from snn_methods.models.registry import register_model


def _sew(depth: int, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
         cnf: str, zero_init_residual: bool, static_stem: bool) -> nn.Module:
    from spikingjelly.activation_based import functional, layer
    from spikingjelly.activation_based.model import sew_resnet

    if cnf not in ("ADD", "AND", "IAND"):
        from snn_methods.errors import ConfigError

        raise ConfigError(f"model.cnf={cnf!r} is invalid: must be ADD, AND or IAND")
    build = {18: sew_resnet.sew_resnet18, 34: sew_resnet.sew_resnet34}[depth]
    model = build(cnf=cnf, spiking_neuron=neuron, num_classes=num_classes, zero_init_residual=zero_init_residual)
    if zero_init_residual and cnf == "AND":
        # the original also sets the last BN's bias to 1 with AND (an all-ones branch keeps the identity);
        # SpikingJelly's zoo only zeroes its weight
        for block in model.modules():
            if isinstance(block, sew_resnet.BasicBlock):
                nn.init.constant_(block.bn2.bias, 1)
    if static_stem:
        conv = nn.Conv2d(input_shape[0], 64, kernel_size=7, stride=2, padding=3, bias=False)
        model.conv1, model.bn1 = SeqStem(conv, nn.BatchNorm2d(64)), nn.Identity()
    elif input_shape[0] != 3:  # the zoo's stem is RGB; keep its shape otherwise
        conv = model.conv1 = layer.Conv2d(input_shape[0], 64, kernel_size=7, stride=2, padding=3, bias=False)
    else:
        conv = None
    if conv is not None:  # the zoo's init of every conv
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    functional.set_step_mode(model, "m")
    return model


@register_model
def sew_resnet18(*, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
                 cnf: str = "ADD", zero_init_residual: bool = False, static_stem: bool = True) -> nn.Module:
    return _sew(18, neuron, num_classes, input_shape, cnf, zero_init_residual, static_stem)


@register_model
def sew_resnet34(*, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
                 cnf: str = "ADD", zero_init_residual: bool = False, static_stem: bool = True) -> nn.Module:
    return _sew(34, neuron, num_classes, input_shape, cnf, zero_init_residual, static_stem)
