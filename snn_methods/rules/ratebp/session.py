"""The temporary wiring of one rate-BP step: the model's neurons and batch norms get a forward that records (spike
pass) or replays (rate pass), installed on entry and removed on exit, errors included.

Nothing is registered with torch's hook machinery and nothing outlives the step: the overrides are instance
attributes (`forward`, or `super_forward` for SpikingJelly's step-mode BatchNorm wrappers, which call it with the
time-folded [T*N, C, ...] tensor), restored to exactly what was there before. A model trained with rate-BP
therefore evaluates, checkpoints and reloads exactly like a BPTT model.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch.nn as nn
from spikingjelly.activation_based import surrogate

from snn_methods.neurons.factory import spiking_neurons
from snn_methods.rules.ratebp.batchnorm import BatchStats, rate_batch_norm, uses_batch_stats
from snn_methods.rules.ratebp.neurons import (NeuronTrace, UnsupportedNeuron, dynamics_of, rate_pass_forward,
                                              spike_pass_forward)

_MISSING = object()


def incompatible_layers(model: nn.Module) -> list[str]:
    """Layers that break the two passes' agreement, each with the reason (empty: the model is fine)."""
    from spikingjelly.activation_based import layer as sj_layer

    problems = []
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 and not isinstance(m, sj_layer.Dropout):
            problems.append(f"{name} ({type(m).__name__}): torch's dropout draws a new mask per call, so the spike "
                            f"and rate passes would drop different units (use spikingjelly's layer.Dropout)")
        elif isinstance(m, (nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)):
            problems.append(f"{name} ({type(m).__name__}): per-sample statistics are not recorded by rate-BP")
        elif type(m).__name__.startswith(("TemporalEffectiveBatchNorm", "BatchNormThroughTime")):
            problems.append(f"{name} ({type(m).__name__}): per-time-step parameters have no time-averaged form")
    return problems


class RateBPSession:
    """`with RateBPSession(model) as s:` spike pass (s.phase == 'spike'), then `s.phase = 'rate'` and the rate pass."""

    def __init__(self, model: nn.Module, compat_bn_last_step: bool = False, sigmoid4_eligibility: bool = False):
        self.model = model
        self.compat_bn_last_step = compat_bn_last_step
        self.phase = "spike"
        self._restore: list[tuple[nn.Module, str, Any]] = []
        problems = incompatible_layers(model)
        if problems:
            from snn_methods.errors import ConfigError

            raise ConfigError(f"method=rate_bp cannot train this model: {problems[0]}")
        self.neurons: list[tuple[nn.Module, NeuronTrace]] = []
        for name, m in spiking_neurons(model):
            try:
                dynamics = dynamics_of(m)
                if sigmoid4_eligibility:          # the original's hard-coded surrogate (spec 4.2)
                    dynamics = dataclasses.replace(dynamics, surrogate=surrogate.Sigmoid(alpha=4.0))
                self.neurons.append((m, NeuronTrace(dynamics)))
            except UnsupportedNeuron as e:
                from snn_methods.errors import ConfigError

                raise ConfigError(f"method=rate_bp cannot train neuron {name} ({type(m).__name__}): {e}") from None
        if not self.neurons:
            from snn_methods.errors import ConfigError

            raise ConfigError("method=rate_bp needs a model with spiking neurons; this one has none")
        self.batch_norms = [(m, BatchStats()) for m in model.modules()
                            if isinstance(m, nn.modules.batchnorm._BatchNorm) and uses_batch_stats(m)]

    # ------------------------------------------------------------------------------------------------ wiring
    def _override(self, module: nn.Module, attr: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        original = getattr(module, attr)
        self._restore.append((module, attr, module.__dict__.get(attr, _MISSING)))
        object.__setattr__(module, attr, make(original))

    def __enter__(self) -> "RateBPSession":
        try:
            for module, trace in self.neurons:
                self._override(module, "forward", self._neuron_forward(module, trace))
            for bn, stats in self.batch_norms:
                attr = "super_forward" if hasattr(bn, "super_forward") else "forward"
                self._override(bn, attr, self._bn_forward(bn, stats))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Put every overridden attribute back as it was and drop the recorded state."""
        while self._restore:
            module, attr, before = self._restore.pop()
            if before is _MISSING:
                object.__delattr__(module, attr)
            else:
                object.__setattr__(module, attr, before)
        self.neurons, self.batch_norms = [], []

    # ------------------------------------------------------------------------------------------------ the passes
    def _neuron_forward(self, module: nn.Module, trace: NeuronTrace) -> Callable[..., Any]:
        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def forward(x: Any, *args: Any, **kwargs: Any) -> Any:
                if self.phase == "spike":
                    return spike_pass_forward(module, original, trace, x, *args, **kwargs)
                return rate_pass_forward(trace, x)
            return forward
        return make

    def _bn_forward(self, bn: nn.Module, stats: BatchStats) -> Callable[..., Any]:
        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def forward(x: Any) -> Any:
                if self.phase == "spike":
                    stats.record(x)
                    return original(x)
                mean, var = stats.combined(bn.eps, self.compat_bn_last_step)
                return rate_batch_norm(bn, x, mean, var)
            return forward
        return make

    def check_steps(self, T: int) -> None:
        """After the spike pass every neuron that ran has simulated exactly T steps (a neuron module called at two
        places of the network would have a trace mixing both)."""
        for module, trace in self.neurons:
            if trace.steps not in (0, T):
                raise RuntimeError(f"rate-BP: neuron {type(module).__name__} ran {trace.steps} steps for T={T}: "
                                   f"a neuron module used at several places of a network cannot be traced")
