"""neuron.backend (issue 16): the choice is checked against the neuron class's kernels and the device, and refused
in one line when unavailable; torch and auto run the same numbers on the CPU; inductor compiles every neuron."""
from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import neuron

from snn_methods import build
from snn_methods.errors import ConfigError
from snn_methods.neurons.backends import BACKENDS, supported_backends
from snn_methods.neurons.dsr import DSRNode


def test_backends_are_read_from_the_class():
    class OwnLoop(neuron.LIFNode):          # a subclass with a multi-step loop of its own has no fused kernel
        def multi_step_forward(self, x_seq):
            return x_seq

    class SameLoop(neuron.IFNode):
        pass
    assert "triton" in supported_backends(neuron.LIFNode) and "triton" in supported_backends(SameLoop)
    assert "triton" not in supported_backends(OwnLoop)
    dsr = next(c for c in DSRNode.__subclasses__())
    assert supported_backends(dsr) == ("torch", "inductor", "auto")
    assert all("cupy" not in supported_backends(c) for c in (neuron.LIFNode, neuron.IFNode, OwnLoop))


@pytest.mark.parametrize("overrides,message", [
    (("neuron.backend=cupy",), "neuron.backend=cupy: LIFNode has no cupy kernel in SpikingJelly 2.0.0 "
                               "(its backends: torch, triton, inductor, auto)"),
    (("neuron.backend=triton",), "neuron.backend=triton needs a CUDA device, this run is on the cpu"),
    (("method=dsr", "neuron.backend=triton"), "has no triton kernel"),
    (("neuron.backend=fused",), "neuron.backend='fused' is invalid"),
])
def test_unavailable_backends_are_refused_in_one_line(tiny, overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        build(tiny(*overrides))
    assert "\n" not in str(e.value)


def test_torch_and_auto_give_the_same_numbers_on_the_cpu(tiny):
    outs = []
    for backend in ("torch", "auto"):
        exp = build(tiny(f"neuron.backend={backend}"))
        x, _ = next(iter(exp.data.train))
        outs.append(exp.model(exp.encoder(x)))
        assert all(m._compiled_call_impl is None for m in exp.model.modules())
    assert torch.equal(*outs) and set(BACKENDS) == {"torch", "cupy", "triton", "inductor", "auto"}


def test_inductor_compiles_every_neuron(tiny):
    exp = build(tiny("neuron.backend=inductor"))
    neurons = [m for m in exp.model.modules() if getattr(m, "is_spiking_neuron", False)]
    assert neurons and all(m._compiled_call_impl is not None for m in neurons)
