"""mode=test: rebuild a trained model from its checkpoint, evaluate one split, write eval.json (no training).

The model is rebuilt from the config saved in the checkpoint; only the keys in OVERRIDABLE may differ from
the trained run (where it runs, which split, how many time steps...). A plain state_dict has no saved
config: then the current config (defaults + overrides) describes the model. The evaluation is the engine's
own (`engine.loop.evaluate_final`) and eval.json is built by snn_methods/results.py, so its "final" has the same
keys and meanings as results.json's, plus the split's per-class accuracy and confusion matrix.
"""
from __future__ import annotations

import copy
import logging
import re
import time
from pathlib import Path
from typing import Any, Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from snn_methods import results as results_io
from snn_methods.config import CONF_DIR, compose
from snn_methods.engine.checkpoints import Source, describe_target, load_weights, read
from snn_methods.engine.experiment import build
from snn_methods.engine.loop import evaluate_final
from snn_methods.engine.rundir import default_run_dir
from snn_methods.errors import CheckpointError, ConfigError
from snn_methods.loggers import LoggerGroup
from snn_methods.metrics.confusion import ConfusionProbe

log = logging.getLogger(__name__)

# key (or the prefix of a dotted key) -> why mode=test may change it
OVERRIDABLE = {
    "mode": "the run's mode", "ckpt": "the checkpoint", "eval_split": "the split to evaluate",
    "T": "evaluating at another number of time steps (T-robustness)",
    "batch_size": "the evaluation batch size",
    "seed": "the random streams of stochastic encoders (Poisson)",
    "deterministic": "determinism of the kernels",
    "hardware": "what it runs on", "launcher": "where it runs", "logger": "where the summary goes", "paths": "where data sets live",
    "dataset.root": "where the data set lives", "dataset.download": "fetching a missing data set",
    "dataset.num_workers": "loader processes",
    "train.limit_eval_batches": "a shorter evaluation", "train.progress": "the progress bar",
    "train.synops_final": "whether SynOps and energy are counted",
}
SPLIT_DEFINING = ("split_seed", "val_size", "val_fraction", "test_fraction", "data_seed", "train_size", "val_size",
                  "test_size")
TRAINING_ONLY = ("optimizer", "scheduler", "epochs", "train", "resume", "init_from", "init_strict", "objective",
                 "callbacks")
PRESETS = ("debug", "experiment", "local")
# keys the test config always sets itself
OWN_KEYS = ("mode", "ckpt", "eval_split", "init_from", "init_strict", "resume")


def _quote(path: str | Path) -> str:
    """A path as a Hydra override value (multirun directories hold '=' and ',')."""
    return "'" + str(path).replace("\\", "\\\\").replace("'", "\\'") + "'"


def override_keys(overrides: Sequence[str]) -> list[tuple[str, str]]:
    """(dotted key or group, the override as written) for every override that changes the job's config."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return [(o.key_or_group, o.input_line or o.key_or_group) for o in parsed if not o.key_or_group.startswith("hydra")]


def _allowed(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in OVERRIDABLE)


def refusal(key: str) -> str | None:
    """Why mode=test may not change `key` for a checkpoint with a saved config (None: it may)."""
    if _allowed(key):
        return None
    top, last = key.split(".")[0], key.split(".")[-1]
    if top == "dataset" and last in SPLIT_DEFINING:
        return "it would change which samples each split holds (test samples could come from the training data)"
    if top in PRESETS:
        return "a preset changes training settings and T; name the keys instead (e.g. train.limit_eval_batches=2)"
    if top in TRAINING_ONLY:
        return "it only affects training, and mode=test does not train"
    return "it defines the trained model or its data, which mode=test rebuilds from the checkpoint's saved config"


def _is_group(name: str) -> bool:
    return "." not in name and (CONF_DIR / name).is_dir()


def _same_option(key: str, current: DictConfig, saved: dict) -> bool:
    """A group override that selects the option the checkpoint was trained with (`dataset=cifar10` so that
    `dataset.root=...` composes): accepted, and the saved node is kept as it was."""
    if not _is_group(key) or _allowed(key):
        return False
    node, old = OmegaConf.select(current, key), saved.get(key)
    if not (OmegaConf.is_dict(node) and isinstance(old, dict)):
        return False
    ids = [(node.get(k), old.get(k)) for k in ("name", "_target_")]
    return all(a == b for a, b in ids) and any(a is not None for a, _ in ids)


def _fill_missing(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """Add the root config's keys that the saved config lacks (keys the suite gained after the checkpoint was
    written), without reaching into the config groups (a saved model node never gets the current model's keys)."""
    added = []
    for key, value in current.items():
        path = f"{prefix}{key}"
        if key not in saved:
            saved[key] = value
            added.append(path)
        elif isinstance(value, dict) and isinstance(saved[key], dict) and not _is_group(path):
            added += _fill_missing(saved[key], value, path + ".")
    return added


def _differences(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted(set(old) | set(new), key=str)
                for d in _differences(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))]
    return [] if old == new else [(path, old, new)]


