"""Running the stages of a multi-stage recipe (see snn_methods/ann2snn/__init__.py)."""
from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from snn_methods import results as results_io
from snn_methods.ann2snn.convert import THRESHOLDS_FILE, calibrate
from snn_methods.engine import distributed, hardware
from snn_methods.engine.rundir import default_run_dir
from snn_methods.engine.training import train
from snn_methods.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

STAGES = ("ann", "calibrate", "snn")
CHAIN = "all"
# the configuration each stage runs with: calibration measures the ANN, so it uses the ANN's entries
STAGE_ENTRIES = {"ann": "ann", "calibrate": "ann", "snn": "snn"}
# stage -> the artefacts it reads: (key under pipeline, what to give)
INPUTS = {"ann": (),
          "calibrate": (("ann_checkpoint", "the last.pt of a stage=ann run"),),
          "snn": (("ann_checkpoint", "the last.pt of a stage=ann run"),
                  ("thresholds", "the thresholds.json of a stage=calibrate run"))}


def stage_config(cfg: DictConfig, stage: str) -> DictConfig:
    """The single-run config of `stage`: the top level with the entries of `pipeline.<ann|snn>` put in place
    (a node with a `_target_`, e.g. a neuron or optimizer, replaces the top-level one; other nodes merge into it;
    values replace), interpolations resolved, and the `pipeline` / `stage` keys left out."""
    c = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    OmegaConf.set_struct(c, False)
    for key, value in (c.pipeline.get(STAGE_ENTRIES[stage]) or {}).items():
        current = c.get(key)
        if isinstance(value, DictConfig) and "_target_" not in value and isinstance(current, DictConfig):
            c[key] = OmegaConf.merge(current, value)
        else:
            c[key] = value
    plain = OmegaConf.to_container(c, resolve=True)
    for key in ("pipeline", "stage"):
        plain.pop(key, None)
    out = OmegaConf.create(plain)
    OmegaConf.set_struct(out, True)
    return out


def _require_inputs(cfg: DictConfig, stage: str) -> None:
    for key, what in INPUTS[stage]:
        path = cfg.pipeline.get(key)
        if not path:
            raise ConfigError(f"stage={stage} reads {what}: set pipeline.{key}=PATH (or run all stages with stage=all)")
        if not Path(path).is_file():
            raise CheckpointError(f"pipeline.{key}={path} does not exist: give {what}")


def _run_stage(cfg: DictConfig, stage: str, run_dir: Path) -> dict:
    _require_inputs(cfg, stage)
    log.info("stage %s -> %s", stage, run_dir)
    stage_cfg = stage_config(cfg, stage)
    if stage == "calibrate":
        return calibrate(stage_cfg, cfg.pipeline.calibrate, Path(cfg.pipeline.ann_checkpoint), run_dir)
    return train(stage_cfg, run_dir)


def run_stages(cfg: DictConfig, run_dir: str | Path | None = None) -> dict:
    """Run `cfg.stage` (one stage, in the run directory) or, for stage=all, the three stages in ann/, calibrate/ and
    snn/ under it, each reading the artefacts of the one before; returns the last stage's results."""
    stage = cfg.get("stage")
    if stage not in (*STAGES, CHAIN):
        raise ConfigError(f"stage={stage!r} is invalid: must be one of {', '.join(STAGES)} or {CHAIN}")
    # one process group for all the stages of a multi-process run (each stage's training run joins it, none closes it)
    dist, _ = distributed.setup(cfg.hardware, hardware.resolve_device(cfg.hardware.device))
    try:
        root = dist.broadcast(Path(run_dir) if run_dir is not None else default_run_dir()[0])   # rank 0's
        results = _run_stage(cfg, stage, root) if stage != CHAIN else _run_chain(cfg, root, dist.is_main)
    except BaseException:
        dist.close(wait_for_all=False)
        raise
    dist.close()
    return results


def _run_chain(cfg: DictConfig, root: Path, is_main: bool) -> dict:
    """stage=all: ann/, calibrate/ and snn/ under `root`, each reading the artefacts of the one before."""
    for key in ("ann_checkpoint", "thresholds"):
        if cfg.pipeline.get(key):
            raise ConfigError(f"stage=all makes its own artefacts in its run directory, so pipeline.{key} must stay "
                              f"null; to start from existing ones run stage=calibrate or stage=snn")
    if cfg.resume not in ("auto", "never"):
        raise ConfigError(f"resume={cfg.resume!r}: stage=all continues its stages with resume=auto (re-run the same "
                          f"command with hydra.run.dir=<its run directory>), or starts over with resume=never")
    chained = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    chained.pipeline.ann_checkpoint = str(root / "ann" / "last.pt")
    chained.pipeline.thresholds = str(root / "calibrate" / THRESHOLDS_FILE)
    if is_main:
        root.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(chained, root / "config.yaml", resolve=True)
    stages = {stage_name: _run_stage(chained, stage_name, root / stage_name) for stage_name in STAGES}
    summary = results_io.chain(stages, root, chained.pipeline.thresholds)
    if is_main:
        results_io.write(root / "results.json", summary)
    return summary
