"""ASGL's noise-probability schedule (spec dsr_asgl.md B.4) as an engine callback.

Milestone epochs are int(m * epochs) for each fraction m (default [0, 0.2, 0.4, 0.6, 0.8, 0.95]: epochs 0, 60,
120, 180, 240, 285 of 300). After epoch e (0-based; after training, the LR step and the evaluation), if e is a
milestone, p <- p * gamma (once, even where two fractions give the same epoch) and the new p is written into every
hybrid spike of the model. So with p0 = 0.2, gamma = 0.5: epoch 0 trains with 0.2, epochs 1-60 with 0.1, ...
gamma = 1 (both README commands) keeps p constant.

The current p is checkpointed, so a resumed run continues the schedule where it stopped (the original compares
e with milestone + start_epoch and so shifts its milestones on resume; not reproduced).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch.nn as nn

from snn_methods.asgl.surrogate import HybridSpike, check_noise_probability, hybrid_spikes, set_noise_probability
from snn_methods.engine.callbacks import Callback

if TYPE_CHECKING:
    from snn_methods.engine.experiment import Experiment

DEFAULT_MILESTONES = (0.0, 0.2, 0.4, 0.6, 0.8, 0.95)


def check_schedule(gamma: float, milestones: Sequence[float]) -> None:
    if not (isinstance(gamma, (int, float)) and not isinstance(gamma, bool) and gamma > 0):
        raise ValueError(f"gamma={gamma!r} is invalid: must be a number > 0")
    bad = [m for m in milestones if not (isinstance(m, (int, float)) and not isinstance(m, bool) and 0 <= m <= 1)]
    if bad:
        raise ValueError(f"milestones {list(milestones)!r} are invalid: each must be a fraction of the epochs in [0, 1]")


def milestone_epochs(milestones: Sequence[float], epochs: int) -> list[int]:
    """The epochs after which p is multiplied by gamma (sorted, without repeats)."""
    return sorted({int(m * epochs) for m in milestones})


def learned_values(model: nn.Module) -> dict[str, dict[str, float]]:
    """Per spiking layer: the current width of its hybrid spike, and its decay / threshold where they are learned
    (the original printed these "temperatures" to stdout only)."""
    from snn_methods.asgl.neuron import ASGLLIFNode

    found: dict[str, dict[str, float]] = {"width": {}, "decay": {}, "v_threshold": {}}
    for name, module in model.named_modules():
        if isinstance(module, HybridSpike):
            found["width"][name.removesuffix(".surrogate_function") or "."] = module.width()
        elif isinstance(module, ASGLLIFNode):
            if module.train_decay:
                found["decay"][name] = module.decay
            if module.train_thresh:
                found["v_threshold"][name] = float(module.v_threshold)
    return {k: v for k, v in found.items() if v}


class NoiseSchedule(Callback):
    def __init__(self, p: float, gamma: float = 1.0, milestones: Sequence[float] = DEFAULT_MILESTONES,
                 epochs: int | None = None):
        """`epochs`: the budget the milestone fractions refer to (default: the run's `epochs`)."""
        check_noise_probability(p)
        check_schedule(gamma, milestones)
        self.p, self.gamma, self.milestones = float(p), float(gamma), list(milestones)
        self.epochs = epochs

    @property
    def milestone_epochs(self) -> list[int]:
        return milestone_epochs(self.milestones, self.epochs or 0)

    def on_train_start(self, exp: "Experiment", epoch: int) -> None:
        if self.epochs is None:
            self.epochs = int(exp.cfg.epochs)
        if not hybrid_spikes(exp.model):
            import logging

            logging.getLogger(__name__).warning(
                "the noise schedule found no hybrid spike in the model (neuron=%s): p=%s has no effect; use "
                "neuron=asgl_lif, or neuron/surrogate=mns_sig|mns_rec with a SpikingJelly neuron",
                exp.cfg.neuron.get("_target_"), self.p)
        set_noise_probability(exp.model, self.p)

    def on_epoch_end(self, exp: "Experiment", epoch: int, record: dict) -> None:
        record["asgl"] = {"p": self.p, **learned_values(exp.model)}   # p: what this epoch trained with
        if epoch in self.milestone_epochs:
            self.p = min(1.0, self.p * self.gamma)   # gamma > 1 stops at 1 (the original would crash past it)
            set_noise_probability(exp.model, self.p)

    def state_dict(self) -> dict:
        return {"p": self.p}

    def load_state_dict(self, state: dict) -> None:
        if "p" in state:
            self.p = float(state["p"])
