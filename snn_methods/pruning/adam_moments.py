"""The Adam moment update shared by Grad R and Deep R (both are Adam-based in the originals)."""
from __future__ import annotations

import math

import torch


def adam_denominator(p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> tuple[torch.Tensor, float]:
    """Update state['exp_avg'] (m), state['exp_avg_sq'] (v) and state['step'] with g = grad (+ weight_decay * p);
    return (d, eta_t) with d = sqrt(v) / sqrt(1 - beta2^t) + eps and eta_t = lr / (1 - beta1^t); the step is
    eta_t * m / d, applied by the caller with a fused `addcdiv_`.

    d is a fresh tensor that the caller owns: once it has been used it is the step's scratch space (noise,
    rewiring draws), so a step allocates one whole-tensor temporary. The moments accumulate the full gradient of
    every element (also of pruned / dormant weights), as in the originals."""
    beta1, beta2 = group["betas"]
    if group["weight_decay"]:
        grad = grad.add(p, alpha=group["weight_decay"])
    state["step"] += 1
    t = float(state["step"])
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m.mul_(beta1).add_(grad, alpha=1 - beta1)
    v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    denom = v.sqrt().div_(math.sqrt(1 - beta2 ** t)).add_(group["eps"])
    return denom, group["lr"] / (1 - beta1 ** t)


def init_sign_state(p: torch.Tensor, state: dict) -> None:
    """A fresh parameter's state: Adam's step and moments, and the fixed sign of its weight (Grad R and Deep R
    keep w = sign * strength; the sign never changes while the connection lives)."""
    state["step"] = torch.zeros((), dtype=torch.float64)
    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    state["sign"] = torch.sign(p.detach())
