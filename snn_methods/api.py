"""The Python API: compose -> build -> run. `launch.py` is a thin Hydra wrapper around the same functions."""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn
from omegaconf import DictConfig, OmegaConf

from snn_methods import results as results_io
from snn_methods.compat import check_interpolations
from snn_methods.config import compose, validate
from snn_methods.data import DataBundle, LoaderSettings
from snn_methods.engine import checkpoint, distributed, hardware
from snn_methods.engine.distributed import Distributed
from snn_methods.engine.precision import Precision
from snn_methods.errors import CheckpointError, UserError
from snn_methods.neurons import NeuronFactory
from snn_methods.reuse.loading import load_and_prepare

log = logging.getLogger(__name__)

__all__ = ["Experiment", "compose", "build", "run"]

# keys that may differ between a run and its continuation (where it runs, how it reports, how long it goes)
RESUMABLE_CHANGES = ("resume", "hardware", "logger", "train.progress", "paths", "epochs", "objective",
                     "dataset.rebuild")


@dataclasses.dataclass
class Experiment:
    """Everything a run needs, instantiated but not trained."""

    cfg: DictConfig
    device: torch.device
    data: DataBundle
    neuron: NeuronFactory
    model: nn.Module
    pruning: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    rule: Any
    encoder: Callable[[torch.Tensor], torch.Tensor]
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    precision: Precision
    versions: dict
    callbacks: dict = dataclasses.field(default_factory=dict)   # name -> engine Callback
    dist: Distributed = dataclasses.field(default_factory=Distributed)   # rank / world size (DDP), or one process
    train_model: nn.Module | None = None     # what the gradient rule calls: DDP around `model` (None: `model`)
    init_source: dict | None = None          # init_from: the provenance of the starting weights (results.json)

    def config_dict(self) -> dict:
        return OmegaConf.to_container(self.cfg, resolve=True)


def _instantiate(node: DictConfig, **kwargs: Any) -> Any:
    """hydra.utils.instantiate with plain Python containers, and our own errors re-raised as they are."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        while cause is not None and not isinstance(cause, UserError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise


def build(cfg: DictConfig) -> Experiment:
    """Validate the config and instantiate every piece (seeded, on the configured device)."""
    validate(cfg)
    hw = cfg.hardware
    device = hardware.resolve_device(hw.device)
    dist, device = distributed.setup(hw, device)
    hardware.configure(device, deterministic=cfg.deterministic, cudnn_benchmark=hw.cudnn_benchmark,
                       num_threads=hw.num_threads)
    hardware.seed_everything(cfg.seed)
    pin = device.type == "cuda" if hw.pin_memory == "auto" else bool(hw.pin_memory)
    data = _instantiate(cfg.dataset, _partial_=True)(
        loader=LoaderSettings(batch_size=distributed.per_process_batch(cfg.batch_size, dist), seed=cfg.seed,
                              pin_memory=pin, rank=dist.rank, world_size=dist.world_size))
    neuron = NeuronFactory(cfg.neuron)
    model = _instantiate(cfg.model, neuron=neuron, num_classes=data.num_classes, input_shape=list(data.input_shape))
    model.to(device)
    pruning = _instantiate(cfg.pruning)
    loaded = load_and_prepare(model, pruning, cfg)   # init_from's weights, then pruning.prepare_model (reuse/loading.py)
    optimizer = pruning.make_optimizer(model, _instantiate(cfg.optimizer))
    limit = cfg.train.limit_train_batches
    steps_per_epoch = len(data.train) if limit is None else min(limit, len(data.train))
    pruning.plan(epochs=cfg.epochs, steps_per_epoch=steps_per_epoch)
    scheduler = _instantiate(cfg.scheduler)(optimizer, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch)
    return Experiment(cfg=cfg, device=device, data=data, neuron=neuron, model=model, pruning=pruning,
                      optimizer=optimizer, scheduler=scheduler, rule=_instantiate(cfg.method.rule),
                      encoder=_instantiate(cfg.encoder, temporal=data.temporal), loss_fn=_instantiate(cfg.loss),
                      precision=Precision(device, hw.amp, hw.amp_dtype), versions=results_io.versions(),
                      callbacks={name: _instantiate(node) for name, node in (cfg.get("callbacks") or {}).items()},
                      dist=dist, train_model=dist.wrap(model, device, hw.get("find_unused_parameters", False)),
                      init_source=loaded.source if loaded else None)


def _first_difference(old: Any, new: Any, path: str = "") -> tuple[str, Any, Any] | None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else str(key)
            if any(sub == k or sub.startswith(k + ".") for k in RESUMABLE_CHANGES):
                continue
            found = _first_difference(old.get(key), new.get(key), sub)
            if found:
                return found
        return None
    return None if old == new else (path, old, new)


def _check_same_run(saved: dict, current: dict, where: Path) -> None:
    diff = _first_difference(saved, current)
    if diff:
        key, old, new = diff
        raise CheckpointError(f"{where} holds a run with another config ({key}: {old!r} there, {new!r} now); "
                              f"use a new run directory, or resume=never to start over in it")


def _default_run_dir() -> tuple[Path, dict]:
    """The Hydra job's output directory when called from launch.py, else runs/api/<time>."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        hc = HydraConfig.get()
        sweep = str(hc.sweep.dir) if hc.mode.name == "MULTIRUN" else None   # e.g. multirun/sparsity: W&B's group
        return Path(hc.runtime.output_dir), {"sweep": sweep}
    return Path("runs") / "api" / time.strftime("%Y-%m-%d_%H-%M-%S"), {"sweep": None}


