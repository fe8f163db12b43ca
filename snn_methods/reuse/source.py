"""Where trained weights come from: a run directory, a checkpoint of this suite, or a plain state_dict file.

Every file is read by `engine.checkpoints.load` (torch.load with weights_only=True): nothing pickled is executed,
and the config a checkpoint holds is plain data (dicts, lists, strings, numbers).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from snn_methods.engine import checkpoints
from snn_methods.errors import CheckpointError

# a directory means its final model (the one results.json's "final" describes); best.pt is named explicitly
RUN_DIR_FILES = ("last.pt", "best.pt")
RUN_DIR_TEXT_FILES = (".json", ".yaml", ".yml", ".log", ".txt")
# prefixes that wrap every key of a state_dict saved from a wrapped model: DDP (module.), torch.compile (_orig_mod.)
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# where other code bases keep the weights inside a dict ({"epoch": .., "state_dict": ..})
STATE_KEYS = ("model", "state_dict", "model_state_dict")


@dataclasses.dataclass
class Source:
    """The weights of one file, and what the file says about the run that made them."""

    path: Path
    kind: str                          # "checkpoint" (this suite's, with its config) or "state_dict"
    state: dict[str, torch.Tensor]     # parameter and buffer tensors by name (wrapper prefixes removed)
    payload: dict                      # the whole file

    @property
    def config(self) -> dict | None:
        return self.payload.get("config") if self.kind == "checkpoint" else None

    def describe(self) -> str:
        """'a bptt mlp run on digits (epoch 3)' or 'a plain state_dict (no config)'."""
        cfg = self.config
        if not cfg:
            return "a plain state_dict (no config)"
        name = lambda key: (cfg.get(key) or {}).get("name", "?")  # noqa: E731
        return f"a {name('method')} {name('model')} run on {name('dataset')} (epoch {self.payload.get('epoch', '?')})"


def locate(path: str | Path, what: str = "ckpt") -> Path:
    """The checkpoint file a path names: the file itself, or a run directory's last.pt (else its best.pt)."""
    p = Path(path).expanduser()
    if p.is_dir():
        for name in RUN_DIR_FILES:
            if (p / name).is_file():
                return p / name
        runs = sorted(d.name for d in p.iterdir() if d.is_dir() and any((d / n).is_file() for n in RUN_DIR_FILES))
        if runs:   # a multirun directory: name one of its runs
            shown = ", ".join(runs[:5]) + (f" (+{len(runs) - 5} more)" if len(runs) > 5 else "")
            first = str(p / runs[0])
            first = f"\"'{first}'\"" if any(c in first for c in "=, ") else first   # as a Hydra override value
            raise CheckpointError(f"{what}={path} is a directory of {len(runs)} runs ({shown}), not one run: name "
                                  f"one of them, e.g. {what}={first}")
        raise CheckpointError(f"{what}={path} is a directory without {' or '.join(RUN_DIR_FILES)}: "
                              f"name a run directory of this suite or a checkpoint / state_dict file")
    if not p.is_file():
        raise CheckpointError(f"{what}={path} does not exist: name a run directory, a best.pt / last.pt, "
                              f"or a state_dict file")
    if p.suffix in RUN_DIR_TEXT_FILES:   # results.json, eval.json, config.yaml, the log: the run, not its weights
        raise CheckpointError(f"{what}={path} is a {p.suffix} file, not a checkpoint: name its run directory "
                              f"({what}={p.parent}) or a best.pt / last.pt")
    return p


def _tensors_only(node: Any) -> bool:
    return isinstance(node, dict) and bool(node) and all(isinstance(v, torch.Tensor) for v in node.values())


def _strip_wrappers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def read(path: str | Path, what: str = "ckpt") -> Source:
    """Read (never unpickle code) and classify a checkpoint; `what` names the config key in messages."""
    file = locate(path, what)
    payload = checkpoints.load(file)   # CheckpointError for a missing, truncated, corrupt or unsafe file
    if isinstance(payload.get("config"), dict) and _tensors_only(payload.get("model")):
        return Source(file, "checkpoint", _strip_wrappers(dict(payload["model"])), payload)
    if _tensors_only(payload):
        return Source(file, "state_dict", _strip_wrappers(dict(payload)), payload)
    for key in STATE_KEYS:
        if _tensors_only(payload.get(key)):
            return Source(file, "state_dict", _strip_wrappers(dict(payload[key])), payload)
    keys = ", ".join(map(str, list(payload)[:8])) or "none"
    raise CheckpointError(f"{what}={file} holds neither a checkpoint of this suite (config + model) nor a state_dict "
                          f"(a dict of tensors, or one under {'/'.join(STATE_KEYS)}); its top-level keys: {keys}")
