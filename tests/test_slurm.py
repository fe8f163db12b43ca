"""Sweeps on a real SLURM cluster through hydra/launcher=submitit_slurm (launcher=slurm).

Needs a reachable cluster: CI starts a one-node cluster with `scripts/slurm-local.sh start` (and stops it by PID
afterwards) and sets SNN_REQUIRE_SLURM=1, which turns the skip below into a failure. Every test uses a fresh
sweep directory, hence a fresh submitit folder (job ids restart at 1 on a fresh cluster)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow


def _sinfo() -> tuple[bool, str]:
    if not shutil.which("sbatch"):
        return False, "sbatch is not on PATH"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%P %a %t"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"sinfo failed ({e})"
    if out.returncode != 0:
        return False, f"sinfo failed: {out.stderr.strip()[:200]}"
    if not any(state.startswith(("idle", "mix", "alloc")) for state in out.stdout.split()[2::3]):
        return False, f"no usable node: {out.stdout.strip()[:200]}"
    return True, out.stdout.split()[0].rstrip("*")


@pytest.fixture(scope="module")
def partition() -> str:
    ok, detail = _sinfo()
    if not ok:
        message = f"no SLURM cluster reachable ({detail}); start one with `sudo bash scripts/slurm-local.sh start`"
        if os.environ.get("SNN_REQUIRE_SLURM") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return detail


def _args(partition: str, sweep_dir: Path, *extra: str) -> list[str]:
    return ["-m", "launcher=slurm", f"hydra.sweep.dir={sweep_dir}", f"hydra.launcher.partition={partition}",
            "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=30",
            "hardware.num_threads=1", *extra]


class Launch:
    """launch.py in the background; its output goes to a file (read it with .output())."""

    def __init__(self, tmp_path: Path, args: list[str]):
        self.path = tmp_path / f"launch-{time.monotonic_ns()}.out"
        with self.path.open("w") as out:
            self.proc = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), *args], cwd=tmp_path,
                                         stdout=out, stderr=subprocess.STDOUT, text=True)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        return self.path.read_text()[-3000:]


def _wait_for(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _job_ids(sweep: Path) -> list[str]:
    """The SLURM ids of the sweep's jobs (ARRAY_TASK), from submitit's folder: one folder per job holding its
    <id>_submitted.pkl (the array's own folder holds only the sbatch script)."""
    folder = sweep / ".submitit"
    return sorted(p.name for p in folder.iterdir() if (p / f"{p.name}_submitted.pkl").is_file()) \
        if folder.is_dir() else []


def _results(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.rglob("results.json")}


def _history(results: dict) -> list[dict]:
    return [{k: v for k, v in h.items() if k not in ("epoch_time_s", "samples_per_s")} for h in results["history"]]


def test_two_by_two_multirun_runs_as_one_job_array(partition, launch, tmp_path):
    proc = launch(*_args(partition, tmp_path / "sweep", "debug=tiny", "seed=0,1", "T=2,3"), timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    results = _results(tmp_path / "sweep")
    assert sorted(results) == ["0_T=2,seed=0", "1_T=3,seed=0", "2_T=2,seed=1", "3_T=3,seed=1"]
    from snn_methods.results import is_complete

    assert all(is_complete(r) for r in results.values())
    jobs = _job_ids(tmp_path / "sweep")
    assert len(jobs) == 4 and len({j.split("_")[0] for j in jobs}) == 1, jobs     # one array
    def states() -> list[str]:
        return subprocess.run(["sacct", "-X", "-n", "-P", "-o", "State", "-j", jobs[0].split("_")[0]],
                              capture_output=True, text=True).stdout.split()

    # submitit has the results once the Python job returns; SLURM ends the job seconds later (step teardown)
    _wait_for(lambda: states().count("COMPLETED") == 4, 120, "4 COMPLETED jobs in sacct")


# 0.15-0.5 s per epoch on 2 cores (idle to heavily loaded): 23 epochs left after the first checkpoint, so the
# signal or the kill sent then lands mid-run however fast the machine is
EPOCHS = 24
LONG = [f"epochs={EPOCHS}", "train.limit_train_batches=20", "train.limit_eval_batches=1", "T=16", "model.hidden=[1024]",
        "neuron.v_threshold=0.5", "logger=none", "train.progress=false"]


def test_job_killed_by_scancel_resumes_when_the_sweep_is_launched_again(partition, tmp_path):
    sweep = tmp_path / "sweep"
    args = _args(partition, sweep, *LONG)
    first = Launch(tmp_path, args)
    run_dir = _wait_for(lambda: next((p.parent for p in sweep.glob("*/last.pt")), None), 600, "the first last.pt")
    job = _wait_for(lambda: _job_ids(sweep), 60, "the job id")[0]
    # killed outright (as an OOM kill or a node failure would): a plain scancel sends SIGTERM, which submitit
    # ignores, and SIGKILL only KillWait (5 s here) later -- a fast job can finish in between
    subprocess.run(["scancel", "--signal=KILL", "--full", job], check=True)
    assert first.wait(timeout=300) != 0, first.output()      # the sweep reports the killed job
    assert not (run_dir / "results.json").exists()
    from snn_methods.engine import checkpoints

    killed_at = checkpoints.load(run_dir / "last.pt")["epoch"]
    assert 1 <= killed_at < EPOCHS
    second = Launch(tmp_path, args)
    assert second.wait(timeout=900) == 0, second.output()
    [results] = _results(sweep).values()
    assert len(results["history"]) == EPOCHS and results["steps"] == EPOCHS * 20
    log = (run_dir / "launch.log").read_text()        # both jobs log here: the first from epoch 1, the second on
    assert f"training epochs 1-{EPOCHS}" in log and f"resumed from {run_dir / 'last.pt'} at epoch {killed_at}" in log
    assert f"training epochs {killed_at + 1}-{EPOCHS}" in log


def test_usr2_saves_mid_epoch_requeues_and_the_job_continues_exactly(partition, tmp_path):
    from snn_methods import compose, run

    sweep = tmp_path / "sweep"
    first = Launch(tmp_path, _args(partition, sweep, *LONG, "hydra.launcher.max_num_timeout=2"))
    run_dir = _wait_for(lambda: next((p.parent for p in sweep.glob("*/last.pt")), None), 600, "the first last.pt")
    job = _wait_for(lambda: _job_ids(sweep), 60, "the job id")[0]
    subprocess.run(["scancel", "--signal=USR2", job], check=True)     # what SLURM sends before the time limit
    assert first.wait(timeout=900) == 0, first.output()
    log = (run_dir / "launch.log").read_text()
    assert "received SIGUSR2" in log and "of the epoch" in log, log[-3000:]   # saved and resumed mid-epoch
    requeued = subprocess.run(["sacct", "-n", "-P", "-D", "-X", "-o", "State", "-j", job.split("_")[0]],
                              capture_output=True, text=True).stdout.split()
    assert "REQUEUED" in requeued or "PREEMPTED" in requeued or len(requeued) >= 2, requeued
    [results] = _results(sweep).values()
    reference = run(compose([*LONG, "hardware=cpu", "hardware.num_threads=1"]), run_dir=tmp_path / "reference")
    assert _history(results) == _history(reference) and results["steps"] == reference["steps"] == EPOCHS * 20


def test_one_run_over_two_slurm_tasks_with_ddp(partition, launch, tmp_path):
    proc = launch(*_args(partition, tmp_path / "sweep", "debug=tiny", "hardware.distributed=true",
                         "hydra.launcher.tasks_per_node=2"), timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    [run_dir] = [p.parent for p in (tmp_path / "sweep").rglob("results.json")]
    log = (run_dir / "launch.log").read_text()
    assert "distributed: 2 processes (gloo), this is rank 0" in log
