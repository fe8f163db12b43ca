"""DSR neurons: Differentiation on Spike Representation (Meng et al., CVPR 2022; spec dsr_asgl.md A.1, A.2).

The forward pass is an ordinary IF / LIF neuron with a soft reset; the backward pass ignores the spike train and
differentiates the layer's *spike representation* instead: the firing rate r ~ clamp(mean_t x_t, 0, V) (IF) or the
weighted rate r_w ~ clamp(a_w / tau, 0, V / delta_t) (LIF). Every time step receives the same input gradient, and
the threshold V (one learnable scalar per layer, the parameter `v_threshold`) receives the gradient of the
saturated elements. Both neurons are multi-step: [T, N, ...] -> [T, N, ...], membrane 0 at the start of every call.

Faithful to the original code (qymeng94/DSR, cifar/modules/neuron.py at HEAD), including its float32 arithmetic:
  * fire when u >= alpha * V, emit and subtract V (LIF emits V / delta_t);
  * LIF: u <- beta * u + (1 - beta) * x with beta = exp(-delta_t / tau) and 1 - beta computed in float32;
  * masks: IF 0 <= a <= V (inclusive); LIF 0 < a_w < tau V / delta_t (strict), with an extra 1/tau;
  * threshold gradient: summed over the whole batch where the representation saturates (strict >); LIF x delta_t
    (the original's factor, delta_t^2 times the analytic value); `v_threshold_grad_scale` (0.001 in the original's
    ImageNet IF neuron);
  * the bound V >= b is an in-place projection before every forward (train and eval), outside the graph, so V
    always receives its gradient (SpikingJelly's DSR nodes clamp differentiably instead: `v_threshold_bound_mode`).
No collective runs inside the neuron: under DDP the threshold gradient is averaged like any other. The original
all-reduces (sums) it in the backward when more than one GPU is visible, which after DDP's averaging leaves N_gpu
times the single-GPU value; `v_threshold_grad_sum_ranks=true` reproduces that by scaling with the world size.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from snn_methods.neurons.parameters import NeuronParameter

from snn_methods.errors import ConfigError
from snn_methods.values import is_finite_number

BOUND_MODES = ("project", "clamp")


# (argument, check, allowed values): shared by the constructors and snn_methods/neurons/checks.py
PARAM_RULES: list[tuple[str, Callable[[Any], bool], str]] = [
    ("v_threshold", lambda v: is_finite_number(v) and v > 0, "a number > 0"),
    ("alpha", lambda v: is_finite_number(v) and 0 < v <= 1, "a number in (0, 1] (fire when u >= alpha * v_threshold)"),
    ("v_threshold_bound", lambda v: is_finite_number(v) and v > 0, "a number > 0 (the threshold's lower bound)"),
    ("v_threshold_grad_scale", lambda v: is_finite_number(v) and v >= 0, "a number >= 0"),
    ("v_threshold_bound_mode", lambda v: v in BOUND_MODES, "project or clamp"),
    ("tau", lambda v: is_finite_number(v) and v > 0, "a number > 0"),
    ("delta_t", lambda v: is_finite_number(v) and v > 0, "a number > 0 (the LIF time step)"),
]


def check_params(values: dict, prefix: str = "") -> None:
    """Raise ConfigError (one line: key, value, allowed values) for the first bad DSR neuron argument in `values`."""
    for name, ok, allowed in PARAM_RULES:
        if name in values and not ok(values[name]):
            raise ConfigError(f"{prefix}{name}={values[name]!r} is invalid: must be {allowed}")


def world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _expand_over_time(grad: torch.Tensor, T: int) -> torch.Tensor:
    return grad.unsqueeze(0).expand(T, *grad.shape)


class _IFSpikes(torch.autograd.Function):
    """x [T, N, ...], v (0-dim) -> spikes in {0, v}; backward through r = clamp(mean_t x, 0, v) (spec A.1.1, A.1.4)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, v: torch.Tensor, alpha: float, v_grad_factor: float) -> torch.Tensor:
        T = x.shape[0]
        fire_at = alpha * v
        u = torch.zeros_like(x[0], dtype=v.dtype)
        spikes = []
        for t in range(T):
            u = u + x[t]
            s = (u >= fire_at).to(v.dtype) * v
            u = u - s
            spikes.append(s)
        a = x.to(v.dtype).mean(0)                       # the input's representation (mean over time)
        # the backward depends on x only through these two masks: keep them, not x (1 byte per neuron)
        ctx.save_for_backward((a >= 0) & (a <= v), a > v)
        ctx.T, ctx.v_grad_factor, ctx.x_dtype = T, v_grad_factor, x.dtype
        return torch.stack(spikes)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        passes, saturated = ctx.saved_tensors
        T = ctx.T
        G = grad_out.mean(0) * T                        # sum over time, computed as the original does
        grad_x = grad_v = None
        if ctx.needs_input_grad[0]:
            grad_x = _expand_over_time(torch.where(passes, G, 0.0) / T, T).to(ctx.x_dtype)
        if ctx.needs_input_grad[1]:
            grad_v = G.masked_fill(~saturated, 0.0).sum() * ctx.v_grad_factor
        return grad_x, grad_v, None, None


