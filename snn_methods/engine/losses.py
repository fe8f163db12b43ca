"""Losses on the model output [T, N, C]. The decoded prediction is always the time average (rate)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def rate(out: torch.Tensor) -> torch.Tensor:
    """[T, N, C] -> [N, C]: the time-averaged output (firing rate, or mean logits)."""
    return out.mean(0)


class RateCrossEntropy:
    """Cross-entropy of the time-averaged output."""

    time_average_only = True   # a function of the time average alone (what rate-BP's rate pass can give)

    def __call__(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(rate(out), target)


class RateMSE:
    """MSE between the time-averaged output and the one-hot label, mean over batch x classes (Grad R, STDS)."""

    time_average_only = True

    def __call__(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        r = rate(out)
        return F.mse_loss(r, F.one_hot(target, r.shape[-1]).to(r.dtype))
