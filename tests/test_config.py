"""Every option of every group composes; typos and bad values fail with one clear line."""
from __future__ import annotations

import pytest

from conftest import ROOT

from snn_methods import build, compose
from snn_methods.config import CONF_DIR
from snn_methods.errors import ConfigError

GROUPS = sorted(p.relative_to(CONF_DIR).as_posix() for p in CONF_DIR.rglob("*") if p.is_dir() and any(p.glob("*.yaml")))


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes(group, option):
    cfg = compose([f"{group}={option}"])
    assert cfg.T >= 1


def test_every_group_is_in_the_tree():
    assert {"method", "model", "neuron", "neuron/surrogate", "optimizer", "scheduler", "pruning", "dataset",
            "hardware", "launcher", "logger", "experiment", "debug", "encoder", "loss"} <= set(GROUPS)


def test_default_is_bptt_lif_mlp_on_digits():
    cfg = compose([])
    assert (cfg.method.name, cfg.model.name, cfg.dataset.name) == ("bptt", "mlp", "digits")
    assert cfg.neuron._target_.endswith("LIFNode") and cfg.neuron.surrogate._target_.endswith("ATan")


def test_typo_in_an_override_fails_loudly():
    with pytest.raises(ConfigError, match="Tx"):
        compose(["Tx=3"])


def test_unknown_group_option_names_the_choices():
    with pytest.raises(ConfigError, match="neuron/surrogate/foo"):
        compose(["neuron/surrogate=foo"])


@pytest.mark.parametrize("override,message", [
    ("T=0", r"T=0 is invalid: must be an integer >= 1"),
    ("epochs=0", r"epochs=0 is invalid"),
    ("batch_size=-4", r"batch_size=-4 is invalid"),
    ("optimizer.lr=-0.1", r"optimizer.lr=-0.1 is invalid: must be a number > 0"),
    ("neuron.surrogate.alpha=0", r"neuron.surrogate.alpha=0 is invalid"),
    ("neuron.tau=1.0", r"neuron.tau=1.0 is invalid: must be a number > 1"),
    ("+pruning.target_sparsity=1.0", r"pruning.target_sparsity=1.0 is invalid: a sparsity must be in \[0, 1\)"),
    ("+pruning.target_sparsity=-0.1", r"pruning.target_sparsity=-0.1 is invalid"),
    ("objective=final.nope", r"objective='final.nope' is invalid"),
    ("resume=/no/such/run", r"resume='/no/such/run' is invalid"),
    ("encoder=poisson", r"dataset.normalize=false"),
    ("logger=wandb", None),  # valid: builds without error
])
def test_bad_values_stop_before_training(override, message):
    cfg = compose(["debug=tiny", override])
    if message is None:
        build(cfg)
        return
    with pytest.raises(ConfigError, match=message) as info:
        build(cfg)
    assert "\n" not in str(info.value)


def test_cuda_requested_without_a_gpu_says_what_to_do():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible: the message under test is for machines without one")
    with pytest.raises(ConfigError, match="hardware=cpu"):
        build(compose(["debug=tiny", "hardware=gpu"]))


def test_every_pieces_value_table_is_read():
    """A `checks.py` with a RULES table that rule_tables() does not list would be silently ignored."""
    import importlib

    from snn_methods.config import rule_tables

    read = {id(table) for table in rule_tables()}
    for path in sorted((ROOT / "snn_methods").glob("*/checks.py")):
        module = importlib.import_module(f"snn_methods.{path.parent.name}.checks")
        if hasattr(module, "RULES"):
            assert id(module.RULES) in read, f"{path.relative_to(ROOT)}: its RULES are not in config.rule_tables()"
