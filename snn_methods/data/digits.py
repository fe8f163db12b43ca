"""scikit-learn's bundled 8x8 handwritten digits: the default data set (no download)."""
from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from snn_methods.data.bundle import DataBundle, LoaderSettings, make_loaders, stratified_split


def digits(*, name: str = "digits", val_fraction: float = 0.2, test_fraction: float = 0.2, split_seed: int = 0,
           normalize: bool = True, loader: LoaderSettings = LoaderSettings()) -> DataBundle:
    from sklearn.datasets import load_digits

    x_np, y_np = load_digits(return_X_y=True)
    x = torch.tensor(x_np, dtype=torch.float32).view(-1, 1, 8, 8) / 16.0   # pixel values 0..16 -> [0, 1]
    y = torch.tensor(y_np, dtype=torch.long)
    rest, test_idx = stratified_split(y, test_fraction, split_seed)
    # val_fraction is a fraction of the whole set, taken from what the test split left
    train_pos, val_pos = stratified_split(y[rest], val_fraction / (1 - test_fraction), split_seed)
    train_idx, val_idx = [rest[i] for i in train_pos], [rest[i] for i in val_pos]
    if normalize:
        mean, std = x[train_idx].mean(), x[train_idx].std()
        x = (x - mean) / std
    parts = [TensorDataset(x[idx], y[idx]) for idx in (train_idx, val_idx, test_idx)]
    train, val, test = make_loaders(*parts, loader, num_workers=0)
    return DataBundle(name, train, val, test, num_classes=10, input_shape=(1, 8, 8),
                      info={"name": name, "split": f"stratified val {val_fraction} test {test_fraction} seed {split_seed}",
                            "sizes": {"train": len(train_idx), "val": len(val_idx), "test": len(test_idx)}})
