"""Pruning methods plug into `build` (model preparation, optimizer) and the engine (after each step)."""
from snn_methods.pruning.base import NoPruning, PruningMethod
from snn_methods.pruning.selection import prunable_layers

__all__ = ["PruningMethod", "NoPruning", "prunable_layers"]
