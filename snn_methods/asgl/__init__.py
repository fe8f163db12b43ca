"""ASGL: adaptive smoothing gradient learning (Wang et al., ICML 2023; spec dsr_asgl.md part B).

- `HybridSpike`: the hybrid noisy spike with a learnable smooth function (a surrogate any neuron can use);
- `ASGLLIFNode`: ASGL's LIF neuron around it;
- `NoiseSchedule`: the engine callback that decays the noise probability p at milestone epochs;
- `DummyForward`: the original's train-mode forward of one sample before training (opt-in, for its side effects).
The models (asgl_resnet18, asgl_resnet19, asgl_vggsnn) are in snn_methods.models.asgl, the two-optimizer recipe in
snn_methods.engine.optimizers, the TET loss in snn_methods.losses, Cutout in snn_methods.data.augment.
"""
from snn_methods.asgl.neuron import ASGLLIFNode
from snn_methods.asgl.schedule import NoiseSchedule, learned_values, milestone_epochs
from snn_methods.asgl.surrogate import GRANULARITIES, SMOOTH_FUNCTIONS, HybridSpike, hybrid_spikes, set_noise_probability
from snn_methods.asgl.warmup import DummyForward

__all__ = ["HybridSpike", "ASGLLIFNode", "NoiseSchedule", "SMOOTH_FUNCTIONS", "GRANULARITIES", "hybrid_spikes",
           "set_noise_probability", "milestone_epochs", "learned_values", "DummyForward"]
