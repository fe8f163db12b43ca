"""Gradient rules: how one batch becomes filled `.grad`s (BPTT here; rate-BP beside it)."""
from snn_methods.rules.base import GradientRule, StepOutput
from snn_methods.rules.bptt import BPTT

__all__ = ["GradientRule", "StepOutput", "BPTT"]
