"""Evaluating trained models: mode=test (eval.json) in snn_methods/reuse/testmode.py.

    from snn_methods.api import evaluate
    result = evaluate("runs/2026-01-01/12-00-00", ["T=8"])   # what eval.json holds

Reading checkpoints and loading their weights (init_from, mode=test) is the engine's: snn_methods/engine/checkpoints.py;
`python -m snn_methods.inspect PATH` summarises a checkpoint without loading a data set.
"""
from snn_methods.engine.checkpoints import load_and_prepare, read
from snn_methods.reuse.testmode import evaluate_checkpoint, run_test

__all__ = ["evaluate_checkpoint", "run_test", "read", "load_and_prepare"]
