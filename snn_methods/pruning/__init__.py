"""Pruning methods plug into `build` (model preparation, optimizer) and the engine (after each step).

Optimizers usable alone: GradRewiring, DeepRewiring (and stds.STDSAdam / stds.STDSSGD); the reparameterisation
and schedules of STDS: the `stds` module. The PruningMethod classes (GradRewire, DeepRewire, STDS) wire them into
a run from conf/pruning/*.yaml."""
from snn_methods.pruning import stds
from snn_methods.pruning.base import NoPruning, PruningMethod
from snn_methods.pruning.deep_rewiring import DeepRewiring
from snn_methods.pruning.grad_rewiring import GradRewiring
from snn_methods.pruning.methods import STDS, DeepRewire, GradRewire, LayerPruning
from snn_methods.pruning.selection import exclude_layers, prunable_layers

__all__ = ["PruningMethod", "NoPruning", "LayerPruning", "GradRewire", "DeepRewire", "STDS", "GradRewiring",
           "DeepRewiring", "stds", "prunable_layers", "exclude_layers"]
