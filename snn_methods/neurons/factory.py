"""Turning a `neuron/` config node into a factory that models call once per spiking layer."""
from __future__ import annotations

from typing import Any, Iterator

import torch.nn as nn
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf


FLOAT_ARGUMENTS = ("tau", "init_tau", "v_threshold", "v_reset")


class NeuronFactory:
    """`factory(**overrides)` builds one neuron module from the config node.

    A `surrogate` sub-node with a `_target_` is instantiated anew for every neuron (so a learnable surrogate is
    never shared between layers) and passed as `surrogate_function`, SpikingJelly's argument name. Any other
    `surrogate` value (e.g. ASGL's `mns_sig`) is passed through unchanged.
    """

    def __init__(self, node: DictConfig | dict):
        self.node = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
        if "_target_" not in self.node:
            raise ValueError("a neuron config needs a _target_")

    def __call__(self, **overrides: Any) -> nn.Module:
        # `backend` is the suite's choice of kernel (neurons/backends.py), not a constructor argument
        kwargs = {k: v for k, v in self.node.items() if k not in ("_partial_", "backend")}
        for key in FLOAT_ARGUMENTS:  # SpikingJelly 2.0 asserts float types: `neuron.tau=2` must not crash
            if isinstance(kwargs.get(key), int) and not isinstance(kwargs[key], bool):
                kwargs[key] = float(kwargs[key])
        surrogate = kwargs.get("surrogate")
        if isinstance(surrogate, dict) and "_target_" in surrogate:
            kwargs["surrogate_function"] = instantiate(kwargs.pop("surrogate"))
        module = instantiate(kwargs, **overrides)
        module.is_spiking_neuron = True  # how metrics find spiking layers, whatever the class
        return module

    def __repr__(self) -> str:
        return f"NeuronFactory({self.node['_target_']})"


def is_spiking_neuron(module: nn.Module) -> bool:
    """A module built by a NeuronFactory, or any SpikingJelly neuron (e.g. inside spikingjelly's model zoo)."""
    if getattr(module, "is_spiking_neuron", False):
        return True
    from spikingjelly.activation_based import neuron

    return isinstance(module, (neuron.BaseNode, neuron.SimpleBaseNode)) or type(module).__module__.startswith(
        "spikingjelly.activation_based.neuron")


def spiking_neurons(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    for name, module in model.named_modules():
        if is_spiking_neuron(module):
            yield name, module
