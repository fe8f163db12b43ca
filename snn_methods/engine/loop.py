"""The training loop: one for every method. What differs between methods lives in the objects it calls
(the gradient rule, the pruning method, the neuron inside the model), never in branches here."""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import sys
import time
from pathlib import Path
from typing import Any, Iterable

import torch
from omegaconf import OmegaConf
from spikingjelly.activation_based import functional

from snn_methods import results as results_io
from snn_methods.engine import checkpoints, collapse, faults, resume_policy
from snn_methods.engine.experiment import Experiment
from snn_methods.engine.preemption import NEVER, StopRequest, StopTraining
from snn_methods.errors import TrainingDiverged
from snn_methods.loggers import Logger
from snn_methods.losses import rate
from snn_methods.metrics import FiringRateProbe, SynOpsProbe, connectivity, peak_memory_mb, reset_peak_memory
from snn_methods.values import is_finite_number

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = 1


@dataclasses.dataclass
class TrainState:
    epoch: int = 0                 # epochs completed
    step: int = 0                  # optimizer steps completed
    history: list = dataclasses.field(default_factory=list)
    best: dict = dataclasses.field(default_factory=lambda: {
        "val_acc": None, "test_acc_at_best_val": None, "epoch": None, "test_acc_max": None, "test_acc_max_epoch": None})
    wall_time_s: float = 0.0
    batch: int = 0                 # batches done in the current epoch (> 0 only in a checkpoint saved mid-epoch)
    epoch_sums: dict = dataclasses.field(default_factory=dict)   # that epoch's running sums, over all ranks
    warnings: list = dataclasses.field(default_factory=list)      # said once, kept in results.json (resumes, collapse)


def _progress(iterable: Iterable, setting: Any, desc: str, total: int | None) -> Iterable:
    show = sys.stderr.isatty() if setting == "auto" else bool(setting)
    if not show:
        return iterable
    from tqdm.auto import tqdm   # loaded when a progress bar is shown (a terminal, or train.progress=true)

    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)


def _batches(loader: Any, limit: int | None) -> tuple[Iterable, int]:
    total = len(loader) if limit is None else min(limit, len(loader))
    return (batch for i, batch in zip(range(total), loader)), total


def _start_epoch(loader: Any, epoch: int, start: int) -> tuple[Iterable, int]:
    """Set the loader's epoch; return the epoch's batches from the `start`-th on (a run resumed mid-epoch)
    and the number of batches of a whole epoch. The suite's loaders skip the done batches without reading them."""
    if hasattr(loader, "set_epoch"):
        try:
            loader.set_epoch(epoch, start_batch=start)
            return loader, len(loader) + start
        except TypeError:   # a set_epoch(epoch) without start_batch
            loader.set_epoch(epoch)
    return itertools.islice(loader, start, None), len(loader)


