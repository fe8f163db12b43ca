"""Checkpoints, the engine's one module for them: written atomically (temporary file + rename), read without
executing pickled code, classified (a run directory, a checkpoint of this suite, or a plain state_dict file: a
`Source`), and put into a model (key and shape matching, strict or not, and `init_from`).

Every file is read by `load` (torch.load with weights_only=True): nothing pickled is executed, and the config a
checkpoint holds is plain data (dicts, lists, strings, numbers).

Strict loading (mode=test, and init_from by default): every key of the model and of the file must match, shapes
included, or one CheckpointError names the file and the first mismatching key. Not strict (`init_strict=false`):
the tensors whose key and shape match are loaded; the rest are listed in the log.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from snn_methods.engine import integrity
from snn_methods.errors import CheckpointError

log = logging.getLogger(__name__)


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


# ------------------------------------------------------------------ where weights come from (reading a file)
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
    payload = load(file)   # CheckpointError for a missing, truncated, corrupt or unsafe file
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


# ------------------------------------------------------------------ putting weights into a model (init_from, mode=test)
HINT = "init_strict=false loads only the tensors whose key and shape match, and lists the others"


@dataclasses.dataclass
class Match:
    """How a state_dict lines up with a model's own."""

    loaded: list[str]                              # same key, same shape
    missing: list[str]                             # the model's keys that the file lacks (kept as initialised)
    unexpected: list[str]                          # the file's keys that the model lacks (ignored)
    mismatched: list[tuple[str, tuple, tuple]]     # (key, shape in the file, shape in the model)
    source: dict | None = None                     # init_from: where the weights came from (results.json "init_from")

    @property
    def exact(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    @property
    def cost(self) -> int:
        return len(self.missing) + len(self.unexpected) + len(self.mismatched)

    def first_problem(self, model_keys: list[str]) -> str:
        """The first mismatching key, in the model's order (then the file's), said in words."""
        shape = {k: (a, b) for k, a, b in self.mismatched}
        for key in model_keys:
            if key in shape:
                there, here = shape[key]
                return f"key '{key}' has shape {list(there)} in the file and {list(here)} in the model"
            if key in self.missing:
                return f"the model's key '{key}' is not in the file"
        if self.unexpected:
            return f"the file's key '{self.unexpected[0]}' is not in the model"
        return "no mismatch"

    def report(self) -> str:
        def few(keys: list[str]) -> str:
            return ", ".join(keys[:10]) + (f" (+{len(keys) - 10} more)" if len(keys) > 10 else "")
        parts = [f"loaded {len(self.loaded)} tensors"]
        if self.missing:
            parts.append(f"{len(self.missing)} of the model's keys not in the file (kept as initialised): "
                         f"{few(self.missing)}")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} keys of the file not in the model (ignored): {few(self.unexpected)}")
        if self.mismatched:
            parts.append(f"{len(self.mismatched)} keys with another shape (kept as initialised): "
                         + few([f"{k} {list(a)} vs {list(b)}" for k, a, b in self.mismatched]))
        return "; ".join(parts)


def match(model: nn.Module, state: dict[str, torch.Tensor]) -> Match:
    own = model.state_dict()
    loaded, missing, mismatched = [], [], []
    for key, tensor in own.items():
        if key not in state:
            missing.append(key)
        elif tuple(state[key].shape) != tuple(tensor.shape):
            mismatched.append((key, tuple(state[key].shape), tuple(tensor.shape)))
        else:
            loaded.append(key)
    return Match(loaded, missing, [k for k in state if k not in own], mismatched)


