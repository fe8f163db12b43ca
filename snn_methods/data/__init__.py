"""Data sets: each `dataset/` option builds a DataBundle of train / val / test loaders."""
from snn_methods.data.bundle import DataBundle, LoaderSettings

__all__ = ["DataBundle", "LoaderSettings"]
