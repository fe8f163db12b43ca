"""Composing the config tree and checking its values before anything is built.

`compose` gives the same config as `python launch.py OVERRIDES...`; `validate` turns a bad value into one
`ConfigError` line that names the key and the allowed values.
"""
from __future__ import annotations

import os
from numbers import Integral
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf

from snn_methods.errors import ConfigError
from snn_methods.values import is_finite_number

CONF_DIR = Path(os.environ.get("SNN_METHODS_CONF", Path(__file__).resolve().parent.parent / "conf"))


def compose(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """The config that `python launch.py *overrides` would run (struct mode: unknown keys fail)."""
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if not CONF_DIR.is_dir():
        raise ConfigError(f"config folder {CONF_DIR} not found: run from a source checkout or set SNN_METHODS_CONF")
    from snn_methods import localconf

    problem = localconf.check(CONF_DIR)   # conf/local/default.yaml: Hydra would ignore its mistakes silently
    if problem:
        raise ConfigError(problem)
    if GlobalHydra.instance().is_initialized():  # e.g. called from inside a Hydra app
        GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name="snn_methods"):
            return hydra_compose(config_name=config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(one_line(str(e))) from e


def target_of(cfg: DictConfig, key: str) -> Any:
    """The class or function named by `key._target_` (None when absent or not importable: instantiation reports that)."""
    from hydra.utils import get_method

    target = OmegaConf.select(cfg, f"{key}._target_", default=None)
    if not isinstance(target, str):
        return None
    try:
        return get_method(target)
    except Exception:
        return None


def one_line(message: str) -> str:
    """Hydra's messages span several lines (options, search path); keep what names the problem."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    keep = [ln for ln in lines if not ln.startswith(("Config search path", "provider=", "full_key", "object_type"))]
    return " ".join(keep)


# --------------------------------------------------------------------------------------------- validation
# A rule: (dotted key, check(value) -> bool, text naming the allowed values). Keys absent from a config are
# skipped, so a rule for a group's key only applies when that option is selected. The core rules are below; a
# piece keeps its own table as `RULES` in `snn_methods/<subpackage>/checks.py` (listed in `rule_tables`). Whether
# the pieces fit together, and checks relating several keys: snn_methods/compat.py, run last.
Rule = tuple[str, Callable[[Any], bool], str]


def _is_int(v: Any) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def int_at_least(lo: int) -> Callable[[Any], bool]:
    return lambda v: _is_int(v) and v >= lo


def positive(v: Any) -> bool:
    return is_finite_number(v) and v > 0


def non_negative(v: Any) -> bool:
    return is_finite_number(v) and v >= 0


def in_unit_interval_half_open(v: Any) -> bool:
    return is_finite_number(v) and 0 <= v < 1


def one_of(*choices: Any) -> Callable[[Any], bool]:
    return lambda v: v in choices


def optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


RULES: list[Rule] = [
    ("T", int_at_least(1), "an integer >= 1"),
    ("epochs", int_at_least(1), "an integer >= 1"),
    ("batch_size", int_at_least(1), "an integer >= 1"),
    ("seed", int_at_least(0), "an integer >= 0"),
    ("optimizer.lr", positive, "a number > 0"),
    ("optimizer.weight_decay", non_negative, "a number >= 0"),
    ("optimizer.momentum", lambda v: is_finite_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    # neuron.tau: snn_methods/neurons/checks.py (> 1 for SpikingJelly's LIF, > 0 for the DSR LIF)
    ("neuron.init_tau", lambda v: is_finite_number(v) and v > 1, "a number > 1"),
    ("neuron.v_threshold", positive, "a number > 0"),
    ("neuron.surrogate.alpha", positive, "a number > 0 (the surrogate's sharpness)"),
    ("train.grad_clip", optional(positive), "null or a number > 0"),
    ("train.limit_train_batches", optional(int_at_least(1)), "null or an integer >= 1"),
    ("train.limit_eval_batches", optional(int_at_least(1)), "null or an integer >= 1"),
    ("train.progress", one_of("auto", True, False), "auto, true or false"),
    ("hardware.device", lambda v: v in ("auto", "cpu", "cuda") or str(v).startswith("cuda:"), "auto, cpu, cuda or cuda:N"),
    ("hardware.amp_dtype", one_of("float16", "bfloat16"), "float16 or bfloat16"),
    ("dataset.val_fraction", lambda v: is_finite_number(v) and 0 < v < 1, "a number in (0, 1)"),
    ("dataset.test_fraction", lambda v: is_finite_number(v) and 0 < v < 1, "a number in (0, 1)"),
    ("dataset.val_size", int_at_least(1), "an integer >= 1"),
    ("logger.loggers.wandb.mode", one_of("auto", "online", "offline", "disabled"), "auto, online, offline or disabled"),
]

OBJECTIVES = ("final.test_acc", "final.val_acc", "final.connectivity", "final.firing_rate", "final.synops_per_sample",
              "best.val_acc", "best.test_acc_at_best_val", "best.test_acc_max")


def rule_tables() -> list[list[Rule]]:
    """The value rules: the core ones above and each piece's table beside its code (one plain list)."""
    from snn_methods.ann2snn import checks as pipeline
    from snn_methods.asgl import checks as asgl
    from snn_methods.data import checks as data
    from snn_methods.engine import checks as engine
    from snn_methods.models import checks as models
    from snn_methods.neurons import checks as neurons
    from snn_methods.pruning import checks as pruning
    from snn_methods.reuse import checks as reuse
    from snn_methods.rules import checks as rules

    return [RULES, rules.RULES, pruning.RULES, asgl.RULES, data.RULES, pipeline.RULES, reuse.RULES, engine.RULES,
            models.RULES, neurons.RULES]


def _select(cfg: DictConfig, key: str) -> tuple[bool, Any]:
    missing = object()
    value = OmegaConf.select(cfg, key, default=missing, throw_on_missing=False)
    return (value is not missing), value


def _sparsity_keys(node: Any, prefix: str) -> Iterable[str]:
    """Every key under `node` whose name mentions sparsity: they all must lie in [0, 1)."""
    if isinstance(node, DictConfig):
        for k in node.keys():
            path = f"{prefix}.{k}"
            if "sparsity" in str(k):
                yield path
            yield from _sparsity_keys(node.get(k), path)


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError (one line: key, bad value, allowed values) for the first bad value."""
    from snn_methods import compat

    compat.check_interpolations(cfg)
    for key, check, allowed in (rule for table in rule_tables() for rule in table):
        present, value = _select(cfg, key)
        if isinstance(value, (DictConfig, ListConfig)):
            value = OmegaConf.to_container(value, resolve=True)
        if present and not check(value):
            raise ConfigError(f"{key}={value!r} is invalid: must be {allowed}")
    for key in _sparsity_keys(cfg.get("pruning"), "pruning"):
        _, value = _select(cfg, key)
        if value is not None and not in_unit_interval_half_open(value):
            raise ConfigError(f"{key}={value!r} is invalid: a sparsity must be in [0, 1)")
    if cfg.get("objective") not in OBJECTIVES:
        raise ConfigError(f"objective={cfg.get('objective')!r} is invalid: must be one of {', '.join(OBJECTIVES)}")
    resume = cfg.get("resume")
    if resume not in ("auto", "never") and not (isinstance(resume, str) and Path(resume).exists()):
        raise ConfigError(f"resume={resume!r} is invalid: must be auto, never, or an existing run directory / checkpoint")
    if "PoissonEncoder" in str(OmegaConf.select(cfg, "encoder._target_")) and OmegaConf.select(cfg, "dataset.normalize"):
        raise ConfigError("encoder=poisson needs pixel values in [0, 1]: add dataset.normalize=false")
    if OmegaConf.select(cfg, "hardware.slurm") is not None:   # the pre-launcher/ form, e.g. in conf/local/default.yaml
        raise ConfigError("hardware.slurm.* is now launcher.* (launcher=slurm | slurm_1gpu | slurm_8gpu): move the keys "
                          "from hardware: {slurm: {...}} to launcher: {...}")
    if OmegaConf.select(cfg, "method.rule") is None:
        raise ConfigError("method.rule is missing: a method file must define the gradient rule (see conf/method/bptt.yaml)")
    compat.check(cfg)
