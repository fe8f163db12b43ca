"""Deep Rewiring (Bellec et al., ICLR 2018) as the Gradient-Rewiring repository implements it (`deeprewire.py`),
hard (`soft=False`) and soft. Adam-based, per tensor. Spec pruning.md 3.2 and 3.3.

Hard Deep R: the weight itself is the parameter; a fixed sign s (at the first step) and an "active" mask
a = 1[w != 0]. Only active weights get the gradient, an L1 shrink and noise; a weight whose sign leaves s becomes
dormant (0); while the dormant fraction of a tensor exceeds max_s, dormant weights are rewired to +1e-8 at random.

`faithful_stale_mask=True` (the original): the mask used at the next step is computed *before* rewiring, so a
rewired weight is zeroed again at the next step before it can learn: regrowth is cosmetic and the logged
sparsity hovers at max_s (the +1e-8 weights count as connected). `False`: the mask is refreshed after rewiring,
so rewired connections receive gradient from the next step on (Deep R as the paper describes it).

Soft Deep R: like Grad R, a hidden strength theta = |w0| with w = s * max(theta, 0), clamped below at
theta_min = -(0.5 T^2 max_s) / (l1 (1 - max_s)); regrowth only through noise (none with the scripts' T = 0).
"""
from __future__ import annotations

import math
from typing import Iterable

import torch

from snn_methods.pruning.adam_moments import adam_denominator, init_sign_state

REWIRE_VALUE = 1e-8   # the original rewires dormant weights to +eps, whatever their sign


class DeepRewiring(torch.optim.Optimizer):
    """`DeepRewiring(params, lr, l1, max_s, temperature, soft)`; `temperature` is the code's T (noise scale
    T * sqrt(eta_t); the paper's temperature is T^2 / 2). State per parameter: 'step', 'exp_avg', 'exp_avg_sq',
    'sign', 'mask' (1 = active, in the parameter's dtype) and, when soft, 'strength' (theta)."""

    def __init__(self, params: Iterable, lr: float = 1e-3, l1: float = 1e-5, max_s: float = 0.99,
                 temperature: float = 0.0, soft: bool = False, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, faithful_stale_mask: bool = True):
        if not 0 <= max_s <= 1:
            raise ValueError(f"DeepRewiring: max_s={max_s} is invalid: must be in [0, 1]")
        if not lr > 0 or not l1 >= 0 or not temperature >= 0 or not weight_decay >= 0:
            raise ValueError(f"DeepRewiring: lr={lr} must be > 0; l1={l1}, temperature={temperature} and "
                             f"weight_decay={weight_decay} must be >= 0")
        super().__init__(params, dict(lr=lr, l1=l1, max_s=max_s, temperature=temperature, soft=bool(soft),
                                      betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      faithful_stale_mask=bool(faithful_stale_mask)))

    @staticmethod
    def theta_min(temperature: float, l1: float, max_s: float) -> float | None:
        """Soft Deep R's floor of theta (None: no floor). -0.0 when temperature = 0: theta never regrows."""
        if l1 > 0 and max_s < 1:
            return -(0.5 * temperature ** 2 * max_s) / (l1 * (1 - max_s))
        return None

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    init_sign_state(p, state)
                    state["mask"] = (p != 0).to(p.dtype)
                    if group["soft"]:
                        state["strength"] = p.detach().abs()
                (self._soft_step if group["soft"] else self._hard_step)(p, state, group)
        return loss

    @staticmethod
    def _hard_step(p: torch.Tensor, state: dict, group: dict) -> None:
        """In place on p. The gradient, L1 and noise terms are applied to every entry, unmasked: the original masks
        each term with a, and the final sign check multiplies by a, which zeroes the inactive entries anyway (the
        active ones get the same arithmetic)."""
        sign, mask = state["sign"], state["mask"]
        denom, step_size = adam_denominator(p, p.grad, state, group)
        p.addcdiv_(state["exp_avg"], denom, value=-step_size)
        p.add_(sign, alpha=-group["l1"] * step_size)
        noise = denom.normal_()  # the original's randn_like(p), drawn even when temperature = 0 (it advances the RNG)
        if group["temperature"]:
            p.add_(noise, alpha=group["temperature"] * math.sqrt(step_size))
        # w <- s * max(s * w * a, 0): keep the entries that are active and kept their sign. The kept entries are the
        # nonzero ones, so the keep mask is also the next step's active mask 1[w != 0].
        mask.mul_(p).mul_(sign).gt_(0)
        p.mul_(mask)
        ratio = (p.numel() - int(torch.count_nonzero(mask))) / p.numel()   # dormant fraction
        if ratio > group["max_s"]:
            chance = (ratio - group["max_s"]) / ratio
            rewire = torch.bernoulli(torch.mul(mask, -chance, out=noise).add_(chance), out=noise)  # 1 - a times chance
            p.add_(rewire, alpha=REWIRE_VALUE)  # dormant entries are 0: they become +REWIRE_VALUE
            if not group["faithful_stale_mask"]:
                mask.add_(rewire)

    def _soft_step(self, p: torch.Tensor, state: dict, group: dict) -> None:
        """In place on theta; p is the scratch space for m * a until it receives the new weight."""
        sign, mask, theta = state["sign"], state["mask"], state["strength"]
        denom, step_size = adam_denominator(p, p.grad, state, group)
        theta.mul_(sign)  # the signed hidden weight h = s * theta during the update
        theta.addcdiv_(torch.mul(state["exp_avg"], mask, out=p), denom, value=-step_size)
        theta.addcmul_(sign, mask, value=-group["l1"] * step_size)
        noise = denom.normal_()  # noise on every entry, not masked (the original's soft update)
        if group["temperature"]:
            theta.add_(noise, alpha=group["temperature"] * math.sqrt(step_size))
        theta.mul_(sign)
        floor = self.theta_min(group["temperature"], group["l1"], group["max_s"])
        if floor is not None:
            theta.clamp_(min=floor)
        torch.clamp(theta, min=0, out=p).mul_(sign)
        torch.ne(p, 0, out=mask)
