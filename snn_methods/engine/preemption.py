"""Stopping cleanly when the job is told to: SLURM's signal before the time limit, or a preemption.

submitit asks SLURM for SIGUSR2 `signal_delay_s` before the limit (and sends it on preemption); its handler
pickles the job and requeues it, and the requeued job starts the run again -- which then continues from
last.pt (resume=auto). Left alone, that handler interrupts whatever the training loop is doing, so up to a
whole epoch is lost. Here the signal only raises a flag; the loop finishes the current optimizer step, saves
last.pt *mid-epoch* (the data order depends only on (seed, epoch), so the resumed run skips exactly the
batches already done and continues as if never stopped), and only then hands over to submitit's handler
(requeue) -- or, outside submitit, ends the run with a message saying how to continue.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

from snn_methods.errors import UserError

log = logging.getLogger(__name__)


class Preempted(UserError):
    """The run was asked to stop; last.pt holds everything needed to continue it."""


class StopTraining(Exception):
    """Raised by the loop at a step boundary once a stop was requested (after the step)."""


def stop_signal() -> signal.Signals:
    """The signal submitit uses for preemption and time limits (SUBMITIT_PREEMPT_SIGNAL, default USR2)."""
    return signal.Signals["SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")]


class StopRequest:
    """Context manager: while active, the stop signal only sets `requested`; `hand_over()` then does what
    the previous handler (submitit's checkpoint-and-requeue) would have done."""

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():   # signals can only be caught there
            sig = stop_signal()
            self._previous = signal.getsignal(sig)
            signal.signal(sig, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(stop_signal(), self._previous)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested, self.signum = True, signum
        log.warning("received %s: stopping after the current step and saving last.pt", signal.Signals(signum).name)

    def hand_over(self, where: str) -> None:
        """After last.pt is saved: run submitit's handler (it requeues the job and exits), else raise Preempted."""
        name = signal.Signals(self.signum).name if self.signum else "a stop request"
        if callable(self._previous):
            log.info("%s: last.pt saved in %s; handing over to the job's handler (requeue)", name, where)
            self._previous(self.signum, None)     # submitit: checkpoint, scontrol requeue, sys.exit(-1) on rank 0
        raise Preempted(f"stopped by {name}; everything needed to continue is in {where}/last.pt: run the same "
                        f"command again (resume=auto) to continue")


NEVER = StopRequest()     # a request nobody can make (the loop's default)
