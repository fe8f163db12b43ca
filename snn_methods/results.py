"""results.json: the one format every report and sweep reads, built here and nowhere else.

Every dict the suite writes as a run's results is assembled by the builders below: `training` (the engine, at the
end of a run), `evaluation` (mode=test's eval.json), `calibration` and `chain` (DSR's ANN -> SNN recipe). Their
"final" block comes from `final`, so a trained run and mode=test on its checkpoint report the same quantities."""
from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

from snn_methods.engine.checkpoints import atomic_write_bytes
from snn_methods.metrics import FiringRateProbe
from snn_methods.values import is_finite_number

REQUIRED = ("method", "model", "dataset", "T", "seed", "final", "best", "history", "wall_time_s", "versions")
FINAL_KEYS = ("test_acc", "val_acc", "connectivity", "firing_rate", "synops_per_sample")
BEST_KEYS = ("val_acc", "test_acc_at_best_val", "test_acc_max", "epoch")
BEST_SELECTION = "val_acc (test_acc_max is the seeds' convention: max test accuracy over epochs)"


# --------------------------------------------------------------------------------------------- the builders
def header(cfg: Any) -> dict:
    """What ran: the keys every results dict starts with."""
    return {"method": cfg.method.name, "model": cfg.model.name, "dataset": cfg.dataset.name, "T": cfg.T,
            "seed": cfg.seed}


def final(record: dict, probes: Iterable, samples_per_s: float, memory: dict) -> dict:
    """The "final" block: the accuracies, losses and connectivity of `record` (the last epoch's, or one
    evaluation's), what the final evaluation's probes counted (firing rate; SynOps and energy), the throughput and
    the peak memory (`metrics.peak_memory_mb`)."""
    out = {"test_acc": record["test_acc"], "val_acc": record["val_acc"], "test_loss": record["test_loss"],
           "val_loss": record["val_loss"], "connectivity": record["connectivity"],
           "connectivity_with_bn": record["connectivity_with_bn"], "firing_rate": None, "synops_per_sample": None,
           "layers": {"connectivity": record["layers"]["connectivity"]}}
    for probe in probes:
        if isinstance(probe, FiringRateProbe):
            out["firing_rate"] = probe.mean()
            out["layers"]["firing_rate"] = probe.rates()
        else:
            ops = probe.per_sample()
            out.update(synops_per_sample=ops["synops"], dense_ops_per_sample=ops["dense"],
                       effective_acs_per_sample=ops["effective_acs"], effective_macs_per_sample=ops["effective_macs"],
                       energy_pj_per_sample=ops["energy_pj"])
            out["layers"]["synops"] = ops["layers"]
    out.update(samples_per_s=samples_per_s, peak_memory_mb=memory["mb"], peak_memory_kind=memory["kind"])
    return out


def training(cfg: Any, *, steps: int, final: dict, best: dict, history: list, wall_time_s: float, data: dict,
             versions: dict, init_source: dict | None = None, warnings: list | None = None) -> dict:
    """results.json of a training run (`best`: the engine's running best, of which BEST_KEYS and its epoch go in;
    `warnings`: what the run said once, e.g. a collapse or a change accepted on resume)."""
    chosen = {k: best[k] for k in ("val_acc", "test_acc_at_best_val", "test_acc_max", "epoch", "test_acc_max_epoch")}
    return {**header(cfg), "epochs": cfg.epochs, "steps": steps, "final": final,
            "best": {**chosen, "selection": BEST_SELECTION}, "history": history, "wall_time_s": wall_time_s,
            "data": data, "versions": versions, **({"init_from": init_source} if init_source else {}),
            "warnings": list(warnings or [])}


def evaluation(cfg: Any, *, split: str, final: dict, checkpoint: dict, trained: dict | None, overrides: list,
               warnings: list, data: dict, versions: dict, wall_time_s: float, run_dir: str) -> dict:
    """eval.json of mode=test: the "final" block of one split of a checkpoint, where the checkpoint came from and
    what its run reported (`trained`)."""
    return {"mode": "test", **header(cfg), "split": split, "final": final, "checkpoint": checkpoint,
            "trained": trained, "overrides": overrides, "warnings": warnings, "data": data, "versions": versions,
            "wall_time_s": wall_time_s, "run_dir": run_dir}


def calibration(thresholds: str, sites: dict) -> dict:
    """The calibration stage's result (it trains nothing: its "final" keys are there, all null)."""
    return {"stage": "calibrate", "thresholds": thresholds, "sites": sites, "final": dict.fromkeys(FINAL_KEYS)}


def chain(stages: dict, root: Path, thresholds: str) -> dict:
    """results.json of a whole multi-stage chain: the last (snn) stage's results, and where each stage's are."""
    return {**stages["snn"], "run_dir": str(root),
            "pipeline": {"ann": {"run_dir": str(root / "ann"), "test_acc": stages["ann"]["final"]["test_acc"]},
                         "calibrate": {"thresholds": thresholds},
                         "snn": {"run_dir": str(root / "snn")}}}


# --------------------------------------------------------------------------------------------- the file


def versions() -> dict:
    out: dict[str, Any] = {"python": platform.python_version()}
    for pkg in ("snn-methods", "torch", "torchvision", "spikingjelly", "hydra-core", "omegaconf", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    out["git_commit"] = git_commit()
    return out


def git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
    if isinstance(value, float) and not is_finite_number(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write(path: Path, results: dict) -> None:
    text = json.dumps(_clean(results), indent=2, sort_keys=False)
    atomic_write_bytes(path, lambda f: f.write(text.encode()))


def read(path: Path) -> dict | None:
    """The results of a finished run, or None if the file is missing, partial or not a results file."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if is_complete(data) else None


def is_complete(data: Any) -> bool:
    return (isinstance(data, dict) and all(k in data for k in REQUIRED)
            and all(k in data["final"] for k in FINAL_KEYS) and all(k in data["best"] for k in BEST_KEYS))


def lookup(results: dict, dotted: str) -> Any:
    node: Any = results
    for part in dotted.split("."):
        node = node[part]
    return node
