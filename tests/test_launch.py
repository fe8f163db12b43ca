"""The command line as a user runs it (subprocesses), including the README's default job."""
from __future__ import annotations

import json

import pytest


def _results(root):
    return [json.loads(p.read_text()) for p in sorted(root.rglob("results.json"))]


def test_default_job_reaches_95_percent_on_digits(launch, tmp_path):
    """The README's first command: `python launch.py` with no overrides (loggers included). Its training time
    (a few seconds on 2 idle cores) is a figure in results.json and the notes, not a timed assert."""
    proc = launch()
    assert proc.returncode == 0, proc.stderr[-2000:]
    [res] = _results(tmp_path / "runs")
    assert res["final"]["test_acc"] >= 0.95, res["final"]
    assert res["wall_time_s"] > 0 and res["epochs"] == 30
    run_dir = next((tmp_path / "runs").rglob("results.json")).parent
    assert (run_dir / "config.yaml").exists() and list((run_dir / "tensorboard").iterdir())
    assert list((run_dir / "wandb").glob("offline-run-*"))


def test_multirun_seeds_by_timesteps_writes_four_results(launch, tmp_path):
    proc = launch("-m", "seed=0,1", "T=4,8", "debug=tiny")
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = _results(tmp_path / "multirun")
    assert sorted((r["seed"], r["T"]) for r in res) == [(0, 4), (0, 8), (1, 4), (1, 8)]


def test_missing_dataset_fails_fast_with_one_line(launch, tmp_path):
    proc = launch("dataset=mnist")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "dataset.download=true" in lines[0] and str(tmp_path / "data" / "MNIST") in lines[0]
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("args,expected", [
    (["neuron/surrogate=foo"], "choose one of atan"),
    (["model=nope"], "choose one of"),
    (["model=vggsnn2"], "model=vggsnn2 is now called model=asgl_vggsnn"),
    (["T=0"], "T=0 is invalid"),
    (["optimizer.lr=-1"], "optimizer.lr=-1 is invalid"),
])
def test_bad_input_is_one_clear_line(launch, args, expected):
    proc = launch(*args, "debug=tiny")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], proc.stderr


def test_benchmark_prints_the_ratio(capsys):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("step_time", Path(__file__).parent.parent / "bench" / "step_time.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    r = bench.main(["T=2", "--steps", "2", "--warmup", "1"])
    out = capsys.readouterr().out
    assert "SNN step / (T x ANN step)" in out and r["snn"]["saved_mb"] > r["ann"]["saved_mb"] > 0
