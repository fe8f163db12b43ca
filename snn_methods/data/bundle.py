"""What every data set hands to the engine, and how its loaders are made."""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


@dataclasses.dataclass
class LoaderSettings:
    """Passed by `build` to every dataset function: how to batch, where to pin, which seed orders the data."""

    batch_size: int = 32              # per process: the global batch divided by world_size
    eval_batch_size: int | None = None
    seed: int = 0
    num_workers: int = 0
    pin_memory: bool = False
    rank: int = 0                     # this process's share of the data (DistributedDataParallel)
    world_size: int = 1


class EpochSeededSampler(Sampler[int]):
    """The training order: a permutation fixed by (seed, epoch) only, split between the processes of a DDP run.

    With world_size W the permutation is padded (by repeating its start) to a multiple of W and rank r takes
    every W-th index from r, so that batch k of all ranks together holds exactly the samples of batch k of a
    one-process run with a W times larger batch. `set_epoch(e, start)` skips this rank's first `start`
    samples: a run resumed mid-epoch continues with the very next batch, without reading the skipped ones."""

    def __init__(self, size: int, seed: int, rank: int = 0, world_size: int = 1):
        self.size, self.seed, self.rank, self.world_size = size, seed, rank, world_size
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def permutation(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        # one draw first, as a shuffling DataLoader makes before its sampler's: one process keeps the order a
        # DataLoader(shuffle=True, generator=g) gives (the order of runs made before DDP support)
        torch.empty((), dtype=torch.int64).random_(generator=g)
        return torch.randperm(self.size, generator=g).tolist()

    def __iter__(self) -> Iterator[int]:
        order = self.permutation()
        if self.world_size > 1:
            per_rank = math.ceil(self.size / self.world_size)
            order = (order * 2)[:per_rank * self.world_size][self.rank::self.world_size]
        return iter(order[self.start:])

    def __len__(self) -> int:
        return math.ceil(self.size / self.world_size) - self.start


class ShardSampler(Sampler[int]):
    """Evaluation under DDP: rank r takes samples r, r + W, ... in order, without padding, so that sums over
    the ranks count every sample exactly once."""

    def __init__(self, size: int, rank: int, world_size: int):
        self.indices = list(range(rank, size, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class EpochSeededLoader(DataLoader):
    """A shuffling DataLoader whose order depends only on (seed, epoch): `set_epoch(e)` before iterating.

    Resuming at epoch e therefore sees the same batches as an uninterrupted run, without storing the
    generator's state, and every sweep job with the same seed sees the same order (see EpochSeededSampler;
    `set_epoch(e, start_batch=k)` starts at the k-th batch, for a run resumed mid-epoch)."""

    def __init__(self, dataset: Dataset, seed: int, rank: int = 0, world_size: int = 1, **kwargs: Any):
        self._seed = seed
        super().__init__(dataset, sampler=EpochSeededSampler(len(dataset), seed, rank, world_size),
                         generator=torch.Generator().manual_seed(seed), **kwargs)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.sampler.set_epoch(epoch, start_batch * self.batch_size)
        self.generator.manual_seed(self._seed * 100_003 + epoch)   # worker seeds, when there are workers


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
    rank, world = settings.rank, settings.world_size
    train_loader = EpochSeededLoader(train, settings.seed, rank, world, batch_size=settings.batch_size,
                                     drop_last=False, **common)

    def evaluation(data: Dataset) -> DataLoader:
        shard = ShardSampler(len(data), rank, world) if world > 1 else None
        return DataLoader(data, batch_size=eval_bs, shuffle=False, sampler=shard, **common)
    return train_loader, evaluation(val), evaluation(test)


def stratified_split(labels: torch.Tensor | list[int], holdout: int | float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (keep, holdout), class-stratified and fixed by `seed` (the split never depends on the run's seed)."""
    from sklearn.model_selection import train_test_split

    labels = [int(y) for y in labels]
    keep, out = train_test_split(list(range(len(labels))), test_size=holdout, stratify=labels, random_state=seed)
    return sorted(keep), sorted(out)
