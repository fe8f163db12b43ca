"""Train / test split rules for event data sets without an official split (CIFAR10-DVS).

Both rules work on the samples of a data set listed class by class, each class in the order of the number in its
file names (`cifar10_<class>_<i>`); they return positions in that list.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

_TRAILING_INT = re.compile(r"(\d+)$")


def file_index(stem: str) -> int | None:
    """The sample number at the end of a file name: `cifar10_airplane_17` -> 17 (None if there is none)."""
    match = _TRAILING_INT.search(stem)
    return int(match.group(1)) if match else None


def split_first(indices: Sequence[int], boundary: int = 900) -> tuple[list[int], list[int]]:
    """DSR's split: in every class, the files numbered 0..boundary-1 train and the others test (the original
    takes `int(0.9 * 1000)` = 900, so 900 / 100 per class and 9000 / 1000 in all). Deterministic."""
    train = [pos for pos, i in enumerate(indices) if i < boundary]
    test = [pos for pos, i in enumerate(indices) if i >= boundary]
    return train, test


def split_random(labels: Sequence[int], train_ratio: float = 0.9, seed: int = 0) -> tuple[list[int], list[int]]:
    """ASGL's split (`random_spilt` in util/data.py): for each class in turn, a permutation of its n files drawn
    from one numpy generator, and the files at the first int(n * train_ratio) permuted positions train.

    The original walks the folders with os.walk (file-system order, so its split differs between machines) and
    draws from numpy's global generator, seeded with the run's seed; here the files are in number order and the
    generator is np.random.RandomState(seed) with seed = `dataset.split_seed`, so the split is the same everywhere
    and does not move with the run's seed unless asked (`dataset.split_seed=${seed}`)."""
    rng = np.random.RandomState(seed)
    train: list[int] = []
    for label in sorted(set(labels)):
        members = [pos for pos, y in enumerate(labels) if y == label]
        chosen = rng.permutation(len(members))[: int(len(members) * train_ratio)]
        train.extend(members[j] for j in chosen)
    train_set = set(train)
    return sorted(train), [pos for pos in range(len(labels)) if pos not in train_set]