def train_epoch(exp: Experiment, state: TrainState, run_dir: Path, stop: StopRequest = NEVER) -> dict:
    model, cfg, dist = exp.model, exp.cfg, exp.dist
    net = exp.train_model if exp.train_model is not None else model   # DDP around the model, or the model
    model.train()
    loader, per_epoch = _start_epoch(exp.data.train, state.epoch, state.batch)
    limit = cfg.train.limit_train_batches
    total = per_epoch if limit is None else min(limit, per_epoch)
    batches = zip(range(total - state.batch), loader)
    # sums of the batches this process runs; the part before a mid-epoch restart is over all ranks (rank 0 adds it)
    carried = state.epoch_sums if dist.is_main else {}
    seen, loss_sum, correct = 0, 0.0, 0
    start = time.perf_counter()
    for _, (x, y) in _progress(batches, cfg.train.progress, f"epoch {state.epoch + 1}/{cfg.epochs}",
                               total - state.batch):
        x, y = x.to(exp.device, non_blocking=True), y.to(exp.device, non_blocking=True)
        functional.reset_net(model)
        exp.optimizer.zero_grad(set_to_none=True)
        out = exp.rule.step(net, exp.encoder(x), y, exp.loss_fn, exp.precision)
        loss = float(out.loss)
        diverged, stopping = dist.any(not is_finite_number(loss), stop.requested)   # every rank decides alike
        if diverged:   # the advice names overrides that work when added to the same command (resume_policy)
            raise TrainingDiverged(resume_policy.nan_advice(
                loss, state.epoch + 1, state.step + 1, run_dir, faults.last_epoch(run_dir),
                OmegaConf.select(cfg, "optimizer.lr")))
        exp.precision.step(exp.optimizer, model.parameters(), cfg.train.grad_clip)
        state.step += 1
        state.batch += 1
        exp.pruning.after_step(model, exp.optimizer, state.step)
        for cb in exp.callbacks.values():
            cb.on_step_end(exp, state.step)
        if exp.scheduler.interval == "step":
            exp.scheduler.step()
        seen += y.numel()
        loss_sum += loss * y.numel()
        correct += int((out.logits.argmax(1) == y).sum())
        if stopping:
            functional.reset_net(model)
            sums = dist.sum([seen, loss_sum, correct, time.perf_counter() - start])
            state.epoch_sums = {**state.epoch_sums, "seen": state.epoch_sums.get("seen", 0) + sums[0],
                                "loss_sum": state.epoch_sums.get("loss_sum", 0.0) + sums[1],
                                "correct": state.epoch_sums.get("correct", 0) + sums[2],
                                "time_s": state.epoch_sums.get("time_s", 0.0) + sums[3] / dist.world_size}
            raise StopTraining
    functional.reset_net(model)
    before = state.epoch_sums.get("time_s", 0.0)   # this epoch's training time before a restart
    elapsed = time.perf_counter() - start + before
    seen, loss_sum, correct = dist.sum([seen + carried.get("seen", 0), loss_sum + carried.get("loss_sum", 0.0),
                                        correct + carried.get("correct", 0)])
    state.batch, state.epoch_sums = 0, {}
    return {"loss": loss_sum / max(seen, 1), "acc": correct / max(seen, 1), "samples_per_s": seen / elapsed,
            "time_s": elapsed, "time_s_before_restart": before}


@torch.no_grad()
def evaluate(exp: Experiment, loader: Any, probes: tuple = ()) -> dict:
    """Plain SNN inference (whatever the gradient rule): loss and accuracy; probes (firing rate, SynOps) listen in."""
    model = exp.model
    was_training = model.training
    model.eval()
    batches, _ = _batches(loader, exp.cfg.train.limit_eval_batches)
    seen, loss_sum, correct = 0, 0.0, 0
    for x, y in batches:
        x, y = x.to(exp.device, non_blocking=True), y.to(exp.device, non_blocking=True)
        functional.reset_net(model)
        with exp.precision.autocast():
            out = model(exp.encoder(x))
            loss = exp.loss_fn(out, y)
        for probe in probes:
            if hasattr(probe, "add_samples"):
                probe.add_samples(y.numel())
        seen += y.numel()
        loss_sum += float(loss) * y.numel()
        correct += int((rate(out).argmax(1) == y).sum())
    functional.reset_net(model)
    model.train(was_training)
    seen, loss_sum, correct = exp.dist.sum([seen, loss_sum, correct])   # each rank evaluated its share
    for probe in probes:
        exp.dist.sum_counters(probe)
    return {"loss": loss_sum / max(seen, 1), "acc": correct / max(seen, 1), "n": int(seen)}


def evaluate_with(exp: Experiment, loader: Any, probes: tuple) -> dict:
    """`evaluate` with the probes' hooks installed for the duration."""
    with contextlib.ExitStack() as stack:
        for probe in probes:
            stack.enter_context(probe)
        return evaluate(exp, loader, probes)


def final_probes(exp: Experiment) -> tuple:
    """The probes of a final evaluation: the firing rate, and SynOps / energy unless train.synops_final=false."""
    return (FiringRateProbe(exp.model),) + ((SynOpsProbe(exp.model),) if exp.cfg.train.synops_final else ())


