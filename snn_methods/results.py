"""results.json: the one format every report and sweep reads."""
from __future__ import annotations

import json
import math
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from snn_methods.engine.checkpoints import atomic_write_bytes

REQUIRED = ("method", "model", "dataset", "T", "seed", "final", "best", "history", "wall_time_s", "versions")
FINAL_KEYS = ("test_acc", "val_acc", "connectivity", "firing_rate", "synops_per_sample")
BEST_KEYS = ("val_acc", "test_acc_at_best_val", "test_acc_max", "epoch")


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
    if isinstance(value, float) and not math.isfinite(value):
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
