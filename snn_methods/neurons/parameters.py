"""A spiking neuron marks its own parameters (surrogate widths, leaks, thresholds) by creating them as
`NeuronParameter`, so that optimizers can treat them apart from synaptic weights (ASGL, spec dsr_asgl.md B.9).
The mark is the class, not an attribute: it survives `deepcopy`, `.to()` and `load_state_dict`."""
from __future__ import annotations

import torch.nn as nn


class NeuronParameter(nn.Parameter):
    """A parameter of a spiking neuron (not a synaptic weight): optimizers may give it its own settings."""


class UninitializedNeuronParameter(nn.UninitializedParameter):
    """A lazily shaped NeuronParameter (torch lazy-module protocol): becomes a NeuronParameter on materialize."""

    cls_to_become = NeuronParameter
