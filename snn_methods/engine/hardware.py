"""Device choice, seeding and determinism."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

from snn_methods.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"hardware.device={name!r} but no CUDA device is visible: use hardware=cpu (or hardware=auto)")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # all devices


def configure(device: torch.device, *, deterministic: bool, cudnn_benchmark: bool = False,
              num_threads: int | None = None) -> None:
    if num_threads:
        torch.set_num_threads(num_threads)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = bool(cudnn_benchmark) and not deterministic
        torch.backends.cudnn.deterministic = deterministic
    # On CUDA a few backward kernels (pooling, index_add) have no deterministic version: warn, do not crash.
    torch.use_deterministic_algorithms(deterministic, warn_only=device.type == "cuda")
    # Deterministic mode also fills every new tensor with NaN (to expose reads of uninitialised memory), ~4 % of a
    # CPU step. Determinism and exact resume come from the kernels; the suite never reads memory it did not write.
    torch.utils.deterministic.fill_uninitialized_memory = False
