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


class StepWiseBatchNorm(nn.Module):
    """One BatchNorm (with its own affine weight and bias and running statistics) per time step: ASGL's 'bntt'
    (its TemporalBN with step_wise=True). SpikingJelly's BatchNormThroughTime drops the bias, so it differs."""

    def __init__(self, make_bn, T: int):
        super().__init__()
        self.bns = nn.ModuleList(make_bn() for _ in range(T))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != len(self.bns):
            from snn_methods.errors import ConfigError

            raise ConfigError(f"this step-wise BatchNorm was built for T={len(self.bns)} but got {x.shape[0]} steps")
        return torch.stack([bn(x[t]) for t, bn in enumerate(self.bns)])


BN_TYPES = ("tdbn", "bntt", "per_step", "none")


def batch_norm_2d(kind: str, channels: int, T: int) -> nn.Module:
    """The BatchNorm variants of ASGL's models (spec dsr_asgl.md B.5), on [T, N, C, H, W]:
    tdbn      plain BatchNorm2d over the merged T*N batch, weight 1 (what ASGL's 'tdbn' really runs: no V_th scaling)
    bntt      one BatchNorm2d per time step (with bias)
    per_step  one BatchNorm2d applied to every step separately (per-step statistics; ASGL ResNet's bn_type '')
    none      no normalisation"""
    if kind == "tdbn":
        return SeqToANN(nn.BatchNorm2d(channels))
    if kind == "bntt":
        return StepWiseBatchNorm(lambda: nn.BatchNorm2d(channels), T)
    if kind == "per_step":
        return PerStepBatchNorm(nn.BatchNorm2d(channels))
    if kind == "none":
        return nn.Identity()
    from snn_methods.errors import ConfigError

    raise ConfigError(f"model.bn_type={kind!r} is invalid: must be one of {', '.join(BN_TYPES)}")
