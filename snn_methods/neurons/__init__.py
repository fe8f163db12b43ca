"""Neurons enter models as factories: `neuron()` returns a fresh multi-step module [T, N, ...] -> [T, N, ...]."""
from snn_methods.neurons.factory import NeuronFactory, is_spiking_neuron, spiking_neurons

__all__ = ["NeuronFactory", "is_spiking_neuron", "spiking_neurons"]