def _select_plain(cfg: DictConfig, key: str) -> Any:
    value = OmegaConf.select(cfg, key, throw_on_missing=False)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def test_config(source: Source, current: DictConfig, overrides: Sequence[str]) -> tuple[DictConfig, list[str], list[str]]:
    """(the config to rebuild and evaluate with, the overrides applied, warnings)."""
    keys = override_keys(overrides)
    warnings: list[str] = []
    if source.kind == "state_dict":
        cfg = OmegaConf.create(OmegaConf.to_container(current, resolve=True))
        warnings.append(f"ckpt={source.path} is a plain state_dict without a saved config: the model is built from "
                        f"the current config ({describe_target(cfg)}, T={cfg.T}); pass the overrides the model "
                        f"was trained with")
        applied = [written for key, written in keys if key not in ("mode", "ckpt")]
    else:
        saved = source.payload["config"]
        keys = [(key, written) for key, written in keys if not _same_option(key, current, saved)]
        for key, written in keys:
            why = refusal(key)
            if why:
                raise ConfigError(f"mode=test cannot change {key} ({written}): {why}. "
                                  f"mode=test may change: {', '.join(OVERRIDABLE)}")
            group = key.split(".")[0]
            if "." in key and _is_group(group) and key.split(".", 1)[1] not in (saved.get(group) or {}):
                raise ConfigError(f"mode=test cannot change {key} ({written}): the checkpoint's {group} "
                                  f"({(saved.get(group) or {}).get('name', '?')}) has no such key")
        applied = [written for key, written in keys if key not in ("mode", "ckpt")]
        unresolved = source.payload.get("config_unresolved")
        cfg = None
        if unresolved is not None:   # re-resolved here: ${T} follows a T override, ${oc.env:SNN_DATA} this machine
            notes: list[str] = []
            try:
                cfg = _apply(unresolved, current, keys, notes)
                here = _apply(unresolved, current, [], [])   # this machine's values, without the overrides
            except Exception as e:  # e.g. a resolver this installation lacks
                warnings.append(f"the checkpoint's unresolved config cannot be resolved here ({type(e).__name__}: "
                                f"{(str(e).splitlines() or [''])[0]}); using its resolved values")
                cfg = None
            else:
                warnings += notes
                for path, old, new in _differences(saved, OmegaConf.to_container(here)):
                    if old is not None and path.split(".")[0] not in OWN_KEYS:
                        warnings.append(f"{path} resolves to {new!r} here, {old!r} when the checkpoint was written")
        if cfg is None:
            cfg = _apply(saved, current, keys, warnings)
            _follow_t(cfg, saved, keys)
    for key in OWN_KEYS:
        OmegaConf.update(cfg, key, None, force_add=True)
    cfg.mode, cfg.ckpt, cfg.resume, cfg.init_strict = "test", str(source.path), "never", True
    cfg.eval_split = current.get("eval_split", "test")
    OmegaConf.set_struct(cfg, True)
    return cfg, applied, warnings


def _apply(base: dict, current: DictConfig, keys: list[tuple[str, str]], warnings: list[str]) -> DictConfig:
    base = copy.deepcopy(base)
    added = _fill_missing(base, OmegaConf.to_container(current, resolve=False))
    added = [k for k in added if k.split(".")[0] not in OWN_KEYS]
    if added:
        warnings.append(f"keys the checkpoint's config lacks, taken from the current config: {', '.join(added)}")
    cfg = OmegaConf.create(base)
    for key, _ in keys:
        OmegaConf.update(cfg, key, _select_plain(current, key), merge=False, force_add=True)
    OmegaConf.resolve(cfg)
    return cfg


