"""Turning a batch from the loader into the [T, N, ...] input of a multi-step model."""
from __future__ import annotations

import torch


class DirectEncoder:
    """Static images: repeated over T as a broadcast view (no copy; models run their first layer once on it).
    Event data ([N, T, ...] frames): moved to [T, N, ...]."""

    def __init__(self, T: int, temporal: bool = False):
        self.T, self.temporal = T, temporal

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.temporal:
            if x.shape[1] != self.T:
                from snn_methods.errors import ConfigError

                raise ConfigError(f"T={self.T} but the data set gives {x.shape[1]} frames per sample: set both equal")
            return x.transpose(0, 1)
        return x.unsqueeze(0).expand(self.T, *x.shape)


class PoissonEncoder:
    """Rate coding: at every step each input element spikes with probability equal to its value in [0, 1]."""

    def __init__(self, T: int, temporal: bool = False):
        if temporal:
            from snn_methods.errors import ConfigError

            raise ConfigError("encoder=poisson is for static images; event data sets are already spikes (encoder=direct)")
        self.T = T

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        p = x.clamp(0, 1).unsqueeze(0).expand(self.T, *x.shape)
        return torch.bernoulli(p)
