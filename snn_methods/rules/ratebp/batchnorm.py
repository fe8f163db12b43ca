"""Batch norm under rate-BP (spec ratebp.md 4.3).

Spike pass: every BatchNorm that normalises with batch statistics runs as usual (its running statistics are
updated there, and only there) and its batch mean / biased variance are recorded, per call.
Rate pass: the BatchNorm is replaced by

    m~ = mu_s + (m - sg(m)),   v~ = relu(var_s + (v - sg(v))),   y = gamma (x - m~) / sqrt(v~ + eps) + beta

with m, v the mean and biased variance of the rate batch x (reduced over every dim but the channel dim 1):
the forward value is BatchNorm with the spike pass's statistics (the time mean of the spike-pass outputs, since
BN with fixed statistics is affine), the backward is the train-mode BatchNorm Jacobian through the rate batch.
It is one autograd Function that keeps only x_hat for backward; its gradient is

    dx = (g - mean(g) - mean(g x_hat) (x_hat - mean(x_hat))) / sqrt(var_s + eps),   g = gamma dy,

(the last factor drops where var_s = 0, as relu' does); mean(x_hat) is not 0 because the rate batch is not the
batch the statistics came from.

Statistics when a BatchNorm ran several times in the spike pass (single-step mode, or a per-step BN):
default (the original's intent): mean = average of the per-step means, variance such that var + eps is the
harmonic mean of the per-step (var_t + eps), eps counted once. `compat_last_step` reproduces what the original's
single-step code actually does: the last step's mean and var_t + eps, with eps added again by the rate BN.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn


def uses_batch_stats(bn: nn.modules.batchnorm._BatchNorm) -> bool:
    """As torch decides: training mode, or no running statistics to use."""
    return bn.training or (bn.running_mean is None and bn.running_var is None)


def _dims(x: torch.Tensor) -> list[int]:
    return [0] + list(range(2, x.dim()))


def _wide(x: torch.Tensor) -> torch.Tensor:
    """x in float32 at least (half-precision inputs under autocast are normalised in float32)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _slice_rows(x: torch.Tensor, elements: int = 1 << 20) -> int:
    """Rows of x per slice so that a slice holds about `elements` values (at least one row)."""
    return max(1, elements // max(1, x[0].numel()))


class BatchStats:
    """The batch statistics one BatchNorm saw in the spike pass, one entry per call."""

    def __init__(self) -> None:
        self.means: list[torch.Tensor] = []
        self.vars: list[torch.Tensor] = []

    def record(self, x: torch.Tensor) -> None:
        """Mean and biased variance per channel, two-pass (on the CPU twice as fast as torch.var_mean here); the
        centred copy is made a slice of the batch at a time, so that recording adds no [T*N, ...] tensor to the
        spike pass's peak memory."""
        x, dims = x.detach(), _dims(x)
        mean = x.mean(dims, dtype=torch.promote_types(x.dtype, torch.float32))
        shape = (1, -1) + (1,) * (x.dim() - 2)
        square_sum = torch.zeros_like(mean)
        for part in x.split(_slice_rows(x)):
            centred = _wide(part) - mean.view(shape)
            square_sum += centred.mul_(centred).sum(dims)
        self.means.append(mean)
        self.vars.append(square_sum / (x.numel() // x.shape[1]))

    def combined(self, eps: float, compat_last_step: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.means:
            raise RuntimeError("rate-BP: a BatchNorm runs in the rate pass that did not run in the spike pass")
        if len(self.means) == 1:
            return self.means[0], self.vars[0]
        if compat_last_step:
            return self.means[-1], self.vars[-1] + eps
        mean = torch.stack(self.means).mean(0)
        harmonic = 1.0 / torch.stack([1.0 / (v + eps) for v in self.vars]).mean(0)
        return mean, (harmonic - eps).clamp_min(0.0)


class _RateBatchNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                mean: torch.Tensor, var: torch.Tensor, eps: float) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        inv_std = torch.rsqrt(var + eps)
        x_hat = (_wide(x) - mean.view(shape)) * inv_std.view(shape)
        y = x_hat
        if weight is not None:
            y = y * _wide(weight).view(shape) + _wide(bias).view(shape)
        ctx.save_for_backward(x_hat.to(x.dtype), weight, inv_std, (var > 0).float())
        ctx.input_dtype = x.dtype
        return y.to(x.dtype)

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> tuple:
        x_hat, weight, inv_std, var_positive = ctx.saved_tensors
        shape = (1, -1) + (1,) * (dy.dim() - 2)
        dims = _dims(dy)
        dy, x_hat = _wide(dy), _wide(x_hat)
        g = dy * _wide(weight).view(shape) if weight is not None else dy
        centred = x_hat - x_hat.mean(dims, keepdim=True)
        slope = (g * x_hat).mean(dims, keepdim=True) * var_positive.view(shape)
        dx = (g - g.mean(dims, keepdim=True) - slope * centred) * inv_std.view(shape)
        d_weight = d_bias = None
        if weight is not None:
            d_weight = (dy * x_hat).sum(dims).to(weight.dtype)
            d_bias = dy.sum(dims).to(weight.dtype)
        return dx.to(ctx.input_dtype), d_weight, d_bias, None, None, None


def rate_batch_norm(bn: nn.modules.batchnorm._BatchNorm, x: torch.Tensor, mean: torch.Tensor,
                    var: torch.Tensor) -> torch.Tensor:
    """The rate-pass BatchNorm of `bn` on x [N, C, ...] with the recorded statistics (running stats untouched)."""
    return _RateBatchNorm.apply(x, bn.weight, bn.bias, mean, var, bn.eps)
