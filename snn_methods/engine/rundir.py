"""Where a run writes: its directory (Hydra's job directory, else runs/api/<time>-<unique suffix>) and the
checkpoint it continues from (`resume=auto|never|PATH`). Which config changes a continued run may take:
engine/resume_policy.py."""
from __future__ import annotations

from pathlib import Path
from hydra.core.hydra_config import HydraConfig

from snn_methods.engine import runlock
from snn_methods.errors import CheckpointError

def default_run_dir() -> tuple[Path, dict]:
    """The Hydra job's output directory when called from launch.py, else runs/api/<time>-<unique suffix>."""
    if HydraConfig.initialized():
        hc = HydraConfig.get()
        sweep = str(hc.sweep.dir) if hc.mode.name == "MULTIRUN" else None   # e.g. multirun/sparsity: W&B's group
        return Path(hc.runtime.output_dir), {"sweep": sweep}
    return Path("runs") / "api" / runlock.unique_name(), {"sweep": None}   # unique: several runs per second


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
