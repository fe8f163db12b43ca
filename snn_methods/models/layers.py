"""Multi-step building blocks shared by the models ([T, N, ...] tensors throughout)."""
from __future__ import annotations

import torch
import torch.nn as nn


class SeqStem(nn.Sequential):
    """Stateless modules applied to [T, N, ...] by folding T into the batch.

    When the time axis is a broadcast view (the direct encoder repeats a static image with `expand`), the
    modules run once on one copy and the result is broadcast over T: the originals' "static encoder" layer,
    whose BatchNorm sees the N images once (one running-statistics update) at 1/T of the cost.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2 and x.stride(0) == 0:
            y = super().forward(x[0])
            return y.unsqueeze(0).expand(x.shape[0], *y.shape)
        y = super().forward(x.flatten(0, 1))
        return y.view(x.shape[0], x.shape[1], *y.shape[1:])


class SeqToANN(nn.Sequential):
    """Stateless modules applied to [T, N, ...] with T folded into the batch (statistics over T*N)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x.flatten(0, 1))
        return y.view(x.shape[0], x.shape[1], *y.shape[1:])


class PerStepBatchNorm(nn.Module):
    """BatchNorm applied to each time step separately (statistics over N; running stats updated T times),
    as a single-step network that loops over T normalises (Grad R's CIFAR-10 net)."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm):
        super().__init__()
        self.bn = bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.bn(x[t]) for t in range(x.shape[0])])


def time_batch_norm(bn: nn.modules.batchnorm._BatchNorm, bn_time: str) -> nn.Module:
    """`merged`: statistics over T*N (multi-step nets); `per_step`: one normalisation per time step."""
    if bn_time == "merged":
        return SeqToANN(bn)
    if bn_time == "per_step":
        return PerStepBatchNorm(bn)
    from snn_methods.errors import ConfigError

    raise ConfigError(f"model.bn_time={bn_time!r} is invalid: must be merged or per_step")


class Voting(nn.Module):
    """Mean over consecutive groups of `size` output neurons: [.., C * size] -> [.., C]."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:-1], x.shape[-1] // self.size, self.size).mean(-1)


class FlattenSeq(nn.Module):
    """[T, N, ...] -> [T, N, features]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2)
