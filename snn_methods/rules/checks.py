"""Config checks of the gradient rules: value ranges, and which neurons / losses rate-BP can train."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from snn_methods.config import one_of
from snn_methods.errors import ConfigError

BOOL = (one_of(True, False), "true or false")

RULES = [
    ("method.step_mode", one_of("m", "s"),
     "m (multi-step: one call on [T, N, ...]) or s (single-step: one time step per call)"),
    ("method.loss_scale_1_over_T", *BOOL),
    ("method.compat_original_s_mode_bn", *BOOL),
    ("method.compat_original_s_mode_input", *BOOL),
    ("method.compat_original_eligibility_sigmoid4", *BOOL),
]


def _target_class(cfg: DictConfig, key: str) -> type | None:
    from hydra.utils import get_class

    target = OmegaConf.select(cfg, key)
    try:
        return get_class(target) if isinstance(target, str) else None
    except Exception:        # an unknown target is reported when it is instantiated
        return None


def check(cfg: DictConfig) -> None:
    """Refuse, with the reason, a neuron or a loss that rate-BP cannot train."""
    from snn_methods.rules.ratebp import RateBP, UnsupportedNeuron, dynamics_of

    rule = _target_class(cfg, "method.rule._target_")
    if rule is None or not issubclass(rule, RateBP):
        return
    from snn_methods.neurons import NeuronFactory

    try:
        probe = NeuronFactory(cfg.neuron)()
    except Exception:        # a broken neuron config fails with its own message when the model is built
        probe = None
    if probe is not None:
        try:
            dynamics_of(probe)
        except UnsupportedNeuron as e:
            raise ConfigError(f"method=rate_bp cannot train {type(probe).__name__} neurons: {e}") from None
    loss = _target_class(cfg, "loss._target_")
    if loss is not None and not getattr(loss, "time_average_only", False):
        raise ConfigError(f"method=rate_bp cannot use loss={loss.__name__}: the rate pass only has the time-averaged "
                          f"output (use a loss of the time average, e.g. loss=ce or loss=mse)")
