"""Tuning studies (sweeps/tune_*.yaml, hydra_plugins/snn_methods_sweeper/tune.py) and the leaderboard report."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from conftest import ROOT
from test_slurm import _args, _job_ids, partition  # noqa: F401  (partition: the cluster fixture)
from snn_methods.config import CONF_DIR

TUNES = sorted(p.stem for p in (CONF_DIR / "sweep").glob("tune_*.yaml"))


def _hydra_cfg(overrides):
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return hydra_compose("config", overrides=overrides, return_hydra_config=True)


def _distribution(key, value):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from hydra_plugins.snn_methods_sweeper.tune import distribution

    return distribution(OverridesParser.create().parse_overrides([f"{key}={value}"])[0])


@pytest.mark.parametrize("name", TUNES)
def test_every_tune_file_is_a_study_of_its_method_over_keys_that_exist(name):
    from omegaconf import OmegaConf

    from snn_methods.config import validate

    cfg = _hydra_cfg([f"sweep={name}", "debug=tiny"])
    study = cfg.hydra.sweeper.study
    assert cfg.method.name == name[len("tune_"):]
    assert cfg.objective == "best.val_acc"                   # selected on validation, never on test
    assert list(study.final_seeds) and study.n_trials > 0
    assert "T" not in study.params and "epochs" not in study.params    # fixed by the protocol
    ends = []
    for key, value in study.params.items():
        assert OmegaConf.select(cfg, key, default="MISSING") != "MISSING", f"{name}: {key} is not a config key"
        dist = _distribution(key, value)
        ends.append([f"{key}={x}" for x in ((dist.low, dist.high) if hasattr(dist, "low") else dist.choices)])
    for end in (0, -1):                  # every low end together, every high end together: valid values
        validate(_hydra_cfg([f"sweep={name}", "debug=tiny", *(e[end] for e in ends)]))
    if study.constraint is not None:
        assert study.constraint.key == "final.connectivity" and "pruning" in cfg and \
            not str(cfg.pruning._target_).endswith("NoPruning")


def test_sweep_overrides_become_optuna_distributions():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    d = _distribution("lr", "tag(log, interval(1e-4, 1e-2))")
    assert isinstance(d, FloatDistribution) and d.log and (d.low, d.high) == (1e-4, 1e-2)
    d = _distribution("p", "interval(0, 0.5)")
    assert isinstance(d, FloatDistribution) and not d.log and (d.low, d.high) == (0.0, 0.5)
    d = _distribution("w", "choice(0, 100, 400)")
    assert isinstance(d, CategoricalDistribution) and d.choices == ("0", "100", "400")
    assert _distribution("a", "x,y").choices == ("x", "y")
    d = _distribution("n", "range(1, 9, 2)")
    assert isinstance(d, IntDistribution) and (d.low, d.high, d.step) == (1, 7, 2)


def _study(trials, constraint):
    """A Study over an in-memory optuna study holding `trials` (value, constraint value)."""
    import optuna
    from optuna.distributions import FloatDistribution

    from hydra_plugins.snn_methods_sweeper.tune import Study

    study = optuna.create_study(direction="maximize")
    for i, (value, c) in enumerate(trials):
        attrs = {} if c is None else {"constraint": c}
        study.add_trial(optuna.trial.create_trial(value=value, params={"x": float(i)},
                                                  distributions={"x": FloatDistribution(0, 10)}, user_attrs=attrs))
    s = Study.__new__(Study)
    s.spec, s.study = {"direction": "maximize", "constraint": constraint}, study
    return s


def test_the_best_trial_is_the_best_feasible_one_else_the_closest_to_the_cap():
    cap = {"key": "final.connectivity", "max": 0.1}
    assert _study([(0.9, None), (0.95, None), (0.8, None)], None).best().number == 1
    s = _study([(0.99, 0.5), (0.90, -0.02), (0.93, 0.0), (0.97, 0.01)], cap)   # connectivity - cap
    assert s.best().number == 2 and s.feasible(s.best())                      # 0.99 and 0.97 break the cap
    s = _study([(0.99, 0.5), (0.97, 0.01), (0.98, 0.2)], cap)
    assert s.best().number == 1 and not s.feasible(s.best())                  # none feasible: the closest


def _state(sweep):
    import optuna

    study = optuna.load_study(study_name="study", storage=f"sqlite:///{sweep / 'study.db'}")
    return [t.state.name for t in study.trials], study


# 10 epochs of 20 batches at T=8: several seconds per trial even on a fast machine, so the kill sent after the
# second trial's first checkpoint lands while it runs
SLOW_TRIAL = ["epochs=10", "train.limit_train_batches=20", "train.limit_eval_batches=1", "T=8", "logger=none",
              "train.progress=false", "hardware=cpu", "hardware.num_threads=1"]


@pytest.mark.slow
def test_a_killed_study_continues_from_its_storage_with_the_finished_trials_counted(launch, tmp_path):
    sweep = tmp_path / "study"
    args = ["-m", "sweep=tune_bptt", f"hydra.sweep.dir={sweep}", "hydra.sweeper.study.n_trials=3",
            "hydra.sweeper.study.final_seeds=[1]", *SLOW_TRIAL]
    env = {**os.environ, "SNN_DATA": str(tmp_path / "data")}
    with (tmp_path / "first.out").open("w") as out:
        first = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), *args], cwd=tmp_path, stdout=out,
                                 stderr=subprocess.STDOUT, env=env)
    end = time.monotonic() + 600
    while not (sweep / "trial_001" / "last.pt").exists():
        assert first.poll() is None and time.monotonic() < end, (tmp_path / "first.out").read_text()[-3000:]
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)          # as a node failure or an OOM kill: no chance to clean up
    first.wait(timeout=60)
    states, _ = _state(sweep)
    assert states[0] == "COMPLETE" and states[1] == "RUNNING", states
    assert not (sweep / "trial_001" / "results.json").exists()
    mtime = (sweep / "trial_000" / "results.json").stat().st_mtime_ns

    again = launch(*args)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert "1 of 3 trials finished, 1 to resume, 1 to ask" in again.stdout + again.stderr
    states, study = _state(sweep)
    assert states == ["COMPLETE"] * 3                          # 3 trials in all, not 3 more
    assert (sweep / "trial_000" / "results.json").stat().st_mtime_ns == mtime    # not run again
    assert "resumed from" in (sweep / "trial_001" / "launch.log").read_text()    # same directory, from last.pt
    # each trial's value is its run's objective (results.json), the study's record says the same
    record = json.loads((sweep / "study.json").read_text())
    for t in study.trials:
        run = json.loads((sweep / f"trial_{t.number:03d}" / "results.json").read_text())
        assert t.value == run["best"]["val_acc"] and record["trials"][t.number]["value"] == t.value
    assert record["best"]["value"] == max(t.value for t in study.trials)
    final = json.loads((sweep / "final" / "seed=1" / "results.json").read_text())
    assert final["seed"] == 1 and len(final["history"]) == 10
    best_params = record["best"]["params"]
    final_cfg = yaml.safe_load((sweep / "final" / "seed=1" / "config.yaml").read_text())
    assert math.isclose(final_cfg["optimizer"]["lr"], best_params["optimizer.lr"])

    other = launch(*args[:-1], "epochs=3")       # another budget in the same directory: refused, nothing run
    assert other.returncode == 2 and "holds a study with other settings" in other.stderr
    assert _state(sweep)[0] == ["COMPLETE"] * 3


def test_a_study_without_a_search_space_says_so(launch, tmp_path):
    proc = launch("-m", "debug=tiny", "hydra.sweep.dir=s", "hydra.sweeper.study={n_trials: 2}")
    assert proc.returncode == 2 and "no search space" in proc.stderr


# ------------------------------------------------------------------------------------------- the report
def _final(d, seed, at_best_val, test_max, conn=1.0):
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps({
        "method": "m", "model": "mlp", "dataset": "digits", "T": 4, "seed": seed, "epochs": 3,
        "final": {"test_acc": at_best_val, "val_acc": 0.9, "connectivity": conn, "firing_rate": 0.1,
                  "synops_per_sample": 1e6},
        "best": {"val_acc": 0.9, "test_acc_at_best_val": at_best_val, "test_acc_max": test_max, "epoch": 2},
        "history": [{"epoch": 0, "val_acc": 0.9}], "wall_time_s": 2.0, "versions": {}}))
    (d / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "method": {"name": "m"}}))


def test_the_leaderboard_shows_val_selected_test_max_and_their_gap(tmp_path):
    from snn_methods.report import make_report

    for name, (accs, conn) in {"good": ([(0.90, 0.93), (0.92, 0.92)], 1.0),
                               "sparse": ([(0.80, 0.85), (0.84, 0.86)], 0.1)}.items():
        d = tmp_path / name
        for seed, (a, m) in enumerate(accs, start=1):
            _final(d / "final" / f"seed={seed}", seed, a, m, conn)
        _final(d / "trial_000", 0, 0.5, 0.99, conn)             # a trial: summed up, not a table row
        (d / "study.json").write_text(json.dumps({
            "method": name, "dataset": "digits", "model": "mlp", "T": 4, "epochs": 3, "n_trials": 1,
            "objective": "best.val_acc", "direction": "maximize", "final_seeds": [1, 2],
            "final_dirs": ["final/seed=1", "final/seed=2"],
            "best": {"number": 0, "value": 0.9, "params": {"optimizer.lr": 0.00123}},
            "trials": [{"number": 0, "state": "COMPLETE", "value": 0.9, "wall_time_s": 7.0, "dir": "trial_000"}]}))
    made = make_report([tmp_path], out=tmp_path / "out")
    rows = [line for line in made["leaderboard_md"].read_text().splitlines() if line.startswith("| good")
            or line.startswith("| sparse")]
    assert rows[0].startswith("| good") and rows[1].startswith("| sparse")     # ranked by val-selected accuracy
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[1] == "optimizer.lr=0.00123" and cells[3] == "2"
    assert cells[4] == "91.00 ± 1.41" and cells[5] == "92.50 ± 0.71" and cells[6] == "1.50 ± 2.12"
    assert cells[-1] == "7"                                                    # tuning time: the trials' sum
    assert "epochs 3" in made["leaderboard_md"].read_text()
    assert all("trial_000" not in str(r.path) for r in made["run_list"])      # trials are not run-table rows
    page = made["html"].read_text()
    assert "Leaderboard" in page and page.count("data:image/png") >= 2


# ------------------------------------------------------------------------------------------- SLURM
@pytest.mark.slow
def test_a_study_on_slurm_sends_each_batch_of_n_jobs_trials_as_one_job_array(tmp_path, partition):
    """Needs a cluster: test_slurm's `partition` fixture skips without one (a failure with SNN_REQUIRE_SLURM=1)."""
    sweep = tmp_path / "study"
    args = _args(partition, sweep, "sweep=tune_grad_rewire", "debug=tiny", "hydra.sweeper.study.n_trials=4",
                 "hydra.sweeper.study.n_jobs=2", "hydra.sweeper.study.final_seeds=[1]")
    proc = subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    states, study = _state(sweep)
    assert states == ["COMPLETE"] * 4
    jobs = _job_ids(sweep)                       # ARRAY_TASK ids: two arrays of 2 trials, then the final run
    arrays = sorted({j.split("_")[0] for j in jobs}, key=int)
    assert len(jobs) == 5 and len(arrays) == 3, jobs
    assert [sum(j.split("_")[0] == a for j in jobs) for a in arrays] == [2, 2, 1]
    for t in study.trials:
        run = json.loads((sweep / f"trial_{t.number:03d}" / "results.json").read_text())
        assert t.value == run["best"]["val_acc"]
    assert (sweep / "final" / "seed=1" / "results.json").is_file()