def _resume_point(resume: str, run_dir: Path) -> tuple[Path, Path | None]:
    """(directory the run writes to, checkpoint to continue from or None)."""
    if resume == "never":
        return run_dir, None
    if resume == "auto":
        last = run_dir / "last.pt"
        return run_dir, (last if last.exists() else None)
    path = Path(resume)
    if path.is_dir():
        if not (path / "last.pt").exists():
            raise CheckpointError(f"resume={resume}: no last.pt in that directory")
        return path, path / "last.pt"
    return path.parent, path


def run(cfg: DictConfig, run_dir: str | Path | None = None) -> dict:
    """Train (or continue) the run described by `cfg`; write results.json and return its content.
    Under DDP every process calls it; rank 0 chooses the run directory and writes every file."""
    check_interpolations(cfg)            # a `${key}` that does not resolve: one line, before anything reads it
    if cfg.get("pipeline") is not None:   # a multi-stage recipe: its runner calls run() once per stage
        from snn_methods.pipeline import run_stages

        return run_stages(cfg, run_dir)
    dist, _ = distributed.setup(cfg.hardware, hardware.resolve_device(cfg.hardware.device))
    try:
        results = _run(cfg, run_dir, dist)
    except BaseException:
        dist.close(wait_for_all=False)
        raise
    dist.close()
    return results


def _run(cfg: DictConfig, run_dir: str | Path | None, dist: Distributed) -> dict:
    from hydra.utils import instantiate

    from snn_methods.engine.loop import fit
    from snn_methods.engine.preemption import StopRequest, StopTraining
    from snn_methods.loggers import LoggerGroup

    if cfg.get("mode", "train") == "test":
        raise UserError("mode=test evaluates a checkpoint without training: use `launch.py mode=test ckpt=PATH` "
                        "or snn_methods.reuse.evaluate_checkpoint(PATH, overrides)")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not dist.is_main:   # the other ranks log only warnings (they share rank 0's log file)
        logging.getLogger("snn_methods").setLevel(logging.WARNING)
    default_dir, meta = _default_run_dir()
    run_dir, ckpt = dist.broadcast(_resume_point(cfg.resume, Path(run_dir) if run_dir else default_dir))
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    current = OmegaConf.to_container(cfg, resolve=True)

    done = results_io.read(run_dir / "results.json")
    if done is not None and ckpt is not None:
        _check_same_run(checkpoint.load(ckpt).get("config", {}), current, run_dir)
        if done.get("epochs") == cfg.epochs:
            log.info("%s already holds a finished run: returning its results (resume=never retrains)", run_dir)
            return done
    payload = checkpoint.load(ckpt) if ckpt is not None else None
    if payload is not None:
        _check_same_run(payload.get("config", {}), current, ckpt)

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