def _follow_t(cfg: DictConfig, saved: dict, keys: list[tuple[str, str]]) -> None:
    """Checkpoints written before the unresolved config was saved: a T override also changes the keys that
    were `${T}` in the config tree (encoder.T, dataset.frames), recognised by name and by the trained value."""
    if not any(k == "T" for k, _ in keys) or cfg.T == saved.get("T"):
        return
    for group in ("encoder", "dataset", "model", "neuron"):
        node = cfg.get(group)
        for name in ("T", "frames"):
            if isinstance(node, DictConfig) and node.get(name) == saved.get("T"):
                node[name] = cfg.T


def _provenance(source: Source, exp: Any) -> list[str]:
    """Warnings where the libraries, the suite's commit or the data set differ from the checkpoint's."""
    if source.kind != "checkpoint":
        return ["the state_dict records no library versions, commit or data identity: nothing can be compared"]
    out = []
    saved_versions = source.payload.get("versions") or {}
    for key in sorted(set(saved_versions) | set(exp.versions)):
        if saved_versions.get(key) != exp.versions.get(key):
            out.append(f"{key} is {exp.versions.get(key)} here, {saved_versions.get(key)} when the checkpoint was written")
    saved_data = source.payload.get("data") or {}
    for key in ("name", "split", "sizes"):
        if saved_data.get(key) != exp.data.info.get(key):
            out.append(f"data set {key} is {exp.data.info.get(key)!r} here, {saved_data.get(key)!r} at training")
    return out


def evaluate_split(exp: Any, loader: Any, split: str) -> dict:
    """The engine's final evaluation of one split (`loop.evaluate_final`): the results.json "final" block, plus
    per-class accuracy and the confusion matrix (rows: true class, columns: predicted)."""
    confusion = ConfusionProbe(exp.model, exp.data.num_classes)
    final, stats = evaluate_final(exp, confusion.track(loader), split, (confusion,))
    matrix = confusion.matrix()
    if int(matrix.sum()) != stats["n"] or int(matrix.trace()) != round(stats["acc"] * stats["n"]):
        raise RuntimeError(f"the confusion matrix ({int(matrix.trace())}/{int(matrix.sum())} correct) disagrees with "
                           f"the evaluation ({stats['acc']} of {stats['n']})")
    final.update(split=split, acc=stats["acc"], loss=stats["loss"], n=stats["n"],
                 per_class_acc=confusion.per_class_accuracy(), confusion_matrix=matrix.tolist())
    return final


def _loader(exp: Any, split: str, batch_size: int | None) -> Any:
    """The split's evaluation loader; rebuilt with another batch size when batch_size was overridden."""
    loader = exp.data.test if split == "test" else exp.data.val
    if batch_size is None:
        return loader
    return DataLoader(loader.dataset, batch_size=batch_size, shuffle=False, num_workers=loader.num_workers,
                      pin_memory=loader.pin_memory)


def _build(cfg: DictConfig, source: Source, applied: list[str]) -> Any:
    """`build` on the rebuilt config. Where a checkpoint's saved config cannot be built here (a method, model or
    neuron this installation lacks, a value today's checks refuse), the one-line error names the checkpoint and
    the suite commit that wrote it."""
    if source.kind != "checkpoint":   # a plain state_dict: the current config, whose errors speak for themselves
        return build(cfg)
    commit = (source.payload.get("versions") or {}).get("git_commit")
    written = f"written by suite commit {commit}" if commit else "its suite commit is not recorded"
    origin = f"the config rebuilt from ckpt={source.path}" + (f" with {', '.join(applied)}" if applied else "")
    try:
        return build(cfg)
    except InstantiationException as e:
        found = re.search(r"Error locating target '([^']+)'", str(e))
        why = (f"its _target_ '{found.group(1)}' cannot be imported here" if found
               else (str(e).splitlines() or [type(e).__name__])[0])
        raise CheckpointError(f"ckpt={source.path} cannot be rebuilt by this installation of the suite: {why} "
                              f"(the checkpoint: {written}); evaluate it with the suite version that wrote it, "
                              f"or install the package that provides it") from None
    except ConfigError as e:
        raise ConfigError(f"{e} (in {origin}; {written})") from None


