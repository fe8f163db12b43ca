"""Config checks for model sizes and input shapes (collected by snn_methods.config.validate): a size of 0 or a
word would otherwise build a model that fails an epoch later (an IndexError) or a traceback from deep inside."""
from __future__ import annotations

from typing import Any

from snn_methods.config import _is_int

# keys that hold layer sizes in conf/model/*.yaml: an integer, or a list of them (one per layer or stage)
SIZE_KEYS = ("hidden", "fc_hidden", "channels", "widths", "base_width")


def sizes(v: Any) -> bool:
    """An integer >= 1, or a list of them (an empty list: no such layers)."""
    from omegaconf import ListConfig

    items = list(v) if isinstance(v, (list, tuple, ListConfig)) else [v]
    return all(_is_int(x) and x >= 1 for x in items)


def shape(v: Any) -> bool:
    from omegaconf import ListConfig

    return isinstance(v, (list, tuple, ListConfig)) and len(v) > 0 and all(_is_int(x) and x >= 1 for x in v)


RULES = [(f"model.{key}", sizes, "an integer >= 1 or a list of them (layer sizes)") for key in SIZE_KEYS] + [
    ("dataset.shape", shape, "a list of integers >= 1 (e.g. [3, 32, 32])"),
]
