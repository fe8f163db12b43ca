"""Value checks of the gradient rules (which neurons and losses a rule can train: snn_methods/compat.py)."""
from __future__ import annotations

from snn_methods.config import one_of

BOOL = (one_of(True, False), "true or false")

RULES = [
    ("method.step_mode", one_of("m", "s"),
     "m (multi-step: one call on [T, N, ...]) or s (single-step: one time step per call)"),
    ("method.loss_scale_1_over_T", *BOOL),
    ("method.compat_original_s_mode_bn", *BOOL),
    ("method.compat_original_s_mode_input", *BOOL),
    ("method.compat_original_eligibility_sigmoid4", *BOOL),
]

