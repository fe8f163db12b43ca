"""How a gradient rule feeds a [T, N, ...] input to a multi-step model: in one call, or one time step at a time."""
from __future__ import annotations

import torch
import torch.nn as nn

STEP_MODES = ("m", "s")


def forward_steps(model: nn.Module, x: torch.Tensor, step_mode: str) -> torch.Tensor:
    """'m': one call on [T, N, ...]. 's': T calls on [1, N, ...] without a reset in between, so every neuron carries
    its state from step to step and every stateless layer (BatchNorm included) sees one time step per call, as the
    originals' single-step loops do; the per-step outputs are concatenated to [T, N, C].

    This is single-step simulation of the suite's multi-step models: their folding wrappers (SeqToANN, SeqStem)
    need the time axis, so the step is a length-1 time axis rather than SpikingJelly's 's' mode tensors [N, ...].
    """
    if step_mode == "m":
        return model(x)
    if step_mode == "s":
        return torch.cat([model(x[t:t + 1]) for t in range(x.shape[0])])
    from snn_methods.errors import ConfigError

    raise ConfigError(f"method.step_mode={step_mode!r} is invalid: must be m or s")