class _LIFSpikes(torch.autograd.Function):
    """x [T, N, ...], v (0-dim) -> spikes in {0, v / delta_t}; backward through r_w = clamp(a_w / tau, 0, v / delta_t)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, v: torch.Tensor, alpha: float, v_grad_factor: float, tau: float,
                delta_t: float, weights: torch.Tensor) -> torch.Tensor:
        T = x.shape[0]
        tau_t = torch.tensor(tau, dtype=v.dtype, device=v.device)
        beta = torch.exp(-delta_t / tau_t)              # float32, and so is 1 - beta (spec A.1.2, test LIF-beta)
        one_minus_beta = 1 - beta
        fire_at = alpha * v
        u = torch.zeros_like(x[0], dtype=v.dtype)
        spikes = []
        for t in range(T):
            u = beta * u + one_minus_beta * x[t]
            s = (u >= fire_at).to(v.dtype) * v
            u = u - s
            spikes.append(s / delta_t)
        w = weights.view(T, *([1] * (x.dim() - 1)))
        a_w = (w * x.to(v.dtype)).sum(0) / weights.sum()  # weighted representation of the input
        upper = v / delta_t * tau_t
        ctx.save_for_backward((a_w > 0) & (a_w < upper), a_w > upper, weights)
        ctx.T, ctx.tau, ctx.delta_t, ctx.v_grad_factor, ctx.x_dtype = T, tau_t, delta_t, v_grad_factor, x.dtype
        return torch.stack(spikes)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        passes, saturated, weights = ctx.saved_tensors
        T = ctx.T
        w = weights.view(T, *([1] * (grad_out.dim() - 1)))
        G_w = (w * grad_out).sum(0) / weights.sum() * T
        grad_x = grad_v = None
        if ctx.needs_input_grad[0]:
            # uniform over time (1/T), not weighted by w_t, and divided by tau
            grad_x = _expand_over_time(torch.where(passes, G_w / ctx.tau, 0.0) / T, T).to(ctx.x_dtype)
        if ctx.needs_input_grad[1]:
            grad_v = G_w.masked_fill(~saturated, 0.0).sum() * ctx.delta_t * ctx.v_grad_factor
        return grad_x, grad_v, None, None, None, None, None


class DSRNode(nn.Module):
    """Common part of the DSR neurons: the threshold parameter, its bound, its gradient factor."""

    step_mode = "m"
    # the composition contract (snn_methods/compat.py)
    own_backward = True
    carries_state = False
    single_step_reason = ("their backward differentiates the firing rate of the whole [T, N, ...] sequence, which one "
                          "time step per call does not give")

    def __init__(self, v_threshold: float, alpha: float, v_threshold_bound: float, v_threshold_trainable: bool = True,
                 v_threshold_grad_scale: float = 1.0, v_threshold_grad_sum_ranks: bool = False,
                 v_threshold_bound_mode: str = "project"):
        super().__init__()
        check_params(dict(v_threshold=v_threshold, alpha=alpha, v_threshold_bound=v_threshold_bound,
                          v_threshold_grad_scale=v_threshold_grad_scale, v_threshold_bound_mode=v_threshold_bound_mode))
        self.v_threshold = NeuronParameter(torch.tensor(float(v_threshold)), requires_grad=bool(v_threshold_trainable))
        self.alpha = float(alpha)
        self.v_threshold_bound = float(v_threshold_bound)
        self.v_threshold_grad_scale = float(v_threshold_grad_scale)
        self.v_threshold_grad_sum_ranks = bool(v_threshold_grad_sum_ranks)
        self.v_threshold_bound_mode = v_threshold_bound_mode

    def bounded_threshold(self) -> torch.Tensor:
        """The threshold this forward uses. `project`: V <- max(V, b) in place, under no_grad (the original's
        relu(V - b) + b, to the last bit), so the parameter itself is returned and always receives its gradient.
        `clamp`: a differentiable clamp(V, min=b) that leaves the parameter alone (no gradient while V < b)."""
        b = self.v_threshold_bound
        if self.v_threshold_bound_mode == "clamp":
            return self.v_threshold.clamp(min=b)
        with torch.no_grad():
            self.v_threshold.copy_(F.relu(self.v_threshold - b) + b)
        return self.v_threshold

    def v_grad_factor(self) -> float:
        return self.v_threshold_grad_scale * (world_size() if self.v_threshold_grad_sum_ranks else 1)

    def representation_weights(self, T: int) -> torch.Tensor | None:
        """Per-step factors c_t such that mean_t(c_t * o_t) is the layer's spike representation (None: plain mean)."""
        return None

    def threshold_from_activation(self, activation: float) -> float:
        """The threshold whose saturated output equals an ANN activation (ANN -> SNN threshold initialisation)."""
        return float(activation) * 1.0

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"{type(self).__name__} is multi-step: it takes [T, N, ...] input, got shape {tuple(x.shape)}")

    def extra_repr(self) -> str:
        return (f"v_threshold={float(self.v_threshold.detach()):.4g}, alpha={self.alpha}, v_threshold_bound={self.v_threshold_bound}, "
                f"grad_scale={self.v_threshold_grad_scale}, bound_mode={self.v_threshold_bound_mode}")


