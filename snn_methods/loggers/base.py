"""The logger protocol and a group that keeps one broken logger from breaking the run."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger(__name__)


def flatten_numeric(metrics: dict, prefix: str = "", sep: str = "/") -> dict[str, float]:
    """{'a': {'b': 1}} -> {'a/b': 1.0}; non-numeric values are dropped."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten_numeric(value, name, sep))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


class Logger:
    """Override what you need; every call gets plain data (dicts of numbers and strings)."""

    def start(self, run_dir: Path, config: dict, meta: dict) -> None:
        """meta: method, model, dataset, seed, run name, sweep directory (None outside multirun)."""

    def log_metrics(self, metrics: dict, step: int) -> None: ...

    def log_summary(self, results: dict) -> None: ...

    def close(self, success: bool) -> None: ...


class LoggerGroup(Logger):
    """Calls every logger; a logger that raises is reported once and then left out (the run goes on)."""

    def __init__(self, loggers: Iterable[Logger]):
        self.loggers = list(loggers)

    def _each(self, method: str, *args: Any) -> None:
        for logger in list(self.loggers):
            try:
                getattr(logger, method)(*args)
            except Exception as e:  # a logging failure must not lose the training run
                log.warning("logger %s failed in %s (%s: %s); it is switched off for this run",
                            type(logger).__name__, method, type(e).__name__, e)
                if method != "close":
                    self.loggers.remove(logger)
                    try:
                        logger.close(False)
                    except Exception:
                        pass

    def start(self, run_dir: Path, config: dict, meta: dict) -> None:
        self._each("start", run_dir, config, meta)

    def log_metrics(self, metrics: dict, step: int) -> None:
        self._each("log_metrics", metrics, step)

    def log_summary(self, results: dict) -> None:
        self._each("log_summary", results)

    def close(self, success: bool) -> None:
        self._each("close", success)
