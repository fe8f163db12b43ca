"""Random data of any shape and class count, for benchmarks and tests (learnable: one mean pattern per class)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch.utils.data import TensorDataset

from snn_methods.data.bundle import DataBundle, LoaderSettings, make_loaders


def synthetic(*, name: str = "synthetic", shape: Sequence[int] = (3, 32, 32), num_classes: int = 10,
              train_size: int = 512, val_size: int = 128, test_size: int = 128, temporal: bool = False,
              frames: int = 4, noise: float = 1.0, data_seed: int = 0,
              loader: LoaderSettings = LoaderSettings()) -> DataBundle:
    g = torch.Generator().manual_seed(data_seed)
    sample_shape = (frames, *shape) if temporal else tuple(shape)
    centres = torch.randn(num_classes, *sample_shape, generator=g)

    def make(n: int) -> TensorDataset:
        y = torch.randint(0, num_classes, (n,), generator=g)
        x = centres[y] + noise * torch.randn(n, *sample_shape, generator=g)
        if temporal:  # event frames are non-negative counts
            x = (x > 1).float()
        return TensorDataset(x, y)

    train, val, test = make_loaders(make(train_size), make(val_size), make(test_size), loader, num_workers=0)
    return DataBundle(name, train, val, test, num_classes=num_classes, input_shape=tuple(shape), temporal=temporal,
                      info={"name": name, "split": f"generated, data_seed {data_seed}",
                            "sizes": {"train": train_size, "val": val_size, "test": test_size}})
