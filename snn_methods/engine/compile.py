"""hardware.compile: torch.compile applied to the model the engine trains and evaluates.

The model is compiled in place (`nn.Module.compile`): the module tree, its parameters and its state_dict keys stay
those of the eager model (no `_orig_mod.` prefix), so SpikingJelly's cached reset_net, the pruning
parametrizations, the optimizer and the checkpoints see the same objects, and a compiled run's checkpoint loads
into an eager run and back. Graph breaks (Python the compiler cannot trace) run eagerly by design; a frame the
backend fails to compile runs eagerly too (`suppress_errors`), and each such piece is named once in the log with
the reason. A gradient rule that calls the model's layers one by one (`compiles_model = False` with a
`compile_reason`) keeps the model eager, with one log line saying why.

Random draws under compile come from the eager generator (`fallback_random`): dropout masks, ASGL's random masks and
Poisson coding are the numbers an eager run draws, so a compiled run equals an eager one within float tolerance and
a resumed compiled run continues the same random stream.
"""
from __future__ import annotations

import logging
from typing import Any

import torch.nn as nn

from snn_methods.neurons.backends import has_cpp_compiler

log = logging.getLogger(__name__)

MODES = ("default", "reduce-overhead", "max-autotune")
BACKENDS = ("inductor", "aot_eager", "eager")   # aot_eager: tracing and autograd without code generation (tests)
DYNAMO_LOGGERS = ("torch._dynamo", "torch._dynamo.convert_frame", "torch._dynamo.eval_frame")


class _EagerFallbackLog(logging.Filter):
    """Turns dynamo's multi-line warnings (a frame it could not compile, a function past the recompile limit: both
    then run eagerly) into one line naming the piece and why."""

    def filter(self, record: logging.LogRecord) -> bool:
        lines = [line.strip() for line in record.getMessage().splitlines() if line.strip()]
        if record.levelno < logging.WARNING or len(lines) < 2:
            return True
        where = next((line for line in lines if line.startswith(("function:", "File "))), "")
        log.warning("hardware.compile: a piece runs eagerly: %s %s", lines[0][:200], where[:200])
        return False


def compile_model(model: nn.Module, rule: Any, mode: str = "default", backend: str = "inductor") -> bool:
    """Compile `model` in place for training with `rule`; return whether it was compiled."""
    if not getattr(rule, "compiles_model", True):
        log.warning("hardware.compile: %s runs eagerly: %s", type(rule).__name__,
                    getattr(rule, "compile_reason", "its gradient rule does not call the model as a whole"))
        return False
    if backend == "inductor" and not has_cpp_compiler() and next(model.parameters()).device.type == "cpu":
        log.warning("hardware.compile: %s runs eagerly: inductor needs a C++ compiler on the CPU and none was found "
                    "(apt-get install g++)", type(model).__name__)
        return False
    import torch._dynamo
    import torch._inductor.config

    torch._inductor.config.fallback_random = True   # the eager generator's numbers (see the module docstring)
    torch._dynamo.config.suppress_errors = True     # a frame that fails to compile runs eagerly
    for name in DYNAMO_LOGGERS:   # a logger's filters do not apply to its children's records: each one named
        dynamo_log = logging.getLogger(name)
        if not any(isinstance(f, _EagerFallbackLog) for f in dynamo_log.filters):
            dynamo_log.addFilter(_EagerFallbackLog())
    options = {"mode": None if mode == "default" else mode} if backend == "inductor" else {}
    model.compile(backend=backend, **options)
    log.info("hardware.compile: %s compiled (backend %s, mode %s); its first steps include the compile time",
             type(model).__name__, backend, mode)
    return True


def compile_seconds() -> float:
    """Seconds spent compiling in this process so far (tracing, AOT autograd, code generation)."""
    from torch._dynamo.utils import calculate_time_spent

    spent = calculate_time_spent()
    return float(spent.get("total_wall_time",
                           spent.get("entire_frame_compile", 0.0) + spent.get("entire_backward_compile", 0.0)))


def _graph_breaks() -> dict[str, int]:
    from torch._dynamo.utils import counters

    return {reason.strip().splitlines()[0][:200]: n for reason, n in counters["graph_break"].items()}


class CompileReport:
    """What compiling cost a run: taken before training, `finish()` after it gives results.json's `timing` (the
    compile time apart from the training time, which includes it) and logs, once each, the reasons code ran
    eagerly between compiled graphs (graph breaks)."""

    def __init__(self, compiled: bool):
        self.compiled = compiled
        self.seconds, self.breaks = (compile_seconds(), _graph_breaks()) if compiled else (0.0, {})

    def finish(self) -> dict:
        if not self.compiled:
            return {"compile": False, "compile_s": 0.0}
        breaks = {r: n - self.breaks.get(r, 0) for r, n in _graph_breaks().items() if n > self.breaks.get(r, 0)}
        for reason, n in breaks.items():
            log.info("hardware.compile: ran eagerly between compiled graphs (%d times): %s", n, reason)
        return {"compile": True, "compile_s": compile_seconds() - self.seconds, "graph_breaks": breaks}