def run_test(current: DictConfig, overrides: Sequence[str], run_dir: str | Path | None = None) -> dict:
    """Evaluate current.ckpt as `overrides` ask (launch.py passes Hydra's task overrides); write eval.json."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not current.get("ckpt"):
        raise ConfigError("mode=test needs ckpt=PATH: a run directory, a best.pt / last.pt, or a state_dict file")
    started = time.perf_counter()
    source = read(current.ckpt, "ckpt")
    cfg, applied, warnings = test_config(source, current, overrides)   # refuses overrides that change the model
    if current.get("init_from"):
        raise ConfigError(f"init_from={current.init_from} is for training; mode=test evaluates ckpt={current.ckpt}")
    default_dir, meta = default_run_dir()
    run_dir = Path(run_dir) if run_dir else default_dir
    run_dir.mkdir(parents=True, exist_ok=True)

    exp = _build(cfg, source, applied)
    load_weights(exp.model, source, strict=True, what="ckpt", target=describe_target(cfg), hint=(
        "A plain state_dict is built from the current config: pass the overrides of the run that made it"
        if source.kind == "state_dict" else "The model was rebuilt from the checkpoint's saved config"
        + (f" with {', '.join(applied)}: one of these changes its parameters" if applied else "")))
    if source.kind == "checkpoint":
        exp.pruning.load_state_dict(source.payload.get("pruning") or {})
    warnings += _provenance(source, exp)
    for line in warnings:
        log.warning("mode=test: %s", line)
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)

    batch_override = any(key == "batch_size" for key, _ in override_keys(overrides))
    final = evaluate_split(exp, _loader(exp, cfg.eval_split, cfg.batch_size if batch_override else None),
                           cfg.eval_split)
    saved_cfg, metrics = source.config or {}, source.payload.get("metrics") or {}
    trained = None if source.kind != "checkpoint" else {
        "T": saved_cfg.get("T"), "epoch": source.payload.get("epoch"), "epochs": saved_cfg.get("epochs"),
        **{k: metrics.get(k) for k in ("val_acc", "test_acc", "connectivity", "firing_rate")}}
    checkpoint = {"path": str(source.path.resolve()), "kind": source.kind,
                  "config_source": "checkpoint" if source.kind == "checkpoint" else
                  "current config (a plain state_dict has no saved config)",
                  "versions": source.payload.get("versions"), "data": source.payload.get("data")}
    results = results_io.evaluation(cfg, split=cfg.eval_split, final=final, checkpoint=checkpoint, trained=trained,
                                    overrides=applied, warnings=warnings, data=exp.data.info, versions=exp.versions,
                                    wall_time_s=time.perf_counter() - started, run_dir=str(run_dir))
    results_io.write(run_dir / "eval.json", results)

    loggers = LoggerGroup(instantiate(node) for node in (cfg.logger.loggers or {}).values())
    meta.update(method=cfg.method.name, model=cfg.model.name, dataset=cfg.dataset.name, seed=cfg.seed,
                name=run_dir.name if meta["sweep"] else f"test-{cfg.method.name}-{cfg.model.name}-{run_dir.name}")
    loggers.start(run_dir, OmegaConf.to_container(cfg, resolve=True), meta)
    loggers.log_summary(results)
    loggers.close(True)
    log.info("mode=test: %s accuracy %.4f on %d samples at T=%s (trained at T=%s), connectivity %s, results in %s",
             cfg.eval_split, final["acc"], final["n"], cfg.T, (trained or {}).get("T", "?"), final["connectivity"],
             run_dir / "eval.json")
    return results


def evaluate_checkpoint(ckpt: str | Path, overrides: Sequence[str] = (), run_dir: str | Path | None = None) -> dict:
    """The Python API of mode=test: `evaluate_checkpoint("runs/x", ["T=8"])` returns what eval.json holds."""
    args = ["mode=test", f"ckpt={_quote(ckpt)}", *overrides]
    return run_test(compose(args), args, run_dir)
