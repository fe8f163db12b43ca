"""Config checks for multi-stage recipes (collected by snn_methods.config.validate)."""
from __future__ import annotations

from snn_methods.config import int_at_least, one_of

RULES = [
    ("stage", one_of("ann", "calibrate", "snn", "all"), "ann, calibrate, snn or all"),
    ("pipeline.calibrate.split", one_of("train", "val", "test"), "train, val or test"),
    ("pipeline.calibrate.num_samples", int_at_least(1), "an integer >= 1"),
    ("pipeline.calibrate.batch_size", int_at_least(1), "an integer >= 1"),
    ("pipeline.calibrate.percentile", lambda v: isinstance(v, float) and 0 < v <= 1, "a number in (0, 1]"),
]
