"""Where a run writes: its directory (Hydra's job directory, else runs/api/<time>), the checkpoint it continues
from (`resume=auto|never|PATH`), and the check that a continued run has the same config as the one it continues."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig

from snn_methods.errors import CheckpointError

# keys that may differ between a run and its continuation (where it runs, how it reports, how long it goes)
RESUMABLE_CHANGES = ("resume", "hardware", "launcher", "logger", "train.progress", "paths", "epochs", "objective",
                     "dataset.rebuild")


def first_difference(old: Any, new: Any, path: str = "") -> tuple[str, Any, Any] | None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else str(key)
            if any(sub == k or sub.startswith(k + ".") for k in RESUMABLE_CHANGES):
                continue
            found = first_difference(old.get(key), new.get(key), sub)
            if found:
                return found
        return None
    return None if old == new else (path, old, new)


def check_same_run(saved: dict, current: dict, where: Path) -> None:
    diff = first_difference(saved, current)
    if diff:
        key, old, new = diff
        raise CheckpointError(f"{where} holds a run with another config ({key}: {old!r} there, {new!r} now); "
                              f"use a new run directory, or resume=never to start over in it")


def default_run_dir() -> tuple[Path, dict]:
    """The Hydra job's output directory when called from launch.py, else runs/api/<time>."""
    if HydraConfig.initialized():
        hc = HydraConfig.get()
        sweep = str(hc.sweep.dir) if hc.mode.name == "MULTIRUN" else None   # e.g. multirun/sparsity: W&B's group
        return Path(hc.runtime.output_dir), {"sweep": sweep}
    return Path("runs") / "api" / time.strftime("%Y-%m-%d_%H-%M-%S"), {"sweep": None}


def resume_point(resume: str, run_dir: Path) -> tuple[Path, Path | None]:
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
