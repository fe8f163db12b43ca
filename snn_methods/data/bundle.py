"""What every data set hands to the engine, and how its loaders are made."""
from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset


@dataclasses.dataclass
class LoaderSettings:
    """Passed by `build` to every dataset function: how to batch, where to pin, which seed orders the data."""

    batch_size: int = 32
    eval_batch_size: int | None = None
    seed: int = 0
    num_workers: int = 0
    pin_memory: bool = False


class EpochSeededLoader(DataLoader):
    """A shuffling DataLoader whose order depends only on (seed, epoch): `set_epoch(e)` before iterating.

    Resuming at epoch e therefore sees the same batches as an uninterrupted run, without storing the
    generator's state, and every sweep job with the same seed sees the same order."""

    def __init__(self, dataset: Dataset, seed: int, **kwargs: Any):
        self._seed = seed
        super().__init__(dataset, shuffle=True, generator=torch.Generator().manual_seed(seed), **kwargs)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self._seed * 100_003 + epoch)


@dataclasses.dataclass
class DataBundle:
    name: str
    train: DataLoader
    val: DataLoader
    test: DataLoader
    num_classes: int
    input_shape: tuple[int, ...]      # one sample, without time: (C, H, W) or (features,)
    temporal: bool = False             # True: samples are [T, ...] frame sequences
    info: dict = dataclasses.field(default_factory=dict)   # identity: name, split, sizes (goes to results.json)


def make_loaders(train: Dataset, val: Dataset, test: Dataset, settings: LoaderSettings,
                 num_workers: int | None = None) -> tuple[DataLoader, DataLoader, DataLoader]:
    workers = settings.num_workers if num_workers is None else num_workers
    common = dict(num_workers=workers, pin_memory=settings.pin_memory, persistent_workers=workers > 0)
    eval_bs = settings.eval_batch_size or max(settings.batch_size, 256)
    train_loader = EpochSeededLoader(train, settings.seed, batch_size=settings.batch_size, drop_last=False, **common)
    return (train_loader,
            DataLoader(val, batch_size=eval_bs, shuffle=False, **common),
            DataLoader(test, batch_size=eval_bs, shuffle=False, **common))


def stratified_split(labels: torch.Tensor | list[int], holdout: int | float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (keep, holdout), class-stratified and fixed by `seed` (the split never depends on the run's seed)."""
    from sklearn.model_selection import train_test_split

    labels = [int(y) for y in labels]
    keep, out = train_test_split(list(range(len(labels))), test_size=holdout, stratify=labels, random_state=seed)
    return sorted(keep), sorted(out)
