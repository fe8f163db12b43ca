"""The deterministic data generator of spec pruning.md 9.0 (an exact integer hash), so that tests feed the
networks the same inputs and weights as the runs of the original code that produced the golden values."""
from __future__ import annotations

import functools
import math

import torch

MASK32 = (1 << 32) - 1


def uniform(n: int, salt: int) -> torch.Tensor:
    """n float64 values in [0, 1): h = (i * 2654435761 + salt * 40503) mod 2^32, mixed with xor-shift-multiply
    (int64 arithmetic never overflows here: h < 2^32 and both multipliers < 2^32)."""
    h = torch.arange(n, dtype=torch.int64).mul_(2654435761).add_(salt * 40503).bitwise_and_(MASK32)
    for _ in range(2):
        h.bitwise_xor_(h >> 16).mul_(73244475).bitwise_and_(MASK32)
    h.bitwise_xor_(h >> 16)
    return h.to(torch.float64).div_(2 ** 32)


@functools.lru_cache(maxsize=32)
def _filled(shape: tuple[int, ...], salt: int, gain: float) -> torch.Tensor:
    fan_in = math.prod(shape[1:])
    return (gain * math.sqrt(3.0 / fan_in) * (2 * uniform(math.prod(shape), salt) - 1)).view(shape)


def fill_(weight: torch.Tensor, salt: int, gain: float) -> torch.Tensor:
    """weight.flat = gain * sqrt(3 / fan_in) * (2 u - 1), row-major; fan_in = weight[0].numel() (cached: the
    CIFAR-10 tests fill the same 33.5 M-weight FC layer several times)."""
    with torch.no_grad():
        weight.copy_(_filled(tuple(weight.shape), salt, float(gain)).to(weight.dtype))
    return weight


def input_(shape: tuple[int, ...], salt: int, amp: float) -> torch.Tensor:
    return (amp * (2 * uniform(math.prod(shape), salt) - 1)).view(shape)
