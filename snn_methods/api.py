"""The Python API, the suite's face: compose -> build -> run, evaluate a checkpoint, and `execute`, the one place
that decides what a config does (launch.py calls it). Each is a short entry into a lower layer: the engine
(snn_methods/engine: build, one training run), mode=test (snn_methods/reuse) or DSR's ANN -> SNN recipe
(snn_methods/ann2snn); none of them imports this module (docs/architecture.md)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from omegaconf import DictConfig

from snn_methods.ann2snn import run_stages
from snn_methods.compat import check_interpolations
from snn_methods.config import compose
from snn_methods.engine.experiment import Experiment, build
from snn_methods.engine.experiment import instantiate as _instantiate  # noqa: F401  (the name before it moved)
from snn_methods.engine.training import train
from snn_methods.errors import UserError
from snn_methods.reuse.testmode import evaluate_checkpoint, run_test

__all__ = ["Experiment", "compose", "build", "run", "evaluate", "execute"]


def execute(cfg: DictConfig, overrides: Sequence[str] = (), run_dir: str | Path | None = None) -> dict:
    """What `python launch.py OVERRIDES` does with its config: mode=test evaluates `ckpt` (eval.json; `overrides`
    are the ones the config was composed with, which mode=test checks against the checkpoint's config), a
    multi-stage recipe runs its stages (each an ordinary training run), anything else trains one run."""
    check_interpolations(cfg)            # a `${key}` that does not resolve: one line, before anything reads it
    if cfg.get("mode", "train") == "test":
        return run_test(cfg, list(overrides), run_dir)
    if cfg.get("pipeline") is not None:
        return run_stages(cfg, run_dir)
    return train(cfg, run_dir)


def run(cfg: DictConfig, run_dir: str | Path | None = None) -> dict:
    """Train (or continue) the run described by `cfg` (a multi-stage recipe: its stages); write results.json and
    return its content. Under DDP every process calls it; rank 0 chooses the run directory and writes every file."""
    if cfg.get("mode", "train") == "test":
        raise UserError("mode=test evaluates a checkpoint without training: use `launch.py mode=test ckpt=PATH` "
                        "or snn_methods.reuse.evaluate_checkpoint(PATH, overrides)")
    return execute(cfg, run_dir=run_dir)


def evaluate(ckpt: str | Path, overrides: Sequence[str] = (), run_dir: str | Path | None = None) -> dict:
    """mode=test from Python: `evaluate("runs/x", ["T=8"])` evaluates a trained run and returns what eval.json holds."""
    return evaluate_checkpoint(ckpt, overrides, run_dir)
