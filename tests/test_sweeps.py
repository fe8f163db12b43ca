"""Sweep definitions (sweeps/ = the group conf/sweep), the grid sweeper (blocks, skipping finished jobs) and the launcher configs."""
from __future__ import annotations

import json
import shutil

import pytest
import yaml

from hydra_plugins.snn_methods_sweeper.grid import GridSweeper
from snn_methods import compose
from snn_methods.config import CONF_DIR, validate

SWEEPS = sorted(p.stem for p in (CONF_DIR / "sweep").glob("*.yaml"))


def _sweeper(name: str) -> GridSweeper:
    spec = yaml.safe_load((CONF_DIR / "sweep" / f"{name}.yaml").read_text())["hydra"]["sweeper"]
    return GridSweeper(params=spec.get("params"), blocks=spec.get("blocks"))


def _missing_option(job: list[str]) -> str | None:
    for override in job:
        group, _, value = override.partition("=")
        if (CONF_DIR / group).is_dir() and not (CONF_DIR / group / f"{value}.yaml").is_file():
            return f"{group}={value} is not in conf/{group}/"
    return None


BLOCKS = [(name, i) for name in SWEEPS for i in range(max(1, len(_sweeper(name).blocks)))]


@pytest.mark.parametrize("name,block", BLOCKS, ids=[f"{n}-block{i}" for n, i in BLOCKS])
def test_every_job_of_every_sweep_composes_with_valid_values(name, block):
    sweeper = _sweeper(name)
    if sweeper.blocks:
        sweeper.blocks = [sweeper.blocks[block]]
    jobs = sweeper.job_overrides([])
    assert jobs, name
    for job in jobs:
        assert _missing_option(job) is None, _missing_option(job)   # every option a sweep names exists
        cfg = compose([*job, "debug=tiny"])
        validate(cfg)           # the values are in range (e.g. a sparsity in [0, 1))


@pytest.mark.parametrize("name,expected", [
    ("timesteps", {("T", "1"), ("T", "2"), ("T", "4"), ("T", "8"), ("T", "16")}),
    ("seeds", {("seed", str(s)) for s in range(5)}),
])
def test_sweep_grids_are_the_documented_ones(name, expected):
    jobs = _sweeper(name).job_overrides([])
    key = next(iter(expected))[0]
    assert {tuple(o.split("=")) for job in jobs for o in job if o.startswith(key + "=")} == expected


def test_sparsity_and_surrogate_width_cover_their_grids():
    sparsity = _sweeper("sparsity").job_overrides([])
    assert len(sparsity) == 3 * (1 + 5 + 5 + 5)
    widths = {o for job in _sweeper("surrogate_width").job_overrides([]) for o in job if o.startswith("neuron.width=")}
    assert widths == {f"neuron.width={w}" for w in ("0.5", "1", "2.5", "5", "10")}
    alphas = [o for job in _sweeper("surrogate_width").job_overrides([]) for o in job if "surrogate.alpha=" in o]
    assert sorted({1 / float(a.split("=")[1]) for a in alphas}) == [0.5, 1.0, 2.5, 5.0, 10.0]


def test_blocks_are_a_union_and_the_command_line_replaces_only_the_blocks_that_sweep_a_key():
    sweeper = GridSweeper(params={"seed": "0,1"}, blocks=[{"method": "a", "x": "1,2"}, {"method": "b", "y": 3}])
    jobs = sweeper.job_overrides(["x=5,6", "T=4"])
    assert jobs == [["seed=0", "method=a", "x=5", "T=4"], ["seed=0", "method=a", "x=6", "T=4"],
                    ["seed=1", "method=a", "x=5", "T=4"], ["seed=1", "method=a", "x=6", "T=4"],
                    ["seed=0", "method=b", "y=3", "T=4"], ["seed=1", "method=b", "y=3", "T=4"]]
    assert GridSweeper(params={"T": "1,2"}).job_overrides(["T=3"]) == [["T=3"]]   # as Hydra's params


def _results(root):
    return {p.parent.name: json.loads(p.read_text()) for p in root.rglob("results.json")}