def load_weights(model: nn.Module, source: Source, *, strict: bool, what: str, target: str,
                 found: Match | None = None, hint: str = "") -> Match:
    """Copy the matching tensors of `source` into `model`; with `strict`, refuse any mismatch in one line.

    `what` is the config key named in messages (ckpt, init_from); `target` says what this run builds; `hint`
    ends the message (what to do)."""
    found = found or match(model, source.state)
    if strict and not found.exact:
        raise CheckpointError(
            f"{what}={source.path} does not fit this model: {found.first_problem(list(model.state_dict()))} "
            f"(the file is {source.describe()}; this run builds {target})" + (f". {hint}" if hint else ""))
    model.load_state_dict({k: source.state[k] for k in found.loaded}, strict=False)
    return found


def describe_target(cfg: Any) -> str:
    return f"a {cfg.method.name} {cfg.model.name} model for {cfg.dataset.name}"


def load_and_prepare(model: nn.Module, pruning: Any, cfg: Any) -> Match | None:
    """`pruning.prepare_model(model)`, with `init_from`'s weights loaded first when `init_from` is set.

    Order: the weights go into the model as built, BEFORE the pruning method prepares it and before `build`
    makes the optimizer, so that a pruning method starts from them (a reparameterisation computes its
    parameters from the loaded weights, an optimizer that keeps its own copy of them copies the loaded ones,
    an initial mask is drawn on them). Only a file from a run whose pruning method changed the parameter names
    (a reparameterised run: its keys fit the prepared model better than the model as built) is loaded after
    `prepare_model`. Loading never resumes a run: the optimizer, schedule and epoch start afresh."""
    path = cfg.get("init_from")
    if not path:
        pruning.prepare_model(model)
        return None
    source = read(path, "init_from")
    strict, target = bool(cfg.get("init_strict", True)), describe_target(cfg)
    plain = match(model, source.state)
    after = None
    if not plain.exact:   # would the prepared model fit better? Try it on copies; keep the random streams as they were
        rng = rng_state()
        probe = copy.deepcopy(model)
        copy.deepcopy(pruning).prepare_model(probe)
        set_rng_state(rng)
        prepared = match(probe, source.state)
        after = prepared if prepared.cost < plain.cost else None
    if after is None:
        found = load_weights(model, source, strict=strict, what="init_from", target=target, found=plain, hint=HINT)
        pruning.prepare_model(model)
        stage = "before pruning.prepare_model"
    else:
        pruning.prepare_model(model)
        found = load_weights(model, source, strict=strict, what="init_from", target=target,
                             found=match(model, source.state), hint=HINT)
        stage = "after pruning.prepare_model (the file's keys are those of a prepared model)"
    if not found.loaded:   # init_strict=false loading nothing would silently train from scratch
        raise CheckpointError(f"init_from={source.path} (init_strict=false): no tensor of the file matches this "
                              f"model by key and shape ({source.describe()}; this run builds {target}): name a file "
                              f"of a compatible model, or drop init_from to train from scratch")
    log.info("init_from=%s: %s, loaded %s", source.path.resolve(), source.describe(), stage)
    if not found.exact:
        log.warning("init_from=%s (init_strict=false): %s", source.path, found.report())
    metrics = source.payload.get("metrics") or {}
    if metrics.get("test_acc") is not None:
        log.info("init_from: the source run had val_acc %s, test_acc %s at that epoch",
                 metrics.get("val_acc"), metrics.get("test_acc"))
    found.source = provenance(source, found, stage)
    return found


def provenance(source: Source, found: Match, stage: str) -> dict:
    """What a run started from, for its results.json: the file, what it holds, the commit and the figures of the
    run that wrote it, and how well it fitted."""
    versions = source.payload.get("versions") or {}
    metrics = source.payload.get("metrics") or {}
    return {"path": str(source.path.resolve()), "kind": source.kind, "describes": source.describe(),
            "epoch": source.payload.get("epoch"), "git_commit": versions.get("git_commit"),
            "val_acc": metrics.get("val_acc"), "test_acc": metrics.get("test_acc"), "loaded_at": stage,
            "loaded": len(found.loaded), "missing": len(found.missing), "unexpected": len(found.unexpected),
            "other_shapes": len(found.mismatched)}
