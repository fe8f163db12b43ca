"""Config checks for ASGL's pieces (collected by snn_methods.config.validate). Each bad value stops the run
before anything is built, with one line naming the key, the value and what is allowed. They apply only where the
piece is selected: method=asgl|asgl_sg, neuron=asgl_lif, neuron/surrogate=mns_sig|mns_rec, optimizer=asgl, the
ASGL models, loss=tet."""
from __future__ import annotations

from typing import Any, Callable

from omegaconf import DictConfig, ListConfig, OmegaConf

from snn_methods.asgl.surrogate import GRANULARITIES, SMOOTH_FUNCTIONS
from snn_methods.errors import ConfigError
from snn_methods.values import is_finite_number

ASGL_METHODS = ("asgl", "asgl_sg")


def _in_unit(v: Any) -> bool:
    return is_finite_number(v) and 0 <= v <= 1


def _positive(v: Any) -> bool:
    return is_finite_number(v) and v > 0


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _require(cfg: DictConfig, key: str, ok: Callable[[Any], bool], allowed: str) -> None:
    value = OmegaConf.select(cfg, key, default=None)
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=True)
    if not ok(value):
        raise ConfigError(f"{key}={value!r} is invalid: must be {allowed}")


def _target(cfg: DictConfig, key: str) -> str:
    return str(OmegaConf.select(cfg, f"{key}._target_", default="") or "")


SMOOTH_TEXT = f"one of {', '.join(SMOOTH_FUNCTIONS)} (ASGL's smooth functions: sigmoid, rectangle)"


def _check_hybrid(cfg: DictConfig, node: str, smooth_key: str) -> None:
    _require(cfg, f"{node}.{smooth_key}", lambda v: v in SMOOTH_FUNCTIONS, SMOOTH_TEXT)
    _require(cfg, f"{node}.width", _positive, "a number > 0 (the surrogate's width; its slope is 1/width)")
    _require(cfg, f"{node}.train_width", _bool, "true or false")
    _require(cfg, f"{node}.granularity", lambda v: v in GRANULARITIES, f"one of {', '.join(GRANULARITIES)}")
    _require(cfg, f"{node}.p", _in_unit, "a number in [0, 1] (set it through method.p)")


def check(cfg: DictConfig) -> None:
    method = OmegaConf.select(cfg, "method.name", default=None)
    if method in ASGL_METHODS:
        _require(cfg, "method.p", _in_unit, "a number in [0, 1] (the fraction of analog, noisy outputs)")
        _require(cfg, "method.gamma", _positive, "a number > 0 (p is multiplied by it at each milestone)")
        _require(cfg, "method.ns_milestone", lambda v: isinstance(v, list) and all(_in_unit(m) for m in v),
                 "a list of fractions of the epochs, each in [0, 1]")
    neuron = _target(cfg, "neuron")
    surrogate = OmegaConf.select(cfg, "neuron.surrogate", default=None)
    if neuron.endswith("ASGLLIFNode"):
        _check_hybrid(cfg, "neuron", "surrogate")
        _require(cfg, "neuron.decay", lambda v: is_finite_number(v) and 0 < v < 1, "a number in (0, 1) (the leak; stored as its logit)")
        _require(cfg, "neuron.v_threshold", _positive, "a number > 0")
        for key in ("train_decay", "train_thresh"):
            _require(cfg, f"neuron.{key}", _bool, "true or false")
        _require(cfg, "neuron.v_reset", lambda v: v is None or is_finite_number(v), "null (soft reset) or a number (hard reset)")
    elif isinstance(surrogate, str):
        raise ConfigError(f"neuron.surrogate={surrogate!r} is a name, which only neuron=asgl_lif takes: with "
                          f"{neuron.rsplit('.', 1)[-1] or 'this neuron'} choose a surrogate option instead, e.g. "
                          f"neuron/surrogate=mns_sig (ASGL's hybrid spike for any neuron)")
    if _target(cfg, "neuron.surrogate").endswith("HybridSpike"):
        _check_hybrid(cfg, "neuron.surrogate", "smooth")
    if method == "asgl_sg":
        train_width = OmegaConf.select(cfg, "neuron.train_width", default=None)
        if train_width is None:
            train_width = OmegaConf.select(cfg, "neuron.surrogate.train_width", default=None)
        if OmegaConf.select(cfg, "method.p") != 0 or train_width:
            raise ConfigError(f"method=asgl_sg is the SG baseline (no noise, fixed width) but this config has "
                              f"method.p={OmegaConf.select(cfg, 'method.p')!r} and train_width={train_width!r} (a "
                              f"preset may set them): add method.p=0 neuron.train_width=false, or use method=asgl")
    if _target(cfg, "optimizer").endswith("split_optimizer"):
        _require(cfg, "optimizer.main.lr", _positive, "a number > 0")
        _require(cfg, "optimizer.main.weight_decay", lambda v: is_finite_number(v) and v >= 0, "a number >= 0")
        if OmegaConf.select(cfg, "optimizer.neuron", default=None) is not None:
            _require(cfg, "optimizer.neuron.lr", _positive, "a number > 0")
    if OmegaConf.select(cfg, "model.bn_type", default=None) is not None:   # a model taking bn_type (ASGL's)
        from snn_methods.models.layers import BN_TYPES

        _require(cfg, "model.bn_type", lambda v: v in BN_TYPES, f"one of {', '.join(BN_TYPES)}")
    if _target(cfg, "loss").endswith("losses.TET"):
        _require(cfg, "loss.lamb", _in_unit, "a number in [0, 1] (the weight of the MSE term)")
        _require(cfg, "loss.means", is_finite_number, "a number (the MSE target)")