@pytest.mark.slow
def test_a_relaunched_sweep_skips_finished_jobs_and_resumes_the_rest(launch, tmp_path):
    args = ["-m", "sweep=timesteps", "debug=tiny", "T=1,2", "seed=0", "hydra.sweep.dir=sweep"]
    first = launch(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    done = _results(tmp_path / "sweep")
    assert sorted(done) == ["0_T=1,seed=0", "1_T=2,seed=0"]
    # job 0 'crashed' after its last checkpoint: results.json gone, last.pt kept
    (tmp_path / "sweep" / "0_T=1,seed=0" / "results.json").unlink()
    mtime = (tmp_path / "sweep" / "1_T=2,seed=0" / "results.json").stat().st_mtime_ns
    again = launch(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "sweep of 2 jobs" in again.stdout and "1 finished, 1 to launch" in again.stdout
    assert (tmp_path / "sweep" / "1_T=2,seed=0" / "results.json").stat().st_mtime_ns == mtime   # not run again
    log = (tmp_path / "sweep" / "0_T=1,seed=0" / "launch.log").read_text()
    assert "resumed from" in log                                                           # same dir, resumed
    assert sorted(_results(tmp_path / "sweep")) == ["0_T=1,seed=0", "1_T=2,seed=0"]
    third = launch(*args)
    assert "2 finished, 0 to launch" in third.stdout


def test_a_sweep_naming_a_missing_option_launches_nothing(launch, tmp_path):
    proc = launch("-m", "debug=tiny", "hydra.sweep.dir=s", "hydra.sweeper.blocks=[{method: nope}]")
    assert proc.returncode == 2 and "method/nope" in proc.stderr and "nothing was launched" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "s").exists()


def test_slurm_launcher_needs_multirun_and_plus_sweep_says_how(launch):
    proc = launch("launcher=slurm", "debug=tiny")
    assert proc.returncode == 2 and "add -m" in proc.stderr
    proc = launch("-m", "+sweep=seeds", "debug=tiny")
    assert proc.returncode == 2 and "write sweep=seeds" in proc.stderr


def _hydra_cfg(conf_dir, overrides):
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir)):
        return hydra_compose("config", overrides=overrides, return_hydra_config=True)


def test_cluster_values_come_from_the_git_ignored_local_config(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf, ignore=shutil.ignore_patterns("local"))
    (conf / "local").mkdir()
    (conf / "local" / "default.yaml").write_text(
        "# @package _global_\nlauncher:\n  partition: gpu_a100\n  account: proj42\n  qos: high\n")
    cfg = _hydra_cfg(conf, ["launcher=slurm_8gpu", "hardware=gpu"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.account, launcher.qos) == ("gpu_a100", "proj42", "high")
    assert (launcher.tasks_per_node, launcher.gpus_per_node, launcher.max_num_timeout) == (8, 8, 3)
    assert cfg.hardware.distributed is True and cfg.hardware.amp is True and cfg.hardware.device == "cuda"
    plain = _hydra_cfg(conf, ["hardware=cpu"])        # the local config does not break the local launcher
    assert plain.hydra.launcher._target_.endswith("BasicLauncher")
    local = _hydra_cfg(conf, ["launcher=submitit_local"])
    assert local.hydra.launcher._target_.endswith("LocalLauncher")
    assert "/conf/local/" in (CONF_DIR.parent / ".gitignore").read_text()


@pytest.mark.parametrize("launcher", ["local", "submitit_local", "slurm", "slurm_1gpu", "slurm_8gpu"])
@pytest.mark.parametrize("hardware", ["auto", "cpu", "gpu", "ddp"])
def test_where_jobs_run_composes_with_what_they_run_on(launcher, hardware):
    """hardware/ (device, precision, threads, DDP) and launcher/ (where jobs run) are chosen independently."""
    cfg = _hydra_cfg(CONF_DIR, [f"launcher={launcher}", f"hardware={hardware}"])
    own = compose([f"hardware={hardware}"]).hardware
    assert cfg.launcher.name == launcher
    assert (cfg.hardware.device, cfg.hardware.amp) == (own.device, own.amp)
    # one run over the 8 tasks of the job: the only launcher that decides DDP
    assert cfg.hardware.distributed is (launcher == "slurm_8gpu" or hardware == "ddp")
    target = cfg.hydra.launcher._target_
    assert target.endswith({"local": "BasicLauncher", "submitit_local": "LocalLauncher"}.get(launcher, "SlurmLauncher"))
    if launcher.startswith("slurm"):
        assert cfg.hydra.launcher.gpus_per_node == {"slurm": None, "slurm_1gpu": 1, "slurm_8gpu": 8}[launcher]


@pytest.mark.parametrize("args,expected", [
    (["-m", "hardware=slurm_1gpu"], "hardware=slurm_1gpu is now launcher=slurm_1gpu hardware=gpu (hardware/: device"),
    (["-m", "hardware=submitit_local"], "hardware=submitit_local is now launcher=submitit_local (hardware/"),
    (["-m", "launcher=slurm", "hardware.slurm.partition=gpu"], "hardware.slurm.partition=gpu is now launcher.partition=gpu"),
])
def test_the_old_hardware_launcher_names_say_the_new_form(launch, args, expected):
    proc = launch(*args, "debug=tiny")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and expected in lines[0], proc.stderr


def test_an_old_local_config_with_hardware_slurm_is_one_line(tmp_path):
    from snn_methods.config import validate
    from snn_methods.errors import ConfigError

    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf, ignore=shutil.ignore_patterns("local"))
    (conf / "local").mkdir()
    (conf / "local" / "default.yaml").write_text("# @package _global_\nhardware:\n  slurm:\n    partition: gpu\n")
    cfg = _hydra_cfg(conf, ["debug=tiny"])
    with pytest.raises(ConfigError, match=r"hardware.slurm.\* is now launcher.\*"):
        validate(cfg)
