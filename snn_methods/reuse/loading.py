"""Putting a Source's weights into a model: key and shape matching, strict or not, and `init_from`.

Strict (mode=test, and init_from by default): every key of the model and of the file must match, shapes
included, or one CheckpointError names the file and the first mismatching key. Not strict
(`init_strict=false`): the tensors whose key and shape match are loaded; the rest are listed in the log.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
from typing import Any

import torch
import torch.nn as nn

from snn_methods.engine import checkpoint
from snn_methods.errors import CheckpointError
from snn_methods.reuse.source import Source, read

log = logging.getLogger(__name__)
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
        rng = checkpoint.rng_state()
        probe = copy.deepcopy(model)
        copy.deepcopy(pruning).prepare_model(probe)
        checkpoint.set_rng_state(rng)
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
