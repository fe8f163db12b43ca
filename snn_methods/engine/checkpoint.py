"""Checkpoints: written atomically (temporary file + rename), read without executing pickled code."""
from __future__ import annotations

import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snn_methods.engine import integrity
from snn_methods.errors import CheckpointError


def umask_mode() -> int:
    """The mode a plain open() would give a new file (0o666 less the umask): mkstemp's 0o600 would hide results
    and checkpoints from the colleagues of a shared project."""
    try:   # Linux says it without changing it (os.umask would, for a moment, for every thread)
        line = next(ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("Umask:"))
        mask = int(line.split()[1], 8)
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Call write(file_object) on a temporary file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(path: Path, payload: dict) -> None:
    atomic_write_bytes(path, lambda f: torch.save(payload, f))


def load(path: Path, map_location: str | torch.device = "cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    integrity.verify(path)     # torch.load does not check the checksums inside the file
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} cannot be read: {unreadable_reason(e)}") from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(payload).__name__}, not a checkpoint dictionary")
    return payload


def unreadable_reason(error: Exception) -> str:
    """Why torch.load(weights_only=True) refused a file, in one line that never advises weights_only=False."""
    text = str(error)
    found = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)", text)
    if found:   # a pickled class or function: loading it could run the file's code
        return (f"it holds a pickled Python object ({found.group(1)}), e.g. a whole model saved with "
                f"torch.save(model), and unpickling it could run code from the file; from trusted code, re-save "
                f"its weights with torch.save(model.state_dict(), PATH)")
    if isinstance(error, EOFError):
        return "the file ends early (empty or truncated); copy or save it again"
    detail = next((line.strip() for line in text.splitlines() if line.strip()
                   and "weights_only" not in line and "Weights only" not in line
                   and not line.lstrip().startswith(("Please file", "Check the documentation"))), "")
    return (f"it is truncated, corrupt or not a PyTorch file ({type(error).__name__}"
            + (f": {detail.split('. ')[0][:160]}" if detail else "") + "); copy or save it again")


def rng_state() -> dict:
    """Every random stream a run draws from, as tensors and plain data (loadable with weights_only=True)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
