"""The composition contract (DESIGN.md): every piece declares what it needs from the others and what it offers,
and `check(cfg)` (run by `config.validate`, before anything is built) either accepts a composed config or raises
one ConfigError line naming the two pieces and why they do not fit.

The declarations are class (or function) attributes, read here and nowhere else, so a new neuron, rule, loss,
optimizer or pruning method is checked against every other piece the day it lands:

  gradient rule   needs_own_backward          the neurons must define their own backward (DSR's rule)
                  needs_time_average_loss     the loss must be a function of the time-averaged output (rate-BP)
                  neuron_problem(module)      a reason it cannot train this neuron instance, or None (rate-BP)
  step mode 's'   neurons with carries_state = False are refused (their `single_step_reason` says why);
                  SpikingJelly memory modules and stateless layers carry (or need) no state
  neuron          own_backward, carries_state (+ single_step_reason), named_surrogates (a str `neuron.surrogate`)
  loss            time_average_only
  optimizer       weights_part = "main": a container whose sub-node of that name trains the weights (its class is
                  what the pruning method meets); applies_alpha_gr: the STDS repo's shrink of theta
  pruning         optimizer_needs(node): (optimizer attribute, what to choose) its settings need (STDS, alpha_gr > 0);
                  reads_lr: it reads a learning rate (pruning.lr, else the weights' optimizer's lr)
  method          method.pins: {reason, hint, values}: values that define the method (asgl_sg)

The checks that relate several keys of one piece live beside that piece and run from `_consistency` below.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from snn_methods.config import target_of
from snn_methods.errors import ConfigError


def _short(obj: Any) -> str:
    return getattr(obj, "__name__", type(obj).__name__)


@dataclasses.dataclass
class Pieces:
    """The classes a config composes, and how to name them to the user."""

    cfg: DictConfig
    rule: Any
    neuron: Any
    loss: Any
    optimizer: Any          # the optimizer class that trains the weights (inside a container: its weights_part)
    optimizer_key: str      # its config key (optimizer, or optimizer.main)
    pruning: Any
    step_mode: str

    @classmethod
    def of(cls, cfg: DictConfig) -> "Pieces":
        optimizer_key = "optimizer"
        optimizer = target_of(cfg, "optimizer")
        part = getattr(optimizer, "weights_part", None)
        if part is not None:
            optimizer_key = f"optimizer.{part}"
            optimizer = target_of(cfg, optimizer_key)
        step_mode = OmegaConf.select(cfg, "method.rule.step_mode", default=None) or "m"
        return cls(cfg, target_of(cfg, "method.rule"), target_of(cfg, "neuron"), target_of(cfg, "loss"), optimizer,
                   optimizer_key, target_of(cfg, "pruning"), step_mode)

    @property
    def method(self) -> str:
        return f"method={OmegaConf.select(self.cfg, 'method.name', default='?')}"

    @property
    def neuron_name(self) -> str:
        return _short(self.neuron)

    def neuron_module(self) -> Any:
        """One neuron built from the config (None if it cannot be built: the model build reports that)."""
        from snn_methods.neurons import NeuronFactory

        try:
            return NeuronFactory(self.cfg.neuron)()
        except Exception:
            return None


# ------------------------------------------------------------------------------------------ the pairwise checks
def rule_and_neuron(p: Pieces) -> str | None:
    if p.rule is None or p.neuron is None:
        return None
    if getattr(p.rule, "needs_own_backward", False) and not getattr(p.neuron, "own_backward", False):
        return (f"{p.method} needs a DSR neuron (neuron._target_ is {OmegaConf.select(p.cfg, 'neuron._target_')}): "
                f"its rule is plain autograd through the neurons' own backward, which {p.neuron_name} does not define; "
                f"choose neuron=dsr_lif or neuron=dsr_if")
    problem = getattr(p.rule, "neuron_problem", None)
    if problem is not None:
        module = p.neuron_module()
        reason = problem(module) if module is not None else None
        if reason:
            return f"{p.method} cannot train {p.neuron_name} neurons: {reason}"
    return None


def step_mode_and_neuron(p: Pieces) -> str | None:
    if p.step_mode != "s" or p.neuron is None or getattr(p.neuron, "carries_state", True):
        return None
    return (f"method.step_mode=s cannot run {p.neuron_name} neurons: "
            f"{getattr(p.neuron, 'single_step_reason', 'they restart from rest at every call')}; use method.step_mode=m")


def rule_and_loss(p: Pieces) -> str | None:
    if p.rule is None or p.loss is None or not getattr(p.rule, "needs_time_average_loss", False):
        return None
    if getattr(p.loss, "time_average_only", False):
        return None
    return (f"{p.method} cannot use loss={_short(p.loss)}: the rate pass only has the time-averaged output (use a "
            f"loss of the time average, e.g. loss=ce or loss=mse)")


def pruning_and_optimizer(p: Pieces) -> str | None:
    if p.pruning is None:
        return None
    node = p.cfg.pruning
    needs = getattr(p.pruning, "optimizer_needs", None)
    need = needs(node) if needs is not None else None      # (optimizer attribute, what to choose)
    if need and p.optimizer is not None and not getattr(p.optimizer, need[0], False):
        where = "" if p.optimizer_key == "optimizer" else f" (here as {p.optimizer_key}._target_)"
        return (f"{need[1]}{where}: pruning={getattr(p.pruning, 'name', _short(p.pruning))} and "
                f"{p.optimizer_key}={_short(p.optimizer)} do not fit, {_short(p.optimizer)} has no {need[0]}")
    if getattr(p.pruning, "reads_lr", False) and node.get("lr") is None and all(
            OmegaConf.select(p.cfg, f"{key}.lr", default=None) is None for key in ("optimizer", p.optimizer_key)):
        return (f"pruning={getattr(p.pruning, 'name', _short(p.pruning))} reads a learning rate, but pruning.lr is null "
                f"and {p.optimizer_key} has no lr: set pruning.lr")
    return None


def neuron_and_surrogate(p: Pieces) -> str | None:
    surrogate = OmegaConf.select(p.cfg, "neuron.surrogate", default=None)
    if isinstance(surrogate, str) and p.neuron is not None and not getattr(p.neuron, "named_surrogates", ()):
        return (f"neuron.surrogate={surrogate!r} is a name, which {p.neuron_name} does not take: choose a "
                f"surrogate option instead, e.g. neuron/surrogate=mns_sig (ASGL's hybrid spike for any neuron)")
    return None


def method_pins(p: Pieces) -> str | None:
    pins = OmegaConf.select(p.cfg, "method.pins", default=None)
    if not pins:
        return None
    changed = []
    for key, want in pins["values"].items():
        missing = object()
        have = OmegaConf.select(p.cfg, key, default=missing)
        if have is not missing and have != want:
            changed.append(f"{key}={have!r}")
    if not changed:
        return None
    fix = " ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in pins["values"].items())
    return (f"{p.method} {pins['reason']} but this config has {' and '.join(changed)} (a preset may set them): "
            f"add {fix}{', or ' + pins['hint'] if pins.get('hint') else ''}")


PAIRS: list[Callable[[Pieces], str | None]] = [
    rule_and_neuron, step_mode_and_neuron, rule_and_loss, pruning_and_optimizer, neuron_and_surrogate, method_pins,
]


def _consistency() -> list[Callable[[DictConfig], None]]:
    """Checks relating several keys of one piece (each raises its own one-line ConfigError)."""
    from snn_methods.data.checks import check as data
    from snn_methods.neurons.checks import check as neuron_values
    from snn_methods.ann2snn.checks import check as stages
    from snn_methods.pruning.checks import check as pruning_values
    from snn_methods.reuse.checks import check as modes

    return [modes, stages, data, neuron_values, pruning_values]


def check_interpolations(cfg: DictConfig) -> None:
    """A `${key}` that does not resolve (e.g. pruning.lr reading an optimizer.lr that a split optimizer lacks)."""
    from omegaconf.errors import OmegaConfBaseException

    from snn_methods.config import one_line

    # hydra.* is Hydra's to resolve, at job time (e.g. ${run_id:} in hydra.run.dir, registered by launch.py)
    ours = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]) if "hydra" in cfg else cfg
    try:
        OmegaConf.to_container(ours, resolve=True)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None)
        raise ConfigError(f"{key + ': ' if key else ''}{one_line(str(e))}") from None


def check(cfg: DictConfig) -> None:
    """Raise ConfigError (one line) for the first combination of pieces that cannot work together."""
    for consistent in _consistency():
        consistent(cfg)
    pieces = Pieces.of(cfg)
    for pair in PAIRS:
        reason = pair(pieces)
        if reason:
            raise ConfigError(reason)
