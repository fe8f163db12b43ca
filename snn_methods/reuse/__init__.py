"""Evaluating and reusing trained models: mode=test (eval.json), init_from (fine-tuning), checkpoint reading.

    from snn_methods.reuse import evaluate_checkpoint
    result = evaluate_checkpoint("runs/2026-01-01/12-00-00", ["T=8"])   # what eval.json holds

`snn_methods.api.build` calls `reuse.loading.load_and_prepare` for init_from; `python -m snn_methods.inspect PATH`
summarises a checkpoint without loading a data set.
"""
from __future__ import annotations

from typing import Any

__all__ = ["evaluate_checkpoint", "run_test", "read", "load_and_prepare"]


def __getattr__(name: str) -> Any:
    # imported on first use: api.build imports reuse.loading, and testmode imports api
    if name in ("evaluate_checkpoint", "run_test"):
        from snn_methods.reuse import testmode

        return getattr(testmode, name)
    if name == "read":
        from snn_methods.reuse.source import read

        return read
    if name == "load_and_prepare":
        from snn_methods.reuse.loading import load_and_prepare

        return load_and_prepare
    raise AttributeError(name)