class DSRIFNode(DSRNode):
    """DSR integrate-and-fire neuron (no leak). Defaults: the DSR README's IF runs (V 6, alpha 0.5, b 0.01)."""

    def __init__(self, v_threshold: float = 6.0, alpha: float = 0.5, v_threshold_bound: float = 0.01, **kwargs: Any):
        super().__init__(v_threshold, alpha, v_threshold_bound, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        v = self.bounded_threshold()
        return _IFSpikes.apply(x, v, self.alpha, self.v_grad_factor())


class DSRLIFNode(DSRNode):
    """DSR leaky integrate-and-fire neuron. Defaults: the original CIFAR code's (V 0.3, alpha 0.3, b 0.0005,
    tau 1, delta_t 0.05). tau is a constant (the original's comment calls it trainable; it is not)."""

    def __init__(self, v_threshold: float = 0.3, alpha: float = 0.3, v_threshold_bound: float = 0.0005,
                 tau: float = 1.0, delta_t: float = 0.05, **kwargs: Any):
        check_params(dict(tau=tau, delta_t=delta_t))
        super().__init__(v_threshold, alpha, v_threshold_bound, **kwargs)
        self.tau, self.delta_t = float(tau), float(delta_t)
        self._weights: dict[tuple, torch.Tensor] = {}

    def time_weights(self, T: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """w_t = exp(-(T dt - t dt) / tau), t = 1..T (so w_T = 1), built as the original builds them (float32)."""
        key = (T, str(device))
        if key not in self._weights:
            neg_inv_tau = torch.tensor(-1.0) / torch.tensor(self.tau)   # float32, as in the original's backward
            dt = self.delta_t
            w = torch.tensor([math.exp(float(neg_inv_tau * (dt * T - t * dt))) for t in range(1, T + 1)])
            self._weights[key] = w.to(device)
        return self._weights[key]

    def representation_weights(self, T: int) -> torch.Tensor:
        w = self.time_weights(T)
        return w * (T / w.sum())

    def threshold_from_activation(self, activation: float) -> float:
        return float(activation) * 1.0 * self.delta_t   # the LIF emits V / delta_t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        v = self.bounded_threshold()
        weights = self.time_weights(x.shape[0], v.device)
        return _LIFSpikes.apply(x, v, self.alpha, self.v_grad_factor(), self.tau, self.delta_t, weights)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, tau={self.tau}, delta_t={self.delta_t}"


def spike_representation(neuron: nn.Module, out: torch.Tensor) -> torch.Tensor:
    """The output layer's decoding (spec A.2), shaped for the engine: [T, N, C] -> [T, N, C] whose time mean is
    the neuron's spike representation -- the firing rate (IF: unchanged) or the weighted rate (LIF:
    sum_t w_t o_t / sum_t w_t, as mean_t of o_t * T w_t / sum w). Any other neuron (e.g. a ReLU) is left as it is."""
    weights = getattr(neuron, "representation_weights", None)
    c = weights(out.shape[0]) if weights is not None else None
    if c is None:
        return out
    return out * c.to(out.device, out.dtype).view(-1, *([1] * (out.dim() - 1)))
