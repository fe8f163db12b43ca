"""Which config changes a run may take when it is continued, and what it does with them.

- UNCHECKED keys say where and how a run runs or reports (hardware, loggers, paths...): they may differ freely.
- SAFE keys change how the remaining training goes without changing what was trained so far: the learning rate
  and gradient clipping (the way out of a NaN), a longer `epochs` (lengthening a schedule). They are accepted
  when an unfinished run continues, or a finished run is lengthened, and recorded as warnings in results.json
  ("continued at epoch 3 with optimizer.lr 0.001 -> 0.0001"). A changed learning rate rescales the restored
  optimizer and schedule (torch would otherwise restore the old one from the checkpoint).
- Anything else makes it another run: refused in one line.
- A finished run is never rewritten by a shorter one; a checkpoint past the new `epochs` is refused likewise.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from snn_methods.errors import CheckpointError

UNCHECKED = ("resume", "hardware", "launcher", "logger", "train.progress", "paths", "objective", "dataset.rebuild",
             "neuron.backend")
SAFE = ("optimizer.lr", "train.grad_clip", "epochs")
LR_STATE_KEYS = ("lr", "initial_lr", "base_lrs", "_last_lr", "max_lr", "min_lr")


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def differences(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(key, old value, new value) for every checked key that differs, in sorted key order."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else str(key)
            if not _under(sub, UNCHECKED):
                found += differences(old.get(key), new.get(key), sub)
        return found
    return [] if old == new else [(path, old, new)]


def check(saved: dict, current: dict, where: Path, done_epochs: int, finished: bool) -> list[tuple[str, Any, Any]]:
    """The safe changes to apply (CheckpointError for the first unsafe one). `saved`: the checkpoint's config;
    `done_epochs`: epochs it completed; `finished`: the directory holds the results of the whole run."""
    changes = differences(saved, current)
    epochs = current.get("epochs")
    lengthened = isinstance(epochs, int) and isinstance(saved.get("epochs"), int) and epochs > saved["epochs"]
    for key, old, new in changes:
        if key == "epochs" and isinstance(new, int) and new < done_epochs:
            what = "a finished run" if finished else "a run whose last checkpoint is"
            raise CheckpointError(f"{where} holds {what} of {done_epochs} epochs; epochs={new} would rewrite it "
                                  f"with a shorter one: use a new run directory (or epochs>={done_epochs} to "
                                  f"continue it)")
        if not _under(key, SAFE) or (finished and not lengthened):
            hint = (f" ({', '.join(SAFE)} may change when an unfinished run continues or a finished one is "
                    f"lengthened)" if _under(key, SAFE) else "")
            raise CheckpointError(f"{where} holds a run with another config ({key}: {old!r} there, {new!r} now); "
                                  f"use a new run directory, or resume=never to start over in it{hint}")
    return changes


def describe(changes: list[tuple[str, Any, Any]], epoch: int) -> list[str]:
    return [f"continued at epoch {epoch} with {key} {old!r} -> {new!r}" for key, old, new in changes]


def _scale(node: Any, factor: float) -> Any:
    """Multiply every learning-rate entry of an optimizer's / scheduler's state_dict (nested schedulers too)."""
    if isinstance(node, dict):
        return {k: ([x * factor if isinstance(x, (int, float)) else x for x in v] if k in LR_STATE_KEYS and
                    isinstance(v, list) else v * factor if k in LR_STATE_KEYS and isinstance(v, (int, float))
                    and not isinstance(v, bool) else _scale(v, factor)) for k, v in node.items()}
    if isinstance(node, list):
        return [_scale(v, factor) for v in node]
    return node


def apply(payload: dict, changes: list[tuple[str, Any, Any]]) -> dict:
    """The checkpoint payload to continue from, with the changes applied and recorded in its `warnings`."""
    payload = dict(payload)
    for key, old, new in changes:
        if key == "optimizer.lr" and isinstance(old, (int, float)) and isinstance(new, (int, float)) and old > 0:
            for part in ("optimizer", "scheduler"):
                if part in payload:
                    payload[part] = _scale(payload[part], new / old)
    payload["warnings"] = list(payload.get("warnings") or []) + describe(changes, payload.get("epoch", 0))
    return payload


# ------------------------------------------------------------------------------------------------ advice
def override(key: str, value: Any) -> str:
    """`key=value` as one shell word that Hydra reads back as the same string (sweep directories hold '=' and
    ',', which Hydra would otherwise parse as a sweep)."""
    import shlex

    text = str(value)
    if any(c in text for c in "=,'\"[]{}() \\"):
        text = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return shlex.quote(f"{key}={text}")


def nan_advice(loss: float, epoch: int, step: int, run_dir: Path, last_epoch: int | None, lr: Any) -> str:
    """The message of a diverged run, with overrides that work when added to the same command."""
    smaller = override("optimizer.lr", f"{lr / 10:g}") if isinstance(lr, (int, float)) else "optimizer.lr=<smaller>"
    head = f"the loss became {loss} at epoch {epoch}, step {step}; training stopped and "
    if last_epoch is None:
        return (head + f"no checkpoint was written yet. Start again with a smaller learning rate or gradient "
                f"clipping: add `{smaller}` (or `train.grad_clip=1.0`) to the same command")
    resume = override("resume", run_dir)
    return (head + f"the last good checkpoint is {Path(run_dir) / 'last.pt'} (epoch {last_epoch}). Continue from it "
            f"with a smaller learning rate or gradient clipping: add `{resume} {smaller}` (or `{resume} "
            f"train.grad_clip=1.0`) to the same command")
