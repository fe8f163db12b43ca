"""Clean stops: what a run does when it is interrupted or its storage fails, in one line that says what to do.

`guard(run_dir)` wraps a whole training run: it holds the run directory's lock (engine/runlock.py) and turns
  - Ctrl-C into `Interrupted` ("interrupted; last checkpoint epoch N ...; run the same command ... to continue"),
  - a full disk / quota (ENOSPC, EDQUOT) into `DiskFull`: the checkpoint being written is dropped, the previous
    one stays intact (checkpoints are written to a temporary file, then renamed),
  - a run directory that cannot be written (EACCES, EROFS, ENOENT, ...) into `RunDirUnwritable`.
launch.py prints these as one line with their exit status (130 for Ctrl-C, as a shell does).
"""
from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Any, Callable, Iterator

from hydra.experimental.callback import Callback

from snn_methods.engine.resume_policy import override
from snn_methods.engine.runlock import RunDirBusy, RunLock
from snn_methods.errors import UserError

FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR, errno.EISDIR)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; the message says where it can continue from. Exit status 130."""

    exit_status = 130


class DiskFull(UserError):
    """The disk (or quota) of the run directory is full; nothing written before is lost."""

    exit_status = 1


class RunDirUnwritable(UserError):
    """The run directory cannot be created or written."""


def last_epoch(run_dir: Path) -> int | None:
    """The epoch of the run directory's last.pt, read without loading its tensors (None: no usable last.pt)."""
    import torch

    try:
        return int(torch.load(Path(run_dir) / "last.pt", map_location="cpu", weights_only=True, mmap=True)["epoch"])
    except Exception:
        return None


def continue_hint(run_dir: Path) -> str:
    return f"run the same command with {override('resume', run_dir)} to continue"


def _checkpoint_said(run_dir: Path) -> str:
    epoch = last_epoch(run_dir)
    return (f"last checkpoint epoch {epoch} in {run_dir}" if epoch is not None
            else f"no checkpoint yet in {run_dir} (the run starts over)")


def make_dir(run_dir: Path) -> None:
    try:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        probe = Path(run_dir) / f".write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise RunDirUnwritable(f"cannot write in the run directory {run_dir} ({e.strerror or e}): choose a writable "
                               f"one (hydra.run.dir=, hydra.sweep.dir=, or run(cfg, run_dir=...))") from None


def storage_error(e: OSError, run_dir: Path) -> UserError | None:
    """The one-line error for an OSError while writing a run's files, or None if it is not a storage fault."""
    where = e.filename if isinstance(e.filename, str) else run_dir   # a write's OSError may name only an fd
    if e.errno in FULL:
        return DiskFull(f"no space left for {where} ({e.strerror or e}); the files written before are intact "
                        f"({_checkpoint_said(run_dir)}): free some space, then {continue_hint(run_dir)}")
    if e.errno in UNWRITABLE and isinstance(e.filename, str) and e.filename.startswith(str(run_dir)):
        return RunDirUnwritable(f"cannot write {where} ({e.strerror}): make {run_dir} writable, then "
                                f"{continue_hint(run_dir)}")
    return None


@contextlib.contextmanager
def guard(run_dir: Path, lock: bool = True, agree: Callable[[Any], Any] = lambda x: x) -> Iterator[Any]:
    """Hold the run directory's lock for the run; translate interrupts and storage faults (see the module).
    Under DDP only rank 0 takes the lock (`lock`); `agree` (rank 0's value on every rank) makes all ranks stop
    when it is busy, instead of waiting for rank 0 at the next collective."""
    held = RunLock(run_dir, enabled=lock)
    busy = None
    try:
        held.acquire()
    except RunDirBusy as e:
        busy = str(e)
    busy = agree(busy)
    if busy:
        raise RunDirBusy(busy)
    try:
        yield
    except KeyboardInterrupt as e:
        if isinstance(e, Interrupted):
            raise
        raise Interrupted(f"interrupted; {_checkpoint_said(run_dir)}; {continue_hint(run_dir)}") from None
    except OSError as e:
        translated = storage_error(e, Path(run_dir))
        if translated is None:
            raise
        raise translated from None
    finally:
        held.release()


class RunDirCheck(Callback):
    """A Hydra callback (conf/config.yaml, hydra.callbacks): Hydra creates the run directory before the job starts
    and reports a failure as a traceback; this checks it first and says it in one line (exit status 2)."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        self._check(Path(str(config.hydra.run.dir)))

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        self._check(Path(str(config.hydra.sweep.dir)), keep=False)   # the sweeper may still launch nothing

    @staticmethod
    def _check(where: Path, keep: bool = True) -> None:
        import sys

        missing = [p for p in (where, *where.parents) if not p.exists()]
        try:
            make_dir(where)
        except RunDirUnwritable as e:
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(2) from None
        for p in missing if not keep else ():   # created only to try: removed again (they are empty)
            p.rmdir()
