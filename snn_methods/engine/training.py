"""One training run from its config: the run directory and the checkpoint it continues from, `build`, the loggers,
the loop (`loop.fit`), and results.json. `snn_methods.api.run` and each training stage of DSR's ANN -> SNN recipe
(snn_methods/ann2snn) call `train`."""
from __future__ import annotations

import logging
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from snn_methods import results as results_io
from snn_methods.engine import checkpoints, distributed, faults, hardware, integrity, resume_policy
from snn_methods.engine.compile import CompileReport
from snn_methods.engine.distributed import Distributed
from snn_methods.engine.experiment import build
from snn_methods.engine.loop import fit
from snn_methods.engine.preemption import StopRequest, StopTraining
from snn_methods.engine.rundir import default_run_dir, resume_point
from snn_methods.loggers import LoggerGroup
from snn_methods.loggers.identity import stable_run_id

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
        faults.make_dir(run_dir)
    # one run per directory (a lock); Ctrl-C and storage faults end in one line (engine/faults.py)
    with faults.guard(run_dir, lock=dist.is_main, agree=dist.broadcast):
        return _train_in(cfg, run_dir, ckpt, dist, meta)


def _train_in(cfg: DictConfig, run_dir: Path, ckpt: Path | None, dist: Distributed, meta: dict) -> dict:
    current = OmegaConf.to_container(cfg, resolve=True)
    done = results_io.read(run_dir / "results.json")
    payload = None
    if ckpt is not None:   # a corrupt last.pt falls back to best.pt (engine/integrity.py)
        ckpt, payload = integrity.load_with_fallback(ckpt, checkpoints.load)
        changes = resume_policy.check(payload.get("config", {}), current, run_dir if done else ckpt,
                                      done["epochs"] if done else payload.get("epoch", 0), finished=done is not None)
        if done is not None and not changes:
            log.info("%s already holds a finished run: returning its results (resume=never retrains)", run_dir)
            return done
        payload = resume_policy.apply(payload, changes)
        for line in payload["warnings"][len(payload["warnings"]) - len(changes):]:
            log.warning("%s", line)

    exp = build(cfg)
    if dist.is_main:
        OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    loggers = LoggerGroup(instantiate(node) for node in (cfg.logger.loggers or {}).values() if dist.is_main)
    meta.update(method=cfg.method.name, model=cfg.model.name, dataset=cfg.dataset.name, seed=cfg.seed,
                name=run_dir.name if meta["sweep"] else f"{cfg.method.name}-{cfg.model.name}-{run_dir.name}",
                # one logger run across resumes (W&B id), TensorBoard's events after the checkpoint purged
                run_id=stable_run_id(run_dir, fresh=payload is None) if dist.is_main else None,
                resumed_epoch=payload.get("epoch", 0) if payload else 0)
    success = False
    loggers.start(run_dir, current, meta)
    with StopRequest() as stop:
        try:
            compiling = CompileReport(bool(cfg.hardware.get("compile")))
            results = fit(exp, run_dir, loggers, payload, stop)
            results["timing"] = compiling.finish()
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
