"""ASGL's LIF neuron (spec dsr_asgl.md B.3), multi-step: [T, N, ...] -> [T, N, ...].

    v_0 = 0
    v_t = sigmoid(d) v_{t-1} + I_t          leak lambda = sigmoid(d), d = logit(decay); NO (1 - lambda) input scaling
    y_t = hybrid_spike(v_t - theta)          fires when v_t >= theta (inclusive); analog where the noise mask says so
    v_t = v_t (1 - y_t) + v_reset y_t        hard reset through the HYBRID y_t, not detached (v_reset=None: soft,
                                             v_t - theta y_t)
    out_t = y_t theta

Each neuron built by the factory has its own decay, threshold and hybrid spike (width and noise mask), as the
original deep-copies them per layer. Learned decay / threshold / width are NeuronParameters (ASGL's recipe trains
them with a separate optimizer); a learned threshold is clamped to >= 0 in place before every forward.

The potential is kept between calls (a SpikingJelly memory, cleared by `functional.reset_net`), so a model run one
time step per call (method.step_mode=s) integrates over time exactly as one call on [T, N, ...] does; the original
only runs multi-step, from v = 0 after every reset.
"""
from __future__ import annotations

import math

import torch
from spikingjelly.activation_based import base

from snn_methods.asgl.surrogate import SMOOTH_FUNCTIONS, HybridSpike
from snn_methods.neurons.parameters import NeuronParameter


class ASGLLIFNode(base.MemoryModule):
    step_mode = "m"
    # the composition contract (snn_methods/compat.py): 's'-mode calls continue the potential; surrogate by name
    carries_state = True
    named_surrogates = SMOOTH_FUNCTIONS

    def __init__(self, surrogate: str = "mns_sig", width: float = 1.0, train_width: bool = True,
                 granularity: str = "layer", decay: float = 0.5, train_decay: bool = False, v_threshold: float = 1.0,
                 train_thresh: bool = False, v_reset: float | None = 0.0, p: float = 0.0):
        super().__init__()
        if not (isinstance(decay, (int, float)) and 0.0 < decay < 1.0):
            raise ValueError(f"decay={decay!r} is invalid: must be in (0, 1) (it is stored as its logit)")
        if not (isinstance(v_threshold, (int, float)) and v_threshold > 0):
            raise ValueError(f"v_threshold={v_threshold!r} is invalid: must be a number > 0")
        self.register_memory("v", 0.0)
        self.surrogate_function = HybridSpike(surrogate, width, train_width, granularity, p)
        self.v_reset = None if v_reset is None else float(v_reset)
        self.train_decay, self.train_thresh = bool(train_decay), bool(train_thresh)
        logit = torch.tensor(math.log(decay / (1.0 - decay)), dtype=torch.float32)
        theta = torch.tensor(float(v_threshold), dtype=torch.float32)
        # fixed values are non-persistent buffers: the config, not a checkpoint, says what they are
        if self.train_decay:
            self.decay_logit = NeuronParameter(logit)
        else:
            self.register_buffer("decay_logit", logit, persistent=False)
        if self.train_thresh:
            self.v_threshold = NeuronParameter(theta)
        else:
            self.register_buffer("v_threshold", theta, persistent=False)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if self.train_thresh:
            with torch.no_grad():
                self.v_threshold.clamp_(min=0.0)
        leak, theta = torch.sigmoid(self.decay_logit), self.v_threshold
        v = self.v
        out = []
        for x in x_seq:
            v = leak * v + x
            y = self.surrogate_function(v - theta)
            v = v - theta * y if self.v_reset is None else v * (1 - y) + self.v_reset * y
            out.append(y * theta)
        self.v = v
        return torch.stack(out)

    @property
    def decay(self) -> float:
        return float(torch.sigmoid(self.decay_logit.detach()))

    def extra_repr(self) -> str:
        return (f"decay={self.decay:.4g}, train_decay={self.train_decay}, v_threshold={float(self.v_threshold):.4g}, "
                f"train_thresh={self.train_thresh}, v_reset={self.v_reset}")