def evaluate_final(exp: Experiment, loader: Any, split: str, extra_probes: tuple = ()) -> tuple[dict, dict]:
    """The final evaluation of the model on one split, measured as at the end of training: (the results.json
    "final" block for that split, the evaluation's {loss, acc, n}). `extra_probes` (e.g. a confusion matrix)
    listen in; connectivity counts |w| <= the pruning's zero_threshold as zero, as every epoch does."""
    probes = final_probes(exp)
    reset_peak_memory(exp.device)
    started = time.perf_counter()
    stats = evaluate_with(exp, loader, (*probes, *extra_probes))
    elapsed = time.perf_counter() - started
    conn = connectivity(exp.model, zero_threshold=exp.pruning.zero_threshold)
    record = {"val_acc": None, "val_loss": None, "test_acc": None, "test_loss": None,
              f"{split}_acc": stats["acc"], f"{split}_loss": stats["loss"],
              "connectivity": conn["total"], "connectivity_with_bn": conn["with_bn"],
              "layers": {"connectivity": conn["layers"]}}
    final = results_io.final(record, probes, samples_per_s=stats["n"] / max(elapsed, 1e-9),
                             memory=peak_memory_mb(exp.device))
    return final, stats


def _update_best(state: TrainState, record: dict) -> bool:
    best, improved = state.best, False
    if record["val_acc"] is not None and (best["val_acc"] is None or record["val_acc"] > best["val_acc"]):
        best.update(val_acc=record["val_acc"], test_acc_at_best_val=record.get("test_acc"), epoch=record["epoch"])
        improved = True
    if record.get("test_acc") is not None and (best["test_acc_max"] is None or record["test_acc"] > best["test_acc_max"]):
        best.update(test_acc_max=record["test_acc"], test_acc_max_epoch=record["epoch"])
    return improved


def checkpoint_payload(exp: Experiment, state: TrainState, record: dict) -> dict:
    return {"format": CHECKPOINT_FORMAT, "epoch": state.epoch, "step": state.step,
            "model": exp.model.state_dict(), "optimizer": exp.optimizer.state_dict(),
            "scheduler": exp.scheduler.state_dict(), "pruning": exp.pruning.state_dict(),
            "precision": exp.precision.state_dict(), "rng": checkpoints.rng_state(),
            "callbacks": {name: cb.state_dict() for name, cb in exp.callbacks.items()},
            "history": state.history, "best": state.best, "wall_time_s": state.wall_time_s,
            "batch": state.batch, "epoch_sums": state.epoch_sums, "warnings": state.warnings,
            "config": exp.config_dict(), "data": exp.data.info, "metrics": record, "versions": exp.versions,
            # ${...} kept: mode=test re-resolves it (a T override reaches encoder.T, $SNN_DATA is this machine's)
            "config_unresolved": OmegaConf.to_container(exp.cfg, resolve=False)}


def restore(exp: Experiment, payload: dict) -> TrainState:
    exp.model.load_state_dict(payload["model"])
    exp.optimizer.load_state_dict(payload["optimizer"])
    exp.scheduler.load_state_dict(payload["scheduler"])
    exp.pruning.load_state_dict(payload.get("pruning") or {})
    exp.precision.load_state_dict(payload.get("precision") or {})
    for name, cb in exp.callbacks.items():
        cb.load_state_dict((payload.get("callbacks") or {}).get(name) or {})
    checkpoints.set_rng_state(payload["rng"])
    return TrainState(epoch=payload["epoch"], step=payload["step"], history=list(payload["history"]),
                      best=dict(payload["best"]), wall_time_s=payload["wall_time_s"],
                      batch=payload.get("batch", 0), epoch_sums=dict(payload.get("epoch_sums") or {}),
                      warnings=list(payload.get("warnings") or []))


def _epoch_line(rec: dict, epochs: int) -> str:
    def pct(v: Any) -> str:
        return "  -  " if v is None else f"{100 * v:5.1f}"
    conn = "" if rec["connectivity"] is None else f" | conn {rec['connectivity']:.4f}"
    fr = "" if rec["firing_rate"] is None else f" | rate {rec['firing_rate']:.3f}"
    return (f"epoch {rec['epoch'] + 1}/{epochs}  train loss {rec['train_loss']:.4f} acc {pct(rec['train_acc'])}"
            f" | val {pct(rec['val_acc'])} | test {pct(rec.get('test_acc'))}{conn}{fr} | {rec['epoch_time_s']:.1f} s")


