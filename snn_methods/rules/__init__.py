"""Gradient rules: how one batch becomes filled `.grad`s (BPTT; rate-BP beside it)."""
from snn_methods.rules.base import GradientRule, StepOutput
from snn_methods.rules.bptt import BPTT, NeuronBackward
from snn_methods.rules.ratebp import RateBP

__all__ = ["GradientRule", "StepOutput", "BPTT", "NeuronBackward", "RateBP"]
