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


class TET:
    """Temporal efficient training loss (Deng et al., ICLR 2022) as ASGL's DVS main uses it (spec dsr_asgl.md
    B.7): (1 - lamb) x the mean over t of CE(out_t, y) + lamb x MSE(out, means) over all T*N*C entries.
    Prediction stays the argmax of the time mean."""

    def __init__(self, lamb: float = 1e-3, means: float = 1.0):
        if not 0.0 <= lamb <= 1.0:
            from snn_methods.errors import ConfigError

            raise ConfigError(f"loss.lamb={lamb!r} is invalid: must be in [0, 1]")
        self.lamb, self.means = float(lamb), float(means)

    def __call__(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        from spikingjelly.activation_based.functional import temporal_efficient_training_cross_entropy

        ce = temporal_efficient_training_cross_entropy(out, target)
        if self.lamb == 0.0:
            return ce
        return (1.0 - self.lamb) * ce + self.lamb * F.mse_loss(out, torch.full_like(out, self.means))
