"""Stopping on SLURM's signal: last.pt saved mid-epoch, the requeued run continues exactly where it stopped."""
from __future__ import annotations

import os
import signal

import pytest
import torch

from snn_methods import run
from snn_methods.engine import checkpoints
from snn_methods.engine.preemption import Preempted, StopRequest
from snn_methods.rules.bptt import BPTT

# Poisson coding and a per-step cosine schedule: a resume that loses the RNG or the scheduler position shows
OVERRIDES = ["epochs=3", "train.limit_train_batches=5", "encoder=poisson", "dataset.normalize=false",
             "neuron.v_threshold=0.5", "scheduler=cosine", "scheduler.interval=step", "hardware.num_threads=1"]


def _history(results):
    return [{k: v for k, v in h.items() if k not in ("epoch_time_s", "samples_per_s")} for h in results["history"]]


def _signal_at_step(monkeypatch, n: int) -> None:
    """SIGUSR2 to this process while training step n runs (as `scancel --signal=USR2` would send it)."""
    real, calls = BPTT.step, {"n": 0}

    def step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            os.kill(os.getpid(), signal.SIGUSR2)
        return real(self, *args, **kwargs)
    monkeypatch.setattr(BPTT, "step", step)


def test_signal_saves_mid_epoch_and_the_resumed_run_equals_an_uninterrupted_one(tiny, tmp_path, monkeypatch):
    whole = run(tiny(*OVERRIDES), run_dir=tmp_path / "whole")
    _signal_at_step(monkeypatch, 7)     # epoch 2, batch 2
    with pytest.raises(Preempted, match="resume=auto"):
        run(tiny(*OVERRIDES), run_dir=tmp_path / "cut")
    saved = checkpoints.load(tmp_path / "cut" / "last.pt")
    assert (saved["epoch"], saved["batch"], saved["step"]) == (1, 2, 7)   # the step that was running completed
    assert saved["epoch_sums"]["seen"] == 2 * 16 and not (tmp_path / "cut" / "results.json").exists()
    assert signal.getsignal(signal.SIGUSR2) is signal.SIG_DFL              # the handler is removed again
    monkeypatch.undo()

    resumed = run(tiny(*OVERRIDES), run_dir=tmp_path / "cut")
    assert _history(resumed) == _history(whole)
    assert resumed["steps"] == whole["steps"] == 15 and resumed["final"] == {**whole["final"], **{
        k: resumed["final"][k] for k in ("samples_per_s", "peak_memory_mb")}}
    a, b = (checkpoints.load(tmp_path / d / "last.pt") for d in ("whole", "cut"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert b["batch"] == 0 and b["epoch_sums"] == {}


def test_signal_hands_over_to_the_jobs_handler_after_saving(tiny, tmp_path, monkeypatch):
    """Under submitit the previous handler (checkpoint + requeue + exit) runs once last.pt is on disk."""
    seen = {}

    def submitit_like(signum, frame):
        seen["last.pt"] = checkpoints.load(tmp_path / "last.pt")["batch"]
        raise SystemExit(-1)
    previous = signal.signal(signal.SIGUSR2, submitit_like)
    try:
        _signal_at_step(monkeypatch, 2)
        with pytest.raises(SystemExit):
            run(tiny(*OVERRIDES), run_dir=tmp_path)
        assert seen == {"last.pt": 2}
        assert signal.getsignal(signal.SIGUSR2) is submitit_like   # restored for the job's own use
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_stop_request_outside_the_main_thread_is_inert():
    import threading

    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("installed", StopRequest().__enter__()._installed))
    thread.start()
    thread.join()
    assert out == {"installed": False}
