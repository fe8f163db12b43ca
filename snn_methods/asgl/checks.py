"""Value checks of ASGL's pieces: each bad value stops the run before anything is built, with one line naming the
key, the value and what is allowed. A rule applies where its key exists, i.e. where the piece is selected
(method=asgl|asgl_sg: method.p/gamma/ns_milestone; neuron=asgl_lif; neuron/surrogate=mns_sig|mns_rec;
optimizer=asgl; the ASGL models' bn_type; loss=tet). Whether the pieces fit together: snn_methods/compat.py."""
from __future__ import annotations

from typing import Any

from snn_methods.asgl.surrogate import GRANULARITIES, SMOOTH_FUNCTIONS
from snn_methods.models.layers import BN_TYPES
from snn_methods.values import is_finite_number


def _in_unit(v: Any) -> bool:
    return is_finite_number(v) and 0 <= v <= 1


def _positive(v: Any) -> bool:
    return is_finite_number(v) and v > 0


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


SMOOTH_TEXT = f"one of {', '.join(SMOOTH_FUNCTIONS)} (ASGL's smooth functions: sigmoid, rectangle)"


def _hybrid(node: str, smooth_key: str) -> list:
    return [
        (f"{node}.{smooth_key}", lambda v: not isinstance(v, str) or v in SMOOTH_FUNCTIONS, SMOOTH_TEXT),
        (f"{node}.width", _positive, "a number > 0 (the surrogate's width; its slope is 1/width)"),
        (f"{node}.train_width", _bool, "true or false"),
        (f"{node}.granularity", lambda v: v in GRANULARITIES, f"one of {', '.join(GRANULARITIES)}"),
        (f"{node}.p", _in_unit, "a number in [0, 1] (set it through method.p)"),
    ]


RULES = [
    ("method.p", _in_unit, "a number in [0, 1] (the fraction of analog, noisy outputs)"),
    ("method.gamma", _positive, "a number > 0 (p is multiplied by it at each milestone)"),
    ("method.ns_milestone", lambda v: isinstance(v, list) and all(_in_unit(m) for m in v),
     "a list of fractions of the epochs, each in [0, 1]"),
    *_hybrid("neuron", "surrogate"),
    ("neuron.decay", lambda v: is_finite_number(v) and 0 < v < 1, "a number in (0, 1) (the leak; stored as its logit)"),
    ("neuron.train_decay", _bool, "true or false"),
    ("neuron.train_thresh", _bool, "true or false"),
    ("neuron.v_reset", lambda v: v is None or is_finite_number(v), "null (soft reset) or a number (hard reset)"),
    *_hybrid("neuron.surrogate", "smooth"),
    ("optimizer.main.lr", _positive, "a number > 0"),
    ("optimizer.main.weight_decay", lambda v: is_finite_number(v) and v >= 0, "a number >= 0"),
    ("optimizer.neuron.lr", _positive, "a number > 0"),
    ("model.bn_type", lambda v: v in BN_TYPES, f"one of {', '.join(BN_TYPES)}"),
    ("loss.lamb", _in_unit, "a number in [0, 1] (the weight of the MSE term)"),
    ("loss.means", is_finite_number, "a number (the MSE target)"),
]

