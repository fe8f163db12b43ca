"""Gradient Rewiring (Chen et al., IJCAI 2021): an Adam-based optimizer on a hidden synaptic strength.

Each weight element has a fixed sign s (the sign of the weight at the optimizer's first step) and a hidden
strength theta (initially |w|); the model holds the effective weight w = s * relu(theta). The gradient of the
loss w.r.t. w, signed by s, updates theta *without* the relu mask (dead connections still learn and can
regrow), and a Laplace prior centred at mu = ln(2 (1 - s_target)) / alpha pulls theta down. Spec pruning.md 3.1.
"""
from __future__ import annotations

import math
from typing import Iterable

import torch

from snn_methods.pruning.adam_moments import adam_denominator, init_sign_state


class GradRewiring(torch.optim.Optimizer):
    """`torch.optim.Optimizer` with the exact update of the original `gradrewire.py`:

        m, v   <- Adam moments of g = dL/dw (+ weight_decay * w)
        eta_t  =  lr / (1 - beta1^t),   d = sqrt(v) / sqrt(1 - beta2^t) + eps
        theta  <- theta - eta_t * s * m / d - alpha * eta_t * sign(theta_old - mu)     (prior only if alpha > eps)
        w      <- s * max(theta, 0)                                                      (written in place)

    State per parameter: 'step', 'exp_avg', 'exp_avg_sq', 'sign' (s) and 'strength' (theta).
    `s` is the target sparsity (>= 0.5, required): the prior's mass below 0 equals it.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, alpha: float = 1e-3, s: float | None = None):
        if s is None:
            raise ValueError("GradRewiring needs the target sparsity s (in [0.5, 1))")
        if not 0.5 <= s < 1:
            raise ValueError(f"GradRewiring's target sparsity s={s} is invalid: must be in [0.5, 1) "
                             f"(the prior centre ln(2(1 - s)) / alpha must be <= 0)")
        if not lr > 0 or not eps >= 0 or not weight_decay >= 0 or not alpha >= 0:
            raise ValueError(f"GradRewiring: lr={lr} must be > 0; eps={eps}, weight_decay={weight_decay} and "
                             f"alpha={alpha} must be >= 0")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      alpha=alpha, s=s))

    @staticmethod
    def prior_centre(alpha: float, s: float) -> float:
        """mu = ln(2 (1 - s)) / alpha: P(theta < 0) = s under the Laplace(mu, 1/alpha) prior."""
        return math.log(2 * (1 - s)) / alpha

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            alpha, eps = group["alpha"], group["eps"]
            use_prior = alpha > eps   # the original's guard: a tiny alpha means "no prior" (and no mu)
            mu = self.prior_centre(alpha, group["s"]) if use_prior else None
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    init_sign_state(p, state)
                    state["strength"] = p.detach().abs()
                sign, theta = state["sign"], state["strength"]
                denom, step_size = adam_denominator(p, p.grad, state, group)
                # In place, in the original's order of operations: theta holds the signed hidden weight
                # h = s * theta during the update, and p (overwritten at the end) holds sign(theta_old - mu).
                if use_prior:
                    torch.sub(theta, mu, out=p).sign_()
                theta.mul_(sign).addcdiv_(state["exp_avg"], denom, value=-step_size)
                if use_prior:
                    theta.addcmul_(p, sign, value=-alpha * step_size)
                theta.mul_(sign)
                torch.clamp(theta, min=0, out=p).mul_(sign)
        return loss
