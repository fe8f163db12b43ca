"""Which spiking neurons rate-BP can train, and what it records about them in the spike pass (spec ratebp.md 4.2).

Rate-BP replaces a neuron's whole time course by one static map from its mean input to its mean output: the
forward value is the measured rate r = mean_t s_t, the local derivative is the eligibility

    e = d r / d delta = (1/T) sum_t sigma'_t kappa_t,        kappa_t = dH_t / d delta,

where delta is a perturbation added to the input current at every time step, H_t the membrane potential after
charging and sigma'_t the surrogate derivative at H_t - theta. For the LIF family

    H_t = leak V_{t-1} + (1 - leak) v_rest + gain x_t,   s_t = Heaviside(H_t - theta),   V_t = reset(H_t, s_t)

so kappa_t = gain + leak * dV_{t-1}/d delta and dV_t/d delta = kappa_t * dV_t/dH_t with

    soft reset (V = H - theta s), reset detached      dV/dH = 1                      (the original's only case)
    soft reset, not detached                          dV/dH = 1 - theta sigma'
    hard reset (V = H (1 - s) + v_reset s), detached  dV/dH = 1 - s
    hard reset, not detached                          dV/dH = 1 - s - (H - v_reset) sigma'

all exact derivatives of the surrogate-gradient BPTT path (the original hard-codes the first row with gain 1 and a
Sigmoid(4) surrogate, and its code for the other rows crashes; see the spec). sigma' is the neuron's own surrogate
derivative, so with the spec's neuron (Sigmoid, alpha 4) it is the original's.

A neuron qualifies when its class has a `Dynamics` adapter (`register_dynamics`) or defines `rate_bp_dynamics()`,
it is a SpikingJelly `BaseNode` (its potential sequence is read through `store_v_seq`), and it has no trainable
parameter (rate-BP's backward stops at the neuron's input, so such a parameter would silently stop learning).
"""
from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, Callable

import torch
import torch.nn as nn


class UnsupportedNeuron(Exception):
    """The reason a neuron cannot be trained with rate-BP (turned into a ConfigError by the config checks)."""


