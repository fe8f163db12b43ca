"""Value checks of the `neuron/` group (run by snn_methods.compat.check; whether a neuron fits the rule: compat)."""
from __future__ import annotations


from omegaconf import DictConfig, OmegaConf

from snn_methods.errors import ConfigError
from snn_methods.values import is_finite_number


def neuron_class(cfg: DictConfig) -> type | None:
    """The class named by neuron._target_, or None when it cannot be imported (instantiation reports that)."""
    from hydra.utils import get_class

    target = OmegaConf.select(cfg, "neuron._target_")
    try:
        return get_class(target) if target else None
    except Exception:
        return None


def is_dsr_neuron(cfg: DictConfig) -> bool:
    from snn_methods.neurons.dsr import DSRNode

    cls = neuron_class(cfg)
    return isinstance(cls, type) and issubclass(cls, DSRNode)


def _arguments(cls: type) -> set[str]:
    """Keyword arguments a DSR neuron accepts (its own and the common DSRNode ones)."""
    import inspect

    from snn_methods.neurons.dsr import DSRNode

    names = set()
    for c in (cls, DSRNode):
        names |= {n for n, p in inspect.signature(c.__init__).parameters.items()
                  if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return names


def _backend_rules() -> list:
    from snn_methods.neurons.backends import BACKENDS

    return [("neuron.backend", lambda v: v in BACKENDS, " | ".join(BACKENDS))]


RULES = _backend_rules()


def check(cfg: DictConfig) -> None:
    from snn_methods.neurons.dsr import check_params

    node = cfg.get("neuron")
    if not isinstance(node, DictConfig):
        return
    values = {k: node.get(k) for k in node.keys() if k not in ("_target_", "surrogate", "backend")}
    if is_dsr_neuron(cfg):
        cls = neuron_class(cfg)
        unknown = sorted(set(values) - _arguments(cls))
        if unknown:
            raise ConfigError(f"neuron.{unknown[0]} is not an argument of {cls.__name__}: remove it "
                              f"(allowed: {', '.join(sorted(_arguments(cls)))})")
        check_params(values, prefix="neuron.")
    elif "tau" in values:
        tau = values["tau"]
        if not (is_finite_number(tau) and tau > 1):
            raise ConfigError(f"neuron.tau={tau!r} is invalid: must be a number > 1 (SpikingJelly's LIF needs tau > 1)")
