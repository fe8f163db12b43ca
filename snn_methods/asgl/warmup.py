"""ASGL's dummy forward (spec dsr_asgl.md B.9 step 3, pitfall E.10), as an opt-in engine callback.

Both original mains run `model(train_data[0][0].unsqueeze(0))` in train mode before building the optimizers, to
create their lazily shaped widths. Here widths exist (or are trained lazily) without it, so it only matters for its
side effects, which `method.dummy_forward=true` reproduces: one BatchNorm running-statistics update from the first
(augmented) training sample, and the random numbers it draws (augmentation, noise mask). It runs once, before the
first epoch of a fresh run (not again on resume, so a resumed run still equals an uninterrupted one).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from spikingjelly.activation_based import functional

from snn_methods.engine.callbacks import Callback

if TYPE_CHECKING:
    from snn_methods.engine.experiment import Experiment


class DummyForward(Callback):
    def __init__(self, enabled: bool = False):
        self.enabled = bool(enabled)

    def on_train_start(self, exp: "Experiment", epoch: int) -> None:
        if not self.enabled or epoch > 0:
            return
        x, _ = exp.data.train.dataset[0]
        x = torch.as_tensor(x).unsqueeze(0).to(exp.device)
        exp.model.train()
        with torch.no_grad():      # the original keeps the graph but never uses it: same values, less memory
            exp.model(exp.encoder(x))
        functional.reset_net(exp.model)
