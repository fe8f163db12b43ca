"""The one entry point: `python launch.py [GROUP=OPTION] [key=value] ...`, `-m` for sweeps.

Examples:
    python launch.py                                   # BPTT LIF MLP on the bundled digits data set
    python launch.py method=bptt model=mnist_fc800 dataset=mnist
    python launch.py -m seed=0,1 T=4,8                 # four runs, one results.json each
    python launch.py mode=test ckpt=runs/DATE/TIME T=8  # evaluate a trained run at T=8: eval.json, no training
A bad config value or a missing data set ends the run with one line saying what to change (exit status 2).
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

CONF = Path(__file__).resolve().parent / "conf"
log = logging.getLogger("snn_methods.launch")


def check_group_choices(argv: list[str]) -> str | None:
    """Hydra's message for an unknown option spans many lines; say it in one (None when all choices exist)."""
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        if key.startswith("+") and key.lstrip("+") in _default_groups():
            return f"{key.lstrip('+')} is already in the defaults list: write {key.lstrip('+')}={value} (without +)"
        key = key.lstrip("+~")
        if key.startswith("hardware.slurm."):
            return f"{key}={value} is now launcher.{key.removeprefix('hardware.slurm.')}={value}"
        group = CONF / key
        if "@" in key or "(" in value or not group.is_dir():
            continue
        options = sorted(p.stem for p in group.glob("*.yaml"))
        for choice in value.split(","):
            if choice and choice != "null" and not (group / f"{choice}.yaml").is_file():
                return (_renamed(key, choice)
                        or f"{key}={choice} is not an option of {key}/: choose one of {', '.join(options)}")
    return None


# hardware= options that became launcher= options (hardware/ says what a job runs on, launcher/ where it runs)
MOVED_TO_LAUNCHER = {"slurm": "launcher=slurm", "submitit_local": "launcher=submitit_local",
                     "slurm_1gpu": "launcher=slurm_1gpu hardware=gpu", "slurm_8gpu": "launcher=slurm_8gpu hardware=gpu"}


def _renamed(group: str, choice: str) -> str | None:
    """A renamed option: say its new name (old model names still build from saved configs: models.registry.ALIASES)."""
    if group == "hardware" and choice in MOVED_TO_LAUNCHER:
        return (f"hardware={choice} is now {MOVED_TO_LAUNCHER[choice]} "
                f"(hardware/: device and precision; launcher/: where jobs run)")
    if group == "model":
        from snn_methods.models.registry import ALIASES

        if choice in ALIASES:
            return f"model={choice} is now called model={ALIASES[choice]}"
    return None


def _default_groups() -> set[str]:
    import yaml

    entries = yaml.safe_load((CONF / "config.yaml").read_text()).get("defaults", [])
    return {str(k).split()[-1] for e in entries if isinstance(e, dict) for k in e}


def _write_refusal(job_dir: Path, error: Exception) -> None:
    """A sweep job stopped by a user error leaves its reason where the report finds it (snn_methods/report)."""
    import json

    from snn_methods.errors import ConfigError

    if isinstance(error, ConfigError):
        (job_dir / "refused.json").write_text(json.dumps({"reason": str(error)}))


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    # imported here, not at the top: a bad group choice (checked before Hydra starts) answers without importing torch
    from snn_methods.api import execute
    from snn_methods.engine.preemption import Preempted
    from snn_methods.errors import TrainingDiverged, UserError
    from snn_methods.results import lookup

    test = cfg.get("mode") == "test"   # execute evaluates ckpt and writes eval.json: its objective is final.acc
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode.name == "RUN" and "submitit" in str(hydra_cfg.launcher.get("_target_")):
        print(f"error: launcher={hydra_cfg.runtime.choices.get('launcher')} sends jobs to SLURM / submitit through "
              f"Hydra's launcher, which only multiruns use: add -m (one job is a sweep of one)", file=sys.stderr)
        sys.exit(2)
    try:
        results = execute(cfg, hydra_cfg.overrides.task)   # mode=test, a multi-stage recipe, or one training run
    except UserError as e:
        if hydra_cfg.mode.name == "MULTIRUN":  # let the launcher record this job as failed, go on
            log.error("%s", e)
            _write_refusal(Path(hydra_cfg.runtime.output_dir), e)
            raise
        print(f"{'stopped' if isinstance(e, Preempted) else 'error'}: {e}", file=sys.stderr)
        sys.exit(1 if isinstance(e, TrainingDiverged) else 3 if isinstance(e, Preempted) else
                 getattr(e, "exit_status", 2))
    except KeyboardInterrupt as e:   # Ctrl-C: the run says where it can continue from (engine/faults.py)
        if hydra_cfg.mode.name == "MULTIRUN":
            raise
        print(str(e) or "interrupted before training started", file=sys.stderr)
        sys.exit(130)
    value = lookup(results, "final.acc" if test else cfg.objective)
    return float(value) if value is not None else None


if __name__ == "__main__":
    problem = check_group_choices(sys.argv[1:])
    if problem is None:
        from snn_methods.localconf import check as check_local   # conf/local/default.yaml, before Hydra reads it

        problem = check_local(CONF)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    # jobs that a launcher starts in new processes (submitit, SLURM) import snn_methods from this checkout too
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(CONF.parent), os.environ.get("PYTHONPATH")) if p)
    from snn_methods.engine.runlock import register_resolver

    register_resolver()    # ${run_id:} in hydra.run.dir: default run directories never collide
    main()
