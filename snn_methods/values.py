"""Predicates on plain values (config entries, metrics), shared by every layer."""
from __future__ import annotations

import math
from numbers import Real
from typing import Any


def is_finite_number(value: Any) -> bool:
    """A real number that is neither NaN nor infinite; a bool is not a number here (`True` is not a learning rate)."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
