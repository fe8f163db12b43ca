"""Confusion matrix and per-class accuracy of an evaluation, with the prediction the engine uses everywhere:
the argmax of the time-averaged output (`snn_methods.losses.rate`).

A forward hook on the model records the predictions; `track(loader)` wraps the loader so that the labels of
the same batches are recorded in the same order. `engine.loop.evaluate` runs unchanged around both.
"""
from __future__ import annotations

from typing import Any, Iterator

import torch
import torch.nn as nn

from snn_methods.losses import rate


class ConfusionProbe:
    """Context manager; `matrix()[i, j]` counts samples of class i predicted as class j."""

    def __init__(self, model: nn.Module, num_classes: int):
        self.model, self.num_classes = model, num_classes
        self.predictions: list[torch.Tensor] = []
        self.labels: list[torch.Tensor] = []
        self._handle: Any = None

    def __enter__(self) -> "ConfusionProbe":
        self._handle = self.model.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self.predictions.append(rate(output).argmax(1).detach().cpu())

    def track(self, loader: Any) -> "_LabelTap":
        return _LabelTap(loader, self.labels)

    def matrix(self) -> torch.Tensor:
        y = torch.cat(self.labels) if self.labels else torch.zeros(0, dtype=torch.long)
        p = torch.cat(self.predictions) if self.predictions else torch.zeros(0, dtype=torch.long)
        if y.numel() != p.numel():
            raise RuntimeError(f"ConfusionProbe saw {y.numel()} labels but {p.numel()} predictions: "
                               f"the model must run once per batch of the tracked loader")
        c = self.num_classes
        return torch.bincount(y.long() * c + p.long(), minlength=c * c).view(c, c)

    def per_class_accuracy(self) -> list[float | None]:
        """Recall of every class (None for a class without samples in the evaluated batches)."""
        m = self.matrix()
        support = m.sum(1)
        return [float(m[i, i]) / int(support[i]) if support[i] else None for i in range(self.num_classes)]


class _LabelTap:
    """The loader, unchanged, recording the labels of every batch it hands out."""

    def __init__(self, loader: Any, sink: list):
        self.loader, self.sink = loader, sink

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        for x, y in self.loader:
            self.sink.append(y.detach().cpu())
            yield x, y