@dataclasses.dataclass(frozen=True)
class Dynamics:
    """The LIF-family dynamics of one neuron layer, as rate-BP needs them (see the module docstring)."""

    leak: float                       # dH_t / dV_{t-1}: 1 - 1/tau for LIF, 1 for IF
    gain: float                       # dH_t / dx_t: 1/tau with decay_input, else 1
    v_threshold: float
    v_reset: float | None             # None: soft reset (subtract the threshold)
    detach_reset: bool
    surrogate: Callable[[torch.Tensor], torch.Tensor]

    def charge(self, v: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
        rest = 0.0 if self.v_reset is None else (1.0 - self.leak) * self.v_reset
        return self.leak * v + rest + self.gain * x

    def reset_derivative(self, h: torch.Tensor, s: torch.Tensor, sg: torch.Tensor) -> torch.Tensor | float:
        """dV_t / dH_t through the reset."""
        if self.v_reset is None:
            return 1.0 if self.detach_reset else 1.0 - self.v_threshold * sg
        if self.detach_reset:
            return 1.0 - s
        return 1.0 - s - (h - self.v_reset) * sg


def _sigmoid_derivative(x: torch.Tensor, alpha: float, inplace: bool) -> torch.Tensor:
    """alpha sigmoid(alpha x) (1 - sigmoid(alpha x)), with one allocation (none in place)."""
    y = (x.mul_(alpha) if inplace else x * alpha).sigmoid_()
    return y.addcmul_(y, y, value=-1.0).mul_(alpha)


def _atan_derivative(x: torch.Tensor, alpha: float, inplace: bool) -> torch.Tensor:
    """alpha / (2 (1 + (pi/2 alpha x)^2)), with one allocation (none in place)."""
    scale = math.pi / 2 * alpha
    return (x.mul_(scale) if inplace else x * scale).square_().add_(1.0).reciprocal_().mul_(alpha / 2)


def _fast_derivatives() -> dict[type, Callable[[torch.Tensor, float, bool], torch.Tensor]]:
    from spikingjelly.activation_based import surrogate

    return {surrogate.Sigmoid: _sigmoid_derivative, surrogate.ATan: _atan_derivative}


_FAST = _fast_derivatives()


def surrogate_derivative(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                         inplace: bool = False) -> torch.Tensor:
    """sigma'(x) of a spike function: its `derivative(x)` if it has one, a fused formula for SpikingJelly's Sigmoid
    and ATan (the spike pass computes it for every neuron and step; `inplace`: it may overwrite x), SpikingJelly's
    static `backward` formula, or else autograd through the function itself."""
    if hasattr(fn, "derivative"):
        return fn.derivative(x)
    if type(fn) in _FAST:
        return _FAST[type(fn)](x, fn.alpha, inplace)
    backward = inspect.getattr_static(type(fn), "backward", None)
    params = getattr(fn, "_sg_params", None)
    if isinstance(backward, staticmethod) and isinstance(params, dict):
        return type(fn).backward(torch.ones_like(x), x, **params)
    with torch.enable_grad():
        leaf = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(fn(leaf).sum(), leaf)
    return grad


# ------------------------------------------------------------------------------------------- which neurons qualify
_ADAPTERS: dict[type, Callable[[nn.Module], Dynamics]] = {}

# classes that are refused for a reason worth saying (anything else unknown gets the generic reason)
_REFUSED = {
    "ParametricLIFNode": "its learnable leak would receive no gradient (rate-BP's backward stops at the neuron input)",
    "DSRIFNode": "DSR defines its own rate-coding backward and a learnable threshold; use method=dsr",
    "DSRLIFNode": "DSR defines its own rate-coding backward and a learnable threshold; use method=dsr",
    "OTTTLIFNode": "it is a single-step online-learning neuron returning [spike, trace]",
    "SLTTLIFNode": "it is a single-step neuron with its own truncated temporal gradient",
}


def register_dynamics(cls: type) -> Callable[[Callable[[nn.Module], Dynamics]], Callable[[nn.Module], Dynamics]]:
    """Declare how to read the `Dynamics` of a neuron class (exact class: a subclass may change the dynamics)."""
    def wrap(fn: Callable[[nn.Module], Dynamics]) -> Callable[[nn.Module], Dynamics]:
        _ADAPTERS[cls] = fn
        return fn
    return wrap


def _register_spikingjelly() -> None:
    from spikingjelly.activation_based import neuron

    @register_dynamics(neuron.LIFNode)
    def _lif(m: Any) -> Dynamics:
        return Dynamics(leak=1.0 - 1.0 / m.tau, gain=1.0 / m.tau if m.decay_input else 1.0, v_threshold=m.v_threshold,
                        v_reset=m.v_reset, detach_reset=m.detach_reset, surrogate=m.surrogate_function)

    @register_dynamics(neuron.IFNode)
    def _if(m: Any) -> Dynamics:
        return Dynamics(leak=1.0, gain=1.0, v_threshold=m.v_threshold, v_reset=m.v_reset,
                        detach_reset=m.detach_reset, surrogate=m.surrogate_function)


_register_spikingjelly()


def dynamics_of(module: nn.Module) -> Dynamics:
    """The module's Dynamics, or UnsupportedNeuron saying why rate-BP cannot train it ("it ...")."""
    from spikingjelly.activation_based.neuron import BaseNode

    name = type(module).__name__
    trainable = [n for n, p in module.named_parameters() if p.requires_grad]
    if name in _REFUSED:
        raise UnsupportedNeuron(_REFUSED[name])
    if trainable:
        raise UnsupportedNeuron(f"it has trainable parameters ({', '.join(trainable)}) that rate-BP would leave "
                                f"without gradient (its backward stops at the neuron input)")
    own = getattr(module, "rate_bp_dynamics", None)
    adapter = _ADAPTERS.get(type(module))
    if own is None and adapter is None:
        raise UnsupportedNeuron("it has no eligibility rule (rate-BP knows SpikingJelly's LIFNode and IFNode; a neuron "
                                "class opts in with snn_methods.rules.ratebp.register_dynamics)")
    if not isinstance(module, BaseNode):
        raise UnsupportedNeuron("it is not a SpikingJelly BaseNode (rate-BP reads its potential through store_v_seq)")
    return own() if own is not None else adapter(module)


# ------------------------------------------------------------------------------------- what the spike pass records
class NeuronTrace:
    """Running sums of one neuron layer over the spike pass: spike count, sum of sigma'_t kappa_t, and dV/d delta
    carried across calls (single-step mode calls the layer once per time step)."""

    def __init__(self, dynamics: Dynamics):
        self.dynamics = dynamics
        self.steps = 0
        self.spike_sum: torch.Tensor | None = None
        self.elig_sum: torch.Tensor | None = None
        self.dv: torch.Tensor | float = 0.0          # dV_{t-1} / d delta; V before the first step does not depend on it

    def update(self, x_seq: torch.Tensor, s_seq: torch.Tensor, v_before: torch.Tensor | float,
               v_seq: torch.Tensor) -> None:
        """x_seq, s_seq, v_seq: [T', N, ...] input, spikes and potential after reset; v_before: the potential before."""
        # Step by step, so that every temporary is [N, ...]: [T, N, ...] ones would raise the spike pass's peak
        # memory with T. Half-precision spike passes are traced in float32.
        d = self.dynamics
        wide = torch.promote_types(x_seq.dtype, torch.float32)
        if self.spike_sum is None:
            self.spike_sum = torch.zeros(s_seq.shape[1:], dtype=wide, device=s_seq.device)
            self.elig_sum = torch.zeros_like(self.spike_sum)
        self.spike_sum += s_seq.sum(0, dtype=wide)
        if d.v_reset is None and d.detach_reset and isinstance(self.dv, float):
            # the original's case: kappa_t does not depend on the data, and the soft reset V_t = H_t - theta s_t gives
            # H_t - theta = V_t + theta (s_t - 1) without re-charging
            for t in range(x_seq.shape[0]):
                self.dv = d.gain + d.leak * self.dv
                above = (v_seq[t].to(wide) - d.v_threshold).add_(s_seq[t], alpha=d.v_threshold)
                self.elig_sum.add_(surrogate_derivative(d.surrogate, above, inplace=True), alpha=self.dv)
            self.steps += x_seq.shape[0]
            return
        v_prev = v_before.to(wide) if isinstance(v_before, torch.Tensor) else float(v_before)
        for t in range(x_seq.shape[0]):
            h = d.charge(v_prev, x_seq[t].to(wide))
            sg = surrogate_derivative(d.surrogate, h - d.v_threshold)
            kappa = d.gain + d.leak * self.dv
            self.elig_sum += sg * kappa
            self.dv = kappa * d.reset_derivative(h, s_seq[t].to(wide), sg)
            v_prev = v_seq[t].to(wide)
        self.steps += x_seq.shape[0]

    def eligibility(self) -> torch.Tensor:
        return self.elig_sum / self.steps

    def spend(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The [1, N, ...] rate and the [N, ...] eligibility for the rate pass, divided in place of the running sums,
        which the trace then lets go of (the rate pass holds them, and nothing else is allocated for them)."""
        rate, elig = self.spike_sum.div_(self.steps).unsqueeze(0), self.elig_sum.div_(self.steps)
        self.spike_sum = self.elig_sum = None
        return rate, elig


def spike_pass_forward(module: nn.Module, forward: Callable[..., torch.Tensor], trace: NeuronTrace,
                       x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """Run the neuron's own forward (its spikes are the spike pass's output) and record its trace.

    A multi-step call on [T, N, ...] is made one time step at a time (the neuron's state carries over between
    calls, so the spikes are the same): called once, the neuron would build its spike and potential sequences as
    lists of steps and then stack them, four [T, N, ...] tensors at once beside its input, which made the spike
    pass's peak memory grow with T. Step by step only the input and the output are T-sized."""
    if args or kwargs or x.shape[0] == 1:
        return _traced_call(module, forward, trace, x, *args, **kwargs)
    out = None
    for t in range(x.shape[0]):
        s = _traced_call(module, forward, trace, x[t:t + 1])
        if out is None:
            out = s.new_empty((x.shape[0], *s.shape[1:]))
        out[t] = s[0]
    return out


def _traced_call(module: nn.Module, forward: Callable[..., torch.Tensor], trace: NeuronTrace,
                 x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    v_before, keep = module.v, module.store_v_seq
    module.store_v_seq = True
    try:
        s = forward(x, *args, **kwargs)
        v_seq = module.v_seq
    finally:
        module.store_v_seq = keep          # the setter also drops v_seq
    trace.update(x, s, v_before, v_seq)
    return s


class _RateOp(torch.autograd.Function):
    """Forward value: the recorded rate; backward: grad * eligibility (spec 4.1: r + x e - sg(x e))."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, rate: torch.Tensor, elig: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(elig)
        return rate.to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple:
        (elig,) = ctx.saved_tensors
        return (grad * elig).to(grad.dtype), None, None


def rate_pass_forward(trace: NeuronTrace, x: torch.Tensor) -> torch.Tensor:
    """The neuron in the rate pass: x is its [1, N, ...] rate-pass input, used for the gradient only."""
    if trace.spike_sum is None:
        raise RuntimeError("rate-BP: a neuron runs in the rate pass that did not run in the spike pass, or twice")
    if x.shape != (1, *trace.spike_sum.shape):
        raise RuntimeError(f"rate-BP: a neuron sees {tuple(x.shape[1:])} in the rate pass but "
                           f"{tuple(trace.spike_sum.shape)} in the spike pass")
    return _RateOp.apply(x, *trace.spend())