def fit(exp: Experiment, run_dir: Path, logger: Logger, resume_payload: dict | None = None,
        stop: StopRequest = NEVER) -> dict:
    """Train for cfg.epochs (continuing from `resume_payload` if given) and return the results dict.
    When `stop` is requested, last.pt is saved after the current step and StopTraining is raised."""
    cfg = exp.cfg
    state = restore(exp, resume_payload) if resume_payload else TrainState()
    if resume_payload:
        log.info("resumed from %s at epoch %d (step %d)%s", run_dir / "last.pt", state.epoch, state.step,
                 f", batch {state.batch} of the epoch" if state.batch else "")
    reset_peak_memory(exp.device)
    log.info("training epochs %d-%d in %s", state.epoch + 1, cfg.epochs, run_dir)
    for cb in exp.callbacks.values():
        cb.on_train_start(exp, state.epoch)
    probes: tuple = ()
    test: dict = {"acc": None, "loss": None}
    while state.epoch < cfg.epochs:
        started = time.perf_counter()
        last_epoch = state.epoch == cfg.epochs - 1
        lr = state.epoch_sums.setdefault("lr", exp.optimizer.param_groups[0]["lr"])   # at the epoch's start
        for cb in exp.callbacks.values():
            cb.on_epoch_start(exp, state.epoch)
        try:
            train = train_epoch(exp, state, run_dir, stop)
        except StopTraining:
            if exp.dist.is_main:
                checkpoints.save(run_dir / "last.pt", checkpoint_payload(exp, state, {}))
            log.info("stopped at epoch %d, batch %d: last.pt saved", state.epoch + 1, state.batch)
            raise
        if exp.scheduler.interval == "epoch":
            exp.scheduler.step()
        rates = FiringRateProbe(exp.model)
        val = evaluate_with(exp, exp.data.val, (rates,))
        if cfg.train.eval_test_every_epoch or last_epoch:
            probes = final_probes(exp) if last_epoch else ()
            test = evaluate_with(exp, exp.data.test, probes)
        conn = connectivity(exp.model, zero_threshold=exp.pruning.zero_threshold)
        record = {"epoch": state.epoch, "lr": lr,
                  "train_loss": train["loss"], "train_acc": train["acc"],
                  "val_loss": val["loss"], "val_acc": val["acc"], "test_loss": test["loss"], "test_acc": test["acc"],
                  "connectivity": conn["total"], "connectivity_with_bn": conn["with_bn"],
                  "firing_rate": rates.mean(), "samples_per_s": train["samples_per_s"],
                  "layers": {"connectivity": conn["layers"], "firing_rate": rates.rates()},
                  **exp.pruning.epoch_stats(exp.model)}
        for cb in exp.callbacks.values():
            cb.on_epoch_end(exp, state.epoch, record)
        state.epoch += 1
        state.history.append(record)
        for line in collapse.check(state.history, exp.data.num_classes, state.warnings):   # said once
            log.warning("%s", line)
            state.warnings.append(line)
        improved = _update_best(state, record)
        record["epoch_time_s"] = time.perf_counter() - started + train["time_s_before_restart"]
        state.wall_time_s += record["epoch_time_s"]
        exp.dist.check_same_parameters(exp.model, record["epoch"])
        if exp.dist.is_main:
            payload = checkpoint_payload(exp, state, record)
            checkpoints.save(run_dir / "last.pt", payload)
            if improved:
                checkpoints.save(run_dir / "best.pt", payload)
        log.info(_epoch_line(record, cfg.epochs))
        logger.log_metrics(record, step=record["epoch"])
    if not probes:  # the last epoch ran before a restart: measure the final model once more
        probes = final_probes(exp)
        evaluate_with(exp, exp.data.test, probes)
    return summarise(exp, state, probes)


def summarise(exp: Experiment, state: TrainState, probes: tuple) -> dict:
    """The run's results.json, from its history and the final evaluation's probes."""
    final = results_io.final(state.history[-1], probes, memory=peak_memory_mb(exp.device),
                             samples_per_s=sum(h["samples_per_s"] for h in state.history) / len(state.history))
    return results_io.training(exp.cfg, steps=state.step, final=final, best=state.best, history=state.history,
                               wall_time_s=state.wall_time_s, data=exp.data.info, versions=exp.versions,
                               init_source=exp.init_source, warnings=state.warnings)
