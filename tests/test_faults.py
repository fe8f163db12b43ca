"""Fault injection (issue 15): every fault ends in one line with the right exit status, loses nothing, and the
advice it gives works when followed. CLI subprocesses only where the exit status and the single line matter."""
from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from snn_methods import compose, run
from snn_methods.engine import checkpoints, faults, loop, runlock
from snn_methods.engine.integrity import CorruptCheckpoint
from snn_methods.errors import CheckpointError, TrainingDiverged

from conftest import ROOT


def _one_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return lines[0]


@pytest.fixture
def faulty_launch(tmp_path):
    """launch.py with a fault injected in-process: `prelude` (Python) runs first, then launch.py as __main__."""
    def call(prelude: str, *args: str) -> subprocess.CompletedProcess:
        script = tmp_path / "faulty_launch.py"
        script.write_text(textwrap.dedent(prelude) + textwrap.dedent(f"""
            import runpy, sys
            sys.argv = [{str(ROOT / 'launch.py')!r}, *sys.argv[1:]]
            runpy.run_path(sys.argv[0], run_name="__main__")
            """))
        return subprocess.run([sys.executable, str(script), *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return call


# ------------------------------------------------------------------------------------------------ the lock
def _holder(tmp_path):
    """A live process holding `tmp_path/busy`'s lock (as a concurrent run would)."""
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from snn_methods.engine.runlock import RunLock; "
            f"RunLock({str(tmp_path / 'busy')!r}).acquire(); print('held', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.slow   # launch.py subprocesses
def test_a_second_run_into_a_busy_directory_stops_in_one_line_naming_the_holder(launch, tmp_path):
    holder = _holder(tmp_path)
    try:
        proc = launch("debug=tiny", f"hydra.run.dir={tmp_path / 'busy'}")
        assert proc.returncode == 2
        line = _one_line(proc)
        assert "is in use by another run" in line and f"pid {holder.pid}" in line and socket.gethostname() in line
        assert not (tmp_path / "busy" / "results.json").exists() and not (tmp_path / "busy" / "config.yaml").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed (kill -9 leaves its lock behind): the next run takes the stale lock over and finishes
    assert (tmp_path / "busy" / runlock.LOCK_NAME).exists()
    results = run(compose(["debug=tiny"]), run_dir=tmp_path / "busy")
    assert results["epochs"] == 2 and not (tmp_path / "busy" / runlock.LOCK_NAME).exists()


def test_a_lock_from_another_host_is_stale_only_without_heartbeat(tmp_path, monkeypatch):
    lock = tmp_path / runlock.LOCK_NAME
    lock.write_text(json.dumps({"host": "node-elsewhere", "pid": 1, "token": "t", "started": "then"}))
    with pytest.raises(runlock.RunDirBusy, match="node-elsewhere"):
        runlock.RunLock(tmp_path).acquire()
    old = time.time() - runlock.stale_after_s() - 5
    os.utime(lock, (old, old))             # its job died long ago: no heartbeat since
    with runlock.RunLock(tmp_path) as held:
        assert json.loads(lock.read_text())["token"] == held.token
    assert not lock.exists()


def test_a_requeued_slurm_job_takes_over_its_own_earlier_lock_at_once(tmp_path, monkeypatch):
    lock = tmp_path / runlock.LOCK_NAME
    lock.write_text(json.dumps({"host": "node-a", "pid": 1, "token": "t", "slurm_job": "123"}))
    monkeypatch.setenv("SLURM_JOB_ID", "124")
    with pytest.raises(runlock.RunDirBusy):
        runlock.RunLock(tmp_path).acquire()
    monkeypatch.setenv("SLURM_JOB_ID", "123")    # the same job, requeued on another node
    with runlock.RunLock(tmp_path):
        assert json.loads(lock.read_text())["slurm_job"] == "123"


def test_the_heartbeat_keeps_a_long_run_lock_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(runlock, "HEARTBEAT_S", 0.05)
    with runlock.RunLock(tmp_path):
        lock = tmp_path / runlock.LOCK_NAME
        os.utime(lock, (0, 0))
        time.sleep(0.3)
        assert time.time() - lock.stat().st_mtime < 5


# ------------------------------------------------------------------------------------------------ default directories
def test_api_runs_in_one_second_get_their_own_directories(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dirs = [run(compose(["debug=tiny", "epochs=1", f"seed={seed}"]))["run_dir"] for seed in range(3)]
    assert len(set(dirs)) == 3
    for seed, d in enumerate(dirs):
        assert json.loads((tmp_path / d / "results.json").read_text())["seed"] == seed
        assert f"seed: {seed}" in (tmp_path / d / "config.yaml").read_text()


@pytest.mark.slow   # launch.py subprocesses
def test_cli_runs_started_together_get_their_own_directories(tmp_path):
    env = {**os.environ, "SNN_DATA": str(tmp_path / "data")}
    procs = [subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "debug=tiny", "epochs=1", f"seed={s}"],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for s in range(3)]
    for p in procs:
        assert p.wait(timeout=600) == 0, p.stderr.read()[-2000:]
    found = sorted((tmp_path / "runs").rglob("results.json"))
    assert len(found) == 3
    for path in found:
        seed = json.loads(path.read_text())["seed"]
        assert f"seed: {seed}" in (path.parent / "config.yaml").read_text()
    assert sorted(json.loads(p.read_text())["seed"] for p in found) == [0, 1, 2]


# ------------------------------------------------------------------------------------------------ finished runs, resume
def _resume_warnings(results: dict) -> list[str]:
    """results.json's warnings about resumes (debug=tiny runs on digits stay at chance: collapse warnings too)."""
    return [w for w in results["warnings"] if not w.startswith("collapse:")]


def test_a_finished_run_is_never_rewritten_by_a_shorter_one(tiny, tmp_path):
    first = run(tiny("epochs=3"), run_dir=tmp_path)
    before = (tmp_path / "results.json").read_bytes()
    with pytest.raises(CheckpointError, match=r"finished run of 3 epochs; epochs=1 would rewrite it") as info:
        run(tiny("epochs=1"), run_dir=tmp_path)
    assert "\n" not in str(info.value)
    assert (tmp_path / "results.json").read_bytes() == before and "epochs: 3" in (tmp_path / "config.yaml").read_text()
    longer = run(tiny("epochs=4"), run_dir=tmp_path)      # a longer one continues, and says so
    assert len(longer["history"]) == 4 and longer["history"][:3] == first["history"]
    assert _resume_warnings(longer) == ["continued at epoch 3 with epochs 3 -> 4"]


def test_an_unsafe_change_on_resume_is_refused_a_safe_one_recorded(tiny, tmp_path, monkeypatch):
    real, calls = loop.train_epoch, {"n": 0}

    def killed_in_epoch_2(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(loop, "train_epoch", killed_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run(tiny("epochs=3"), run_dir=tmp_path)
    monkeypatch.setattr(loop, "train_epoch", real)
    with pytest.raises(CheckpointError, match=r"another config \(T: 2 there, 3 now\)"):
        run(tiny("epochs=3", "T=3"), run_dir=tmp_path)
    results = run(tiny("epochs=3", "train.grad_clip=0.5"), run_dir=tmp_path)
    assert _resume_warnings(results) == ["continued at epoch 1 with train.grad_clip None -> 0.5"]
    assert json.loads((tmp_path / "results.json").read_text())["warnings"] == results["warnings"]


def _diverge_after(monkeypatch, calls_before_nan: int) -> None:
    from snn_methods import losses

    real, calls = losses.RateCrossEntropy.__call__, {"n": 0}

    def nan_later(self, out, target):
        calls["n"] += 1
        loss = real(self, out, target)
        return loss * float("nan") if calls["n"] > calls_before_nan else loss
    monkeypatch.setattr(losses.RateCrossEntropy, "__call__", nan_later)


def _advice(message: str) -> list[list[str]]:
    """The overrides the message says to add to the same command (each `...` in it, split as a shell would)."""
    return [shlex.split(m) for m in re.findall(r"`([^`]+)`", message)]


@pytest.mark.parametrize("choice", [0, 1])   # the smaller learning rate, or gradient clipping
def test_the_nan_advice_works_when_followed(tiny, tmp_path, monkeypatch, choice):
    command = ["epochs=3"]
    _diverge_after(monkeypatch, 4)    # epoch 1: 3 steps + 1 evaluation batch... then NaN in epoch 2
    with pytest.raises(TrainingDiverged) as info:
        run(tiny(*command), run_dir=tmp_path)
    msg = str(info.value)
    assert "\n" not in msg and "epoch 2" in msg and str(tmp_path / "last.pt") in msg
    monkeypatch.undo()
    added = _advice(msg)[choice]
    assert added[0] == f"resume={tmp_path}"
    results = run(tiny(*command, *added))                  # the same command, plus what the message says
    assert results["run_dir"] == str(tmp_path) and len(results["history"]) == 3
    key, value = added[1].split("=")
    before = {"optimizer.lr": 0.001, "train.grad_clip": None}[key]
    assert _resume_warnings(results) == [f"continued at epoch 1 with {key} {before} -> {float(value)}"]
    if key == "optimizer.lr":   # the restored optimizer runs at the new rate (not the checkpoint's)
        assert results["history"][1]["lr"] == pytest.approx(float(value))


def test_the_nan_advice_without_a_checkpoint_starts_again(tiny, tmp_path, monkeypatch):
    _diverge_after(monkeypatch, 1)
    with pytest.raises(TrainingDiverged) as info:
        run(tiny(), run_dir=tmp_path)
    assert "no checkpoint was written yet" in str(info.value) and "resume=" not in str(info.value)
    monkeypatch.undo()
    added = _advice(str(info.value))[0]
    results = run(tiny(*added), run_dir=tmp_path)
    assert results["epochs"] == 2 and _resume_warnings(results) == []


# ------------------------------------------------------------------------------------------------ clean stops
@pytest.mark.slow   # launch.py subprocesses
def test_ctrl_c_is_one_line_exit_130_and_the_advice_continues_the_run(faulty_launch, launch, tmp_path):
    prelude = """
        from snn_methods.engine import loop
        real, calls = loop.train_epoch, {"n": 0}
        def interrupted(*a, **k):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
            return real(*a, **k)
        loop.train_epoch = interrupted
        """
    proc = faulty_launch(prelude, "debug=tiny", "epochs=3")
    assert proc.returncode == 130
    line = _one_line(proc)
    found = re.fullmatch(r"interrupted; last checkpoint epoch 1 in (\S+); run the same command with (\S+) to continue",
                         line)
    assert found, line
    done = launch("debug=tiny", "epochs=3", *shlex.split(found.group(2)))
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / found.group(1) / "results.json").read_text())
    assert len(results["history"]) == 3 and _resume_warnings(results) == []


@pytest.mark.slow   # launch.py subprocesses
def test_a_full_disk_while_writing_a_checkpoint_is_one_line_and_keeps_the_last_one(faulty_launch, tmp_path):
    prelude = """
        import errno, torch
        real, calls = torch.save, {"n": 0}
        def full(obj, f, *a, **k):
            calls["n"] += 1
            if calls["n"] == 3:      # epoch 1 wrote last.pt and best.pt; epoch 2's last.pt does not fit
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(obj, f, *a, **k)
        torch.save = full
        """
    proc = faulty_launch(prelude, "debug=tiny", "epochs=3", f"hydra.run.dir={tmp_path / 'r'}")
    assert proc.returncode == 1
    line = _one_line(proc)
    assert line.startswith("error: no space left for") and "last checkpoint epoch 1" in line
    assert f"resume={tmp_path / 'r'}" in line
    assert checkpoints.load(tmp_path / "r" / "last.pt")["epoch"] == 1          # intact, verified
    assert not list((tmp_path / "r").glob(".*.tmp"))


def test_an_unwritable_run_directory_is_one_line(launch, tmp_path):
    proc = launch("debug=tiny", "hydra.run.dir=/proc/x")
    assert proc.returncode == 2 and "cannot write in the run directory /proc/x" in _one_line(proc)
    with pytest.raises(faults.RunDirUnwritable, match="/proc/x"):
        run(compose(["debug=tiny"]), run_dir="/proc/x")


# ------------------------------------------------------------------------------------------------ integrity
def _flip(path, offset_fraction: float = 0.5, count: int = 1) -> None:
    data = bytearray(path.read_bytes())
    start = int(len(data) * offset_fraction)
    for i in range(start, start + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_flipped_bytes_are_named_on_load(tiny, tmp_path):
    path = tmp_path / "last.pt"
    checkpoints.save(path, {"model": {"w": torch.randn(200, 100)}, "epoch": 1})
    _flip(path)
    with pytest.raises(CorruptCheckpoint, match=rf"checkpoint {re.escape(str(path))} is corrupted"):
        checkpoints.load(path)
    checkpoints.save(path, {"model": {"w": torch.randn(200, 100)}, "epoch": 1})
    _flip(path, 0.2, 2000)       # 2000 bytes: caught by the checksums or by the zip structure, never loaded
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        checkpoints.load(path)


def test_a_corrupt_last_pt_falls_back_to_best_pt(tiny, tmp_path, caplog):
    whole = run(tiny("epochs=3"), run_dir=tmp_path / "whole")
    run(tiny("epochs=3"), run_dir=tmp_path / "r")
    (tmp_path / "r" / "results.json").unlink()        # as if killed after the last checkpoint
    best_epoch = checkpoints.load(tmp_path / "r" / "best.pt")["epoch"]
    _flip(tmp_path / "r" / "last.pt")
    resumed = run(tiny("epochs=3"), run_dir=tmp_path / "r")
    assert any("is corrupted" in r.message and "best.pt" in r.message for r in caplog.records)
    assert [h["val_acc"] for h in resumed["history"]] == [h["val_acc"] for h in whole["history"]]
    assert best_epoch <= 3
    _flip(tmp_path / "r" / "last.pt")
    _flip(tmp_path / "r" / "best.pt")
    (tmp_path / "r" / "results.json").unlink()
    with pytest.raises(CheckpointError, match="resume=never"):
        run(tiny("epochs=3"), run_dir=tmp_path / "r")


# ------------------------------------------------------------------------------------------------ shared files
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_results_checkpoints_and_reports_honour_the_umask(tiny, tmp_path, umask, mode):
    from snn_methods.report import make_report

    old = os.umask(umask)
    try:
        run(tiny("epochs=1"), run_dir=tmp_path / "r")
        made = make_report([tmp_path / "r"], tmp_path / "report")
    finally:
        os.umask(old)
    files = [tmp_path / "r" / n for n in ("results.json", "last.pt", "best.pt", "config.yaml")]
    files += [made["html"], made["summary"], made["runs"]]
    assert {str(f): oct(f.stat().st_mode & 0o777) for f in files} == {str(f): oct(mode) for f in files}


# ------------------------------------------------------------------------------------------------ config-time checks
@pytest.mark.parametrize("args,expected", [
    (["model.hidden=[0]"], "model.hidden=[0] is invalid"),
    (["model.hidden=[abc]"], "model.hidden=['abc'] is invalid"),
    (["dataset=synthetic", "dataset.shape=[abc]"], "dataset.shape=['abc'] is invalid"),
])
def test_bad_sizes_and_shapes_fail_before_training(tiny, args, expected):
    from snn_methods import build
    from snn_methods.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(expected)):
        build(tiny(*args))


@pytest.mark.slow   # a launch.py subprocess
def test_a_bad_size_on_the_command_line_is_one_line_exit_2(launch):
    proc = launch("debug=tiny", "model.hidden=[0]")
    assert proc.returncode == 2 and "model.hidden=[0] is invalid" in _one_line(proc)


def _conf_copy(tmp_path):
    """The config tree and launch.py copied to tmp_path (conf/local/ is per checkout: tests must not write ours)."""
    import shutil

    shutil.copytree(ROOT / "conf", tmp_path / "conf", symlinks=False)
    shutil.copy(ROOT / "launch.py", tmp_path / "launch.py")
    (tmp_path / "conf" / "local").mkdir(exist_ok=True)
    return tmp_path / "conf" / "local" / "default.yaml"


@pytest.mark.parametrize("content,expected", [
    ("launcher: {partition: gpu}\n", "does not start with `# @package _global_`"),
    ("# @package _global_\nlauncher: {partitionn: gpu}\n",
     "unknown key launcher.partitionn (did you mean launcher.partition?)"),
    ("# @package _global_\nlauncher: [partition: gpu\n", "is not valid YAML at line"),
    ("# @package _global_\n- a\n", "must hold key: value lines"),
])
def test_a_bad_local_config_is_one_clear_error(tmp_path, monkeypatch, content, expected):
    from snn_methods import config
    from snn_methods.errors import ConfigError

    local = _conf_copy(tmp_path)
    local.write_text(content)
    monkeypatch.setattr(config, "CONF_DIR", tmp_path / "conf")
    with pytest.raises(ConfigError, match=re.escape(expected)):
        compose(["debug=tiny"])
    local.write_text("# @package _global_\nlauncher: {partition: gpu, account: me}\npaths: {data_dir: d}\n")
    assert compose(["debug=tiny"]).paths.data_dir == "d"


@pytest.mark.slow   # a launch.py subprocess
def test_a_bad_local_config_stops_the_command_line_in_one_line(tmp_path):
    local = _conf_copy(tmp_path)
    local.write_text("# @package _global_\nlauncher: {partitionn: gpu}\n")
    proc = subprocess.run([sys.executable, str(tmp_path / "launch.py"), "debug=tiny"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and "unknown key launcher.partitionn" in _one_line(proc)


# ------------------------------------------------------------------------------------------------ sweeps
@pytest.mark.slow   # a launch.py sweep of 3 jobs
def test_a_sweep_with_a_failing_job_says_which_and_finishes_the_others(launch, tmp_path):
    proc = launch("-m", "debug=tiny", "epochs=1", "T=2,0,3")
    assert proc.returncode == 1
    line = _one_line(proc)
    assert line == "error: 1 of 3 jobs failed: [debug=tiny epochs=1 T=0] T=0 is invalid: must be an integer >= 1; " \
                   "the others finished"
    assert sorted(json.loads(p.read_text())["T"] for p in (tmp_path / "multirun").rglob("results.json")) == [2, 3]


def test_the_sweep_summary_names_a_crash_and_its_log():
    from types import SimpleNamespace

    from hydra_plugins.snn_methods_sweeper.grid import failure_summary
    from omegaconf import OmegaConf

    from snn_methods.errors import ConfigError

    crashed = SimpleNamespace(_return_value=RuntimeError("CUDA error: out of memory\nmore"), overrides=["seed=1"],
                              hydra_cfg=OmegaConf.create({"hydra": {"runtime": {"output_dir": "/m/1_seed=1"}}}))
    bad = SimpleNamespace(_return_value=ConfigError("T=0 is invalid"), overrides=["T=0", "hydra.x=1"], hydra_cfg=None)
    assert failure_summary([crashed, bad], 4) == ("2 of 4 jobs failed: [seed=1] RuntimeError: CUDA error: out of "
                                                  "memory more (its log: /m/1_seed=1); [T=0] T=0 is invalid; the "
                                                  "others finished")


# ------------------------------------------------------------------------------------------------ init_from
def test_init_strict_false_that_matches_nothing_is_an_error(tiny, tmp_path):
    from snn_methods import build

    torch.save({"other.weight": torch.zeros(3, 3)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="no tensor of the file matches this model"):
        build(tiny(f"init_from={tmp_path / 'foreign.pt'}", "init_strict=false"))


# ------------------------------------------------------------------------------------------------ collapse
def test_a_silent_network_says_so_once(tiny, tmp_path):
    results = run(tiny("epochs=4", "neuron.v_threshold=1000"), run_dir=tmp_path)
    collapse = [w for w in results["warnings"] if w.startswith("collapse:")]
    assert collapse == [
        "collapse: firing rate reached 0 at epoch 1: no neuron spikes, so the output carries no information "
        "(check neuron.v_threshold, the encoder)",
        "collapse: accuracy at chance (val_acc <= 0.120 with 10 classes) for epochs 1-3"]


def test_pruned_to_nothing_says_so_and_a_learning_run_says_nothing(tiny, tmp_path, monkeypatch):
    learning = run(tiny("epochs=3", "train.limit_train_batches=20", "optimizer.lr=0.01"), run_dir=tmp_path / "ok")
    assert learning["final"]["val_acc"] > 0.3 and learning["warnings"] == []
    real = loop.connectivity
    monkeypatch.setattr(loop, "connectivity", lambda model, **k: {**real(model, **k), "total": 0.0})
    results = run(tiny("epochs=2"), run_dir=tmp_path / "pruned")
    assert [w for w in results["warnings"] if "connectivity" in w] == [
        "collapse: connectivity reached 0 at epoch 1: every weight is pruned"]


# ------------------------------------------------------------------------------------------------ the report
def test_the_report_counts_a_run_in_two_overlapping_sweeps_once(tiny, tmp_path, capsys):
    import shutil

    from snn_methods.report.__main__ import main

    for seed in (0, 1):
        run(tiny("epochs=1", f"seed={seed}"), run_dir=tmp_path / "sweep_a" / f"seed={seed}")
    shutil.copytree(tmp_path / "sweep_a" / "seed=0", tmp_path / "sweep_b" / "0_seed=0")   # the overlap
    config = tmp_path / "sweep_b" / "0_seed=0" / "config.yaml"
    text = config.read_text()
    assert "num_threads: null" in text
    config.write_text(text.replace("num_threads: null", "num_threads: 2"))   # how it ran, not what: still the same run
    assert main([str(tmp_path / "sweep_a"), str(tmp_path / "sweep_b"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "2 runs in 1 settings" in out
    assert f"left out 1 duplicate run(s) (the same config and seed as another): {tmp_path / 'sweep_b' / '0_seed=0'}" \
           f" (= {tmp_path / 'sweep_a' / 'seed=0'})" in out
    import csv
    with (tmp_path / "out" / "summary.csv").open() as f:
        [row] = list(csv.DictReader(f))
    assert row["n_seeds"] == "2" and row["seeds"] in ("0 1", "0,1", "[0, 1]"), row


# ------------------------------------------------------------------------------------------------ loggers across resumes
def test_a_resumed_run_continues_its_wandb_run_and_tensorboard_history(tiny, tmp_path, monkeypatch):
    import shutil

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from wandb_offline import offline_runs

    real, calls = loop.train_epoch, {"n": 0}

    def killed_in_epoch_3(exp, state, run_dir, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            shutil.copy(run_dir / "last.pt", tmp_path / "epoch1.pt")
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(exp, state, run_dir, *a, **k)
    monkeypatch.setattr(loop, "train_epoch", killed_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        run(tiny("epochs=3", "logger=many"), run_dir=tmp_path / "r")
    monkeypatch.undo()
    # the resume starts from epoch 1 (as after a fall-back to an older checkpoint): epoch 2 is logged twice
    shutil.copy(tmp_path / "epoch1.pt", tmp_path / "r" / "last.pt")
    results = run(tiny("epochs=3", "logger=many"), run_dir=tmp_path / "r")

    parts = offline_runs(tmp_path / "r")
    assert len(parts) == 2 and parts[0]["run"]["id"] == parts[1]["run"]["id"]      # one W&B run, in two parts
    assert [h["epoch"] for h in parts[0]["history"]] == [0, 1] and [h["epoch"] for h in parts[1]["history"]] == [1, 2]
    events = EventAccumulator(str(tmp_path / "r" / "tensorboard"))
    events.Reload()
    val = events.Scalars("val_acc")
    assert [e.step for e in val] == [0, 1, 2]                                         # the first epoch 2 purged
    assert [e.value for e in val] == pytest.approx([h["val_acc"] for h in results["history"]])

    fresh = run(tiny("epochs=1", "logger=wandb", "resume=never"), run_dir=tmp_path / "r")   # starting over
    assert fresh["epochs"] == 1
    ids = {p["run"]["id"] for p in offline_runs(tmp_path / "r")}
    assert len(ids) == 2
