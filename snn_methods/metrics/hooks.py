"""Base for probes that measure layers with forward hooks during an evaluation loop."""
from __future__ import annotations

from typing import Callable, Iterable

import torch.nn as nn


class HookProbe:
    """Context manager: on enter, hooks every (name, module) from `layers()` with `_hook(name)` after calling
    `_start(name)`; on exit, removes the hooks, so a probe never outlives its evaluation."""

    def __init__(self, model: nn.Module):
        self.model = model
        self._handles: list = []

    def layers(self) -> Iterable[tuple[str, nn.Module]]:
        raise NotImplementedError

    def _start(self, name: str) -> None:
        raise NotImplementedError

    def _hook(self, name: str) -> Callable:
        raise NotImplementedError

    def __enter__(self):
        for name, module in self.layers():
            self._start(name)
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
