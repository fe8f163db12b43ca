"""Callbacks: method mechanics that run at fixed points of the loop (e.g. ASGL's noise-probability schedule).

Configured as a dict of `_target_` nodes under `callbacks:` so a method file adds one by name
(`callbacks.noise_schedule: {...}`) and overrides compose. Their state goes into every checkpoint.
"""
from __future__ import annotations

from snn_methods.engine.experiment import Experiment


class Callback:
    def on_train_start(self, exp: Experiment, epoch: int) -> None:
        """Before the first epoch of this process (`epoch` = epochs already completed: > 0 after a resume)."""

    def on_epoch_start(self, exp: Experiment, epoch: int) -> None: ...

    def on_step_end(self, exp: Experiment, step: int) -> None:
        """After every optimizer step (`step` = steps completed)."""

    def on_epoch_end(self, exp: Experiment, epoch: int, record: dict) -> None:
        """After the epoch's evaluation, before the checkpoint; may add figures to `record`."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...
