"""neuron.backend: what runs the spiking neurons' multi-step loop.

    torch     PyTorch ops (SpikingJelly's reference implementation; the only kernel SpikingJelly has on the CPU)
    triton    SpikingJelly 2.0's fused Triton kernels (CUDA and the `triton` package: the `gpu` extra)
    inductor  every neuron module compiled by torch.compile (any neuron class; on the CPU a C++ compiler)
    cupy      the CuPy kernels of SpikingJelly <= 0.0.0.0.14: no neuron class of SpikingJelly 2.0.0 has one
    auto      torch on the CPU; on CUDA SpikingJelly's own choice (native CUDA if built, else triton, else torch)

Which backends a neuron supports is read from its class: the fused kernels exist for the SpikingJelly classes
whose multi-step loop goes through a registered kernel package (LIF, IF, PLIF), and a subclass keeps them only if
it does not override that loop (the DSR, ASGL and rate-BP neurons do). An unavailable choice is refused in one line.
SpikingJelly picks its CUDA kernel per neuron type, not per module: `triton` / `torch` set that choice for the
whole process (SpikingJelly otherwise reads it once, at import, from SJ_<TYPE>_CUDA_IMPLEMENTATION).
"""
from __future__ import annotations

import importlib.util
import shutil
from types import ModuleType

import torch
import torch.nn as nn

from snn_methods.errors import ConfigError

BACKENDS = ("torch", "cupy", "triton", "inductor", "auto")


def has_cpp_compiler() -> bool:
    """inductor's CPU code generation needs one (the engine's compiled path asks this too)."""
    return any(shutil.which(c) for c in ("c++", "g++", "clang++"))


def _kernel_packages() -> dict[type, ModuleType]:
    from spikingjelly._ops import if_, lif, plif
    from spikingjelly.activation_based import neuron

    return {neuron.LIFNode: lif, neuron.IFNode: if_, neuron.ParametricLIFNode: plif}


def kernel_package(cls: type) -> ModuleType | None:
    """SpikingJelly's kernel package behind `cls`'s multi-step loop, or None (a loop of its own)."""
    for base, package in _kernel_packages().items():
        if issubclass(cls, base) and cls.multi_step_forward is base.multi_step_forward:
            return package
    return None


def supported_backends(cls: type) -> tuple[str, ...]:
    return ("torch", *(("triton",) if kernel_package(cls) else ()), "inductor", "auto")


def _refuse_unavailable(backend: str, classes: list[type], device: torch.device) -> None:
    for cls in classes:
        if backend not in supported_backends(cls):
            raise ConfigError(f"neuron.backend={backend}: {cls.__name__} has no {backend} kernel in SpikingJelly 2.0.0 "
                              f"(its backends: {', '.join(supported_backends(cls))})")
    if backend == "triton" and device.type != "cuda":
        raise ConfigError(f"neuron.backend=triton needs a CUDA device, this run is on the {device.type}: "
                          f"use neuron.backend=torch (or auto)")
    if backend == "triton" and importlib.util.find_spec("triton") is None:
        raise ConfigError("neuron.backend=triton: the triton package is not installed (pip install 'snn-methods[gpu]')")
    if backend == "inductor" and device.type == "cpu" and not has_cpp_compiler():
        raise ConfigError("neuron.backend=inductor on the CPU needs a C++ compiler (e.g. apt-get install g++): "
                          "use neuron.backend=torch")


def apply_backend(backend: str, model: nn.Module, device: torch.device) -> None:
    """Check `backend` against every neuron class in `model` and the device, then select it."""
    from snn_methods.neurons.factory import spiking_neurons

    neurons = [m for _, m in spiking_neurons(model)]
    classes = sorted({type(m) for m in neurons}, key=lambda c: c.__name__)
    _refuse_unavailable(backend, classes, device)
    if backend == "inductor":
        for m in neurons:
            m.compile()
    elif backend in ("torch", "triton") and device.type == "cuda":
        for package in {kernel_package(c) for c in classes} - {None}:
            selection = package._selection
            with selection._lock:
                selection._requested = backend
                selection._selections.clear()
                selection._compiled_selections.clear()
