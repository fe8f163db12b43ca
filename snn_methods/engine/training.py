"""One training run from its config: the run directory and the checkpoint it continues from, `build`, the loggers,
the loop (`loop.fit`), and results.json. `snn_methods.api.run` and each training stage of DSR's ANN -> SNN recipe
(snn_methods/ann2snn) call `train`."""
from __future__ import annotations

import logging
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from snn_methods import results as results_io
from snn_methods.engine import checkpoints, distributed, hardware
from snn_methods.engine.distributed import Distributed
from snn_methods.engine.experiment import build
from snn_methods.engine.loop import fit
from snn_methods.engine.preemption import StopRequest, StopTraining
from snn_methods.engine.rundir import check_same_run, default_run_dir, resume_point
from snn_methods.loggers import LoggerGroup

log = logging.getLogger(__name__)


def train(cfg: DictConfig, run_dir: str | Path | None = None) -> dict:
    """Train (or continue) the run described by `cfg`; write results.json and return its content.
    Under DDP every process calls it; rank 0 chooses the run directory and writes every file."""
    dist, _ = distributed.setup(cfg.hardware, hardware.resolve_device(cfg.hardware.device))
    try:
        results = _train(cfg, run_dir, dist)
    except BaseException:
        dist.close(wait_for_all=False)
        raise
    dist.close()
    return results


def _train(cfg: DictConfig, run_dir: str | Path | None, dist: Distributed) -> dict:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not dist.is_main:   # the other ranks log only warnings (they share rank 0's log file)
        logging.getLogger("snn_methods").setLevel(logging.WARNING)
    default_dir, meta = default_run_dir()
    run_dir, ckpt = dist.broadcast(resume_point(cfg.resume, Path(run_dir) if run_dir else default_dir))
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    current = OmegaConf.to_container(cfg, resolve=True)

    done = results_io.read(run_dir / "results.json")
    if done is not None and ckpt is not None:
        check_same_run(checkpoints.load(ckpt).get("config", {}), current, run_dir)
        if done.get("epochs") == cfg.epochs:
            log.info("%s already holds a finished run: returning its results (resume=never retrains)", run_dir)
            return done
    payload = checkpoints.load(ckpt) if ckpt is not None else None
    if payload is not None:
        check_same_run(payload.get("config", {}), current, ckpt)

    exp = build(cfg)
    if dist.is_main:
        OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    loggers = LoggerGroup(instantiate(node) for node in (cfg.logger.loggers or {}).values() if dist.is_main)
    meta.update(method=cfg.method.name, model=cfg.model.name, dataset=cfg.dataset.name, seed=cfg.seed,
                name=run_dir.name if meta["sweep"] else f"{cfg.method.name}-{cfg.model.name}-{run_dir.name}")
    success = False
    loggers.start(run_dir, current, meta)
    with StopRequest() as stop:
        try:
            results = fit(exp, run_dir, loggers, payload, stop)
            results["run_dir"] = str(run_dir)
            if dist.is_main:
                results_io.write(run_dir / "results.json", results)
            loggers.log_summary(results)
            success = True
            log.info("test accuracy %.4f (val %.4f), connectivity %s, results in %s", results["final"]["test_acc"],
                     results["final"]["val_acc"], results["final"]["connectivity"], run_dir / "results.json")
            return results
        except StopTraining:
            loggers.close(False)
            stop.hand_over(str(run_dir))    # submitit requeues the job here; otherwise raises Preempted
            raise
        finally:
            loggers.close(success)
