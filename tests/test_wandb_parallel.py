"""W&B from concurrent sweep jobs: every offline run keeps its config, history and summary."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from wandb_offline import offline_runs


@pytest.mark.slow
def test_concurrent_offline_runs_keep_config_history_and_summary(launch, tmp_path, monkeypatch):
    # sbatch / submitit hand the submitting shell's environment to the jobs: a WANDB_SERVICE left there by an
    # earlier wandb process (whose service is gone) must not stop the jobs' runs from starting
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    monkeypatch.setenv("WANDB_SERVICE", f"3-{gone.stdout.strip()}-unix-/tmp/wandb-service-gone.sock")
    monkeypatch.setenv("WANDB_MODE", "offline")
    # submitit_local starts the three jobs at once
    proc = launch("-m", "launcher=submitit_local", "debug=tiny", "logger=wandb", "seed=0,1,2", "T=3",
                  "hydra.sweep.dir=sweep", "hydra.launcher.timeout_min=10")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {(r["seed"], r["T"]): r for r in
               (json.loads(p.read_text()) for p in (tmp_path / "sweep").rglob("results.json"))}
    assert len(results) == 3
    runs = offline_runs(tmp_path / "sweep")
    assert len(runs) == 3, [r["run"] for r in runs]
    for run in runs:
        seed, T = run["config"]["seed"], run["config"]["T"]
        res = results[(seed, T)]
        assert run["config"]["method"]["name"] == "bptt" and run["config"]["dataset"]["name"] == "digits"
        assert run["run"]["group"] == "sweep" and {"bptt", "mlp", "digits"} <= set(run["run"]["tags"])
        assert [h["epoch"] for h in run["history"]] == [0, 1]
        assert run["summary"]["final/test_acc"] == pytest.approx(res["final"]["test_acc"])
        assert run["summary"]["best/val_acc"] == pytest.approx(res["best"]["val_acc"])
