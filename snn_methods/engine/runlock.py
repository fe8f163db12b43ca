"""One run per run directory: a lock file held for the whole run, and default directory names that cannot collide.

The lock is `<run dir>/.lock`, created with O_CREAT | O_EXCL (atomic on local disks and on NFSv3+/Lustre/GPFS,
unlike flock, which some shared file systems ignore). It holds who took it (host, pid, start time, a random
token) and a thread touches it every HEARTBEAT_S seconds. A lock is *stale* -- its run was killed (kill -9, a
node failure, a job cancelled by SLURM) -- when its pid is dead on this host, or when nobody touched it for
SNN_METHODS_LOCK_STALE_S seconds (default 600: another host's pid cannot be checked). A stale lock is taken over
by renaming it to a unique name first (one taker wins the rename) and checking that the renamed file is still
the stale one; a live lock is never removed. A requeued SLURM job (same SLURM_JOB_ID, maybe another node) takes
over the lock of its own earlier attempt at once.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

from snn_methods.errors import UserError

log = logging.getLogger(__name__)
LOCK_NAME = ".lock"
HEARTBEAT_S = 30.0
_PROCESS_ID = secrets.token_hex(3)     # one value per process: Hydra may resolve hydra.run.dir more than once


class RunDirBusy(UserError):
    """Another live run holds the run directory."""


def stale_after_s() -> float:
    return float(os.environ.get("SNN_METHODS_LOCK_STALE_S", 600))


def run_suffix() -> str:
    """A short suffix that makes a default run directory unique. The processes of one torchrun / srun job agree
    on it (they must share rank 0's directory); any other process gets its own random one."""
    env = os.environ
    if "RANK" in env and "WORLD_SIZE" in env:
        shared = "|".join(env.get(k, "") for k in ("TORCHELASTIC_RUN_ID", "MASTER_ADDR", "MASTER_PORT"))
    elif env.get("SLURM_JOB_ID") and int(env.get("SLURM_NTASKS", "1") or 1) > 1:
        shared = f"{env['SLURM_JOB_ID']}.{env.get('SLURM_STEP_ID', '')}"
    else:
        return _PROCESS_ID
    return hashlib.sha1(shared.encode()).hexdigest()[:6]


def unique_name(prefix: str = "") -> str:
    """<prefix><date_time>-<6 random hex>: a new name on every call (several API runs in one process)."""
    return f"{prefix}{time.strftime('%Y-%m-%d_%H-%M-%S')}-{secrets.token_hex(3)}"


def register_resolver() -> None:
    """${run_id:} for conf/config.yaml's hydra.run.dir (launch.py registers it before Hydra starts)."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", run_suffix, use_cache=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # someone else's live process
        return True
    return True


def _read(path: Path) -> dict | None:
    try:
        info = json.loads(path.read_text())
        return info if isinstance(info, dict) else {}
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}      # being written, or garbage: judged by its age alone


def describe(info: dict, age_s: float) -> str:
    return (f"host {info.get('host', '?')}, pid {info.get('pid', '?')}, started {info.get('started', '?')}, "
            f"alive {age_s:.0f} s ago")


class RunLock:
    """Context manager: hold `<run_dir>/.lock` for the duration (RunDirBusy if a live run holds it)."""

    def __init__(self, run_dir: Path, enabled: bool = True):
        self.path = Path(run_dir) / LOCK_NAME
        self.enabled = enabled
        self.token = secrets.token_hex(8)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------------------------- taking it
    def _create(self) -> bool:
        info = {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
                "started": time.strftime("%Y-%m-%d %H:%M:%S"), "slurm_job": os.environ.get("SLURM_JOB_ID")}
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
        return True

    def _staleness(self, info: dict) -> tuple[bool, float]:
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return True, 0.0
        job = os.environ.get("SLURM_JOB_ID")
        if job and info.get("slurm_job") == job and info.get("token") != self.token:
            return True, age           # an earlier attempt of this SLURM job (requeued after a kill or node failure)
        if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
            if not _pid_alive(info["pid"]):
                return True, age
            if info["pid"] == os.getpid() and info.get("token") != self.token:
                return True, age       # this process's own leftover (an earlier run that did not release it)
        return age > stale_after_s(), age

    def _take_over(self, info: dict) -> bool:
        """Move a stale lock aside; False if it changed meanwhile (someone else took it over first)."""
        aside = self.path.with_name(f"{LOCK_NAME}.stale.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return True                # already gone: just try to create ours
        moved = _read(aside) or {}
        if moved.get("token") != info.get("token"):     # we moved a fresh lock: put it back
            try:
                os.link(aside, self.path)
            except OSError:
                pass
            aside.unlink(missing_ok=True)
            return False
        aside.unlink(missing_ok=True)
        log.warning("took over the stale lock of %s (%s)", self.path.parent,
                    describe(info, 0).rsplit(",", 1)[0])
        return True

    def acquire(self) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            if self._create():
                self._start_heartbeat()
                return
            info = _read(self.path)
            if info is None:
                continue               # released meanwhile
            stale, age = self._staleness(info)
            if not stale:
                raise RunDirBusy(f"{self.path.parent} is in use by another run ({describe(info, age)}): wait for it "
                                 f"to end, or choose another directory (hydra.run.dir=... / run(cfg, run_dir=...)); "
                                 f"a lock left by a killed run is taken over after {stale_after_s():.0f} s, or at "
                                 f"once on its own host")
            self._take_over(info)
        raise RunDirBusy(f"{self.path.parent}: could not take its lock (other runs keep taking it)")

    # ---------------------------------------------------------------------------------- holding it
    def _start_heartbeat(self) -> None:
        def beat() -> None:
            while not self._stop.wait(HEARTBEAT_S):
                try:
                    os.utime(self.path)
                except OSError:
                    pass
        self._thread = threading.Thread(target=beat, name="run-lock-heartbeat", daemon=True)
        self._thread.start()

    def release(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self._thread = None
        if (_read(self.path) or {}).get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
