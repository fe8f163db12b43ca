"""The pruning methods in the suite: on every model, the one selection rule, per-epoch statistics, errors,
resuming mid-run, the presets."""
from __future__ import annotations

import functools

import pytest
import torch
import torch.nn as nn
from spikingjelly.activation_based import functional

from snn_methods import build, compose, run
from snn_methods.config import CONF_DIR
from snn_methods.engine import checkpoints, loop
from snn_methods.errors import ConfigError
from snn_methods.models import create_model, list_models
from snn_methods.optimizer_set import OptimizerSet
from snn_methods.pruning import (STDS, DeepRewire, DeepRewiring, GradRewire, GradRewiring,
                                 prunable_layers, stds)

METHODS = ["grad_rewire", "deep_rewire", "soft_deep_rewire", "stds", "stds_grad_rewire"]


def train_step(exp):
    x, y = next(iter(exp.data.train))
    functional.reset_net(exp.model)
    exp.optimizer.zero_grad()
    exp.rule.step(exp.model, exp.encoder(x), y, exp.loss_fn, exp.precision)
    exp.optimizer.step()
    exp.pruning.after_step(exp.model, exp.optimizer, 1)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_a_model_with_bn_and_biases(tiny, method):
    exp = build(tiny(f"method={method}", "model=spiking_vgg11", "batch_size=4"))
    assert exp.cfg.method.name == method and exp.pruning.layers
    before = {n: m.weight.detach().clone() for n, m in exp.pruning.layers}
    train_step(exp)
    assert any(not torch.equal(before[n], m.weight) for n, m in exp.pruning.layers)
    stats = exp.pruning.epoch_stats(exp.model)
    assert set(stats["pruned_per_layer"]) == {n for n, _ in prunable_layers(exp.model)}


def test_selection_rule_weights_to_the_pruning_optimizer_bn_and_biases_to_the_base_one(tiny):
    exp = build(tiny("method=grad_rewire", "model=spiking_vgg11"))
    assert isinstance(exp.optimizer, OptimizerSet)
    rewired, base = exp.optimizer.optimizers
    assert isinstance(rewired, GradRewiring) and type(base) is torch.optim.Adam
    weights = [m.weight for _, m in prunable_layers(exp.model)]
    assert [id(p) for p in rewired.param_groups[0]["params"]] == [id(w) for w in weights]
    others = {id(p) for p in base.param_groups[0]["params"]}
    bn_and_bias = [p for m in exp.model.modules() for p in (getattr(m, "bias", None),)
                   if isinstance(p, nn.Parameter)] + [m.weight for m in exp.model.modules()
                                                      if isinstance(m, nn.BatchNorm2d)]
    assert others == {id(p) for p in bn_and_bias} and len(others) + len(weights) == len(list(exp.model.parameters()))
    exp = build(tiny("method=grad_rewire", "model=mnist_fc800"))  # no biases, no BN: the optimizer alone
    assert isinstance(exp.optimizer, GradRewiring)


@functools.lru_cache(maxsize=None)
def _neuron():
    from snn_methods.neurons import NeuronFactory
    return NeuronFactory(compose([]).neuron)


def _method(kind):
    return {"grad_rewire": lambda: GradRewire(lr=1e-2, alpha=1.0),
            "stds": lambda: STDS(flat_width=1e-3, gradual=None)}[kind]()


@pytest.mark.parametrize("model_name", list_models())
@pytest.mark.parametrize("kind", ["grad_rewire", "stds"])
def test_pruning_composes_with_every_registered_model(model_name, kind):
    torch.manual_seed(0)
    kwargs = {"channels": 8, "fc_hidden": 16} if model_name == "cifar10_6c2f" else {}
    side = 16 if model_name == "asgl_vggsnn" else 8     # ASGL's VGGSNN2 pools 4 times and refuses inputs below 16x16
    model = create_model(model_name, neuron=_neuron(), num_classes=10, input_shape=(3, side, side), **kwargs)
    method = _method(kind)
    method.prepare_model(model)
    opt = method.make_optimizer(model, lambda params: torch.optim.Adam(params, lr=1e-2))
    x = torch.randn(2, 3, side, side) * 3
    out = model(x.unsqueeze(0).expand(2, *x.shape))
    assert out.shape == (2, 2, 10)
    before = [p.detach().clone() for p in method.pruned_weights()]
    out.sum().backward()
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, method.pruned_weights()))


def test_the_lr_scheduler_drives_both_chained_optimizers_and_survives_a_reload(tiny):
    exp = build(tiny("method=grad_rewire", "model=spiking_vgg11", "scheduler=cosine", "epochs=4"))
    train_step(exp)
    exp.scheduler.step()
    lrs = [g["lr"] for opt in exp.optimizer.optimizers for g in opt.param_groups]
    assert len(set(lrs)) == 1 and lrs[0] < exp.cfg.optimizer.lr
    state = exp.optimizer.state_dict()
    exp.optimizer.load_state_dict(state)
    exp.scheduler.step()
    assert {g["lr"] for opt in exp.optimizer.optimizers for g in opt.param_groups} == \
        {g["lr"] for g in exp.optimizer.param_groups}
    assert exp.optimizer.param_groups[0]["lr"] < lrs[0]


def test_prune_and_regrow_counts_add_up(tiny, tmp_path):
    results = run(tiny("method=grad_rewire", "pruning.alpha=30", "epochs=3"), run_dir=tmp_path)
    numel = sum(m.weight.numel() for _, m in prunable_layers(build(tiny()).model))
    alive = 1.0
    for rec in results["history"]:
        change = (rec["regrown"] - rec["pruned"]) / numel
        assert rec["connectivity"] == pytest.approx(alive + change, abs=1e-12)
        assert sum(rec["pruned_per_layer"].values()) == rec["pruned"]
        alive = rec["connectivity"]
    assert results["final"]["connectivity"] < 0.95


# ------------------------------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("overrides,message", [
    (["method=grad_rewire", "pruning.target_sparsity=0.4"], r"pruning.target_sparsity=0.4 is invalid: Grad R needs"),
    (["method=stds", "pruning.flat_width=0"], r"pruning.flat_width=0 is invalid: must be a number > 0"),
    (["method=stds", "pruning.flat_width=-1"], r"pruning.flat_width=-1 is invalid"),
    (["method=stds", "pruning.reparameterisation=relu"], r"pruning.reparameterisation='relu' is invalid: must be identity"),
    (["method=stds", "pruning.gradual=cosine"], r"pruning.gradual='cosine' is invalid: must be null \| sine \| linear"),
    (["method=stds", "pruning.init_shift=true"], r"pruning.init_shift=true is invalid with pruning.gradual=sine"),
    (["method=stds", "pruning.exclude=[nope]"], r"pruning.exclude pattern 'nope' matches no prunable layer"),
    (["method=grad_rewire", "pruning.exclude=[fc*]"], r"has no prunable layer \(Conv/Linear weights\)"),
    (["method=stds", "pruning.alpha_gr=0.5"], r"pruning.alpha_gr=0.5 needs optimizer=stds_adam or optimizer=stds_sgd"),
    (["method=deep_rewire", "pruning.max_sparsity=1.0"], r"pruning.max_sparsity=1.0 is invalid"),
    (["experiment=gradr_imagenet_sew18", "hardware=cpu"], r"pruning.flat_width=None is invalid"),
])
def test_bad_pruning_values_stop_with_one_line_naming_the_key(tiny, overrides, message):
    with pytest.raises(ConfigError, match=message) as info:
        build(tiny(*overrides))
    assert "\n" not in str(info.value)


def test_a_model_with_no_prunable_layer_is_refused():
    for method in (GradRewire(lr=1e-3), DeepRewire(lr=1e-3), STDS()):
        with pytest.raises(ConfigError, match="no prunable layer"):
            method.prepare_model(nn.Sequential(nn.BatchNorm1d(4), nn.ReLU()))


def test_the_optimizers_refuse_bad_arguments():
    p = [nn.Parameter(torch.ones(2))]
    for s in (None, 0.3, 1.0):
        with pytest.raises(ValueError, match="target sparsity"):
            GradRewiring(p, s=s)
    with pytest.raises(ValueError, match="max_s"):
        DeepRewiring(p, max_s=1.5)
    with pytest.raises(ValueError, match="unknown reparameterisation"):
        stds.soft_threshold(torch.ones(2), 0.5, "relu")
    with pytest.raises(ValueError, match="unknown schedule"):
        stds.schedule_ratio("cosine", 1, 10)


# ------------------------------------------------------------------------------------------------------- resume

def _cut_and_resume(tiny, tmp_path, monkeypatch, overrides):
    whole = run(tiny(*overrides), run_dir=tmp_path / "whole")
    real, calls = loop.train_epoch, {"n": 0}

    def killed_in_epoch_three(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated kill")
        return real(*args, **kwargs)
    monkeypatch.setattr(loop, "train_epoch", killed_in_epoch_three)
    with pytest.raises(KeyboardInterrupt):
        run(tiny(*overrides), run_dir=tmp_path / "cut")
    monkeypatch.setattr(loop, "train_epoch", real)
    resumed = run(tiny(*overrides), run_dir=tmp_path / "cut")
    return whole, resumed, *(checkpoints.load(tmp_path / d / "last.pt") for d in ("whole", "cut"))


def _same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if torch.is_tensor(a):
        return torch.equal(a, b)
    return a == b


def _history(results):
    return [{k: v for k, v in h.items() if k not in ("epoch_time_s", "samples_per_s")} for h in results["history"]]


@pytest.mark.parametrize("overrides,state_keys", [
    (["method=grad_rewire", "pruning.alpha=20"], {"sign", "strength"}),
    (["method=deep_rewire", "pruning.l1=20", "pruning.max_sparsity=0.2"], {"sign", "mask"}),
    (["method=stds", "pruning.flat_width=0.2", "pruning.gradual=sine"], set()),
])
def test_a_run_resumed_mid_way_restores_theta_signs_masks_and_schedule_exactly(tiny, tmp_path, monkeypatch,
                                                                              overrides, state_keys):
    overrides = [*overrides, "epochs=4", "train.synops_final=false"]   # the mlp has biases: a chained optimizer
    whole, resumed, ck_whole, ck_cut = _cut_and_resume(tiny, tmp_path, monkeypatch, overrides)
    assert _history(resumed) == _history(whole)
    assert _same(ck_whole["model"], ck_cut["model"])
    assert _same(ck_whole["optimizer"], ck_cut["optimizer"])       # theta, signs, masks, Adam moments
    assert _same(ck_whole["pruning"], ck_cut["pruning"])           # schedule position, last epoch's connections
    states = ck_cut["optimizer"].get("pruning", ck_cut["optimizer"])["state"]   # OptimizerSet: {"pruning", "base"}
    assert all(state_keys <= set(s) for s in states.values())
    if "method=stds" in overrides:
        assert ck_cut["pruning"]["steps"] == resumed["steps"] == 12 and ck_cut["pruning"]["width"] == pytest.approx(
            0.2 * stds.schedule_ratio("sine", 12, 12))


# ------------------------------------------------------------------------------------------------------ presets

PRESETS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml")
                 if p.stem.startswith(("gradr_", "deepr_", "soft_deepr_", "stds_", "dense_")))


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_name_the_original_command_and_the_reported_number(preset):
    header = (CONF_DIR / "experiment" / f"{preset}.yaml").read_text()
    assert "python " in header and "Reported:" in header
    cfg = compose([f"experiment={preset}"])
    assert cfg.seed == 2020 or preset.startswith(("dense_mnist", "deepr_", "soft_deepr_", "dense_cifar"))


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_builds_its_pruning_method_and_optimizer(preset):
    """Presets extend each other (deepr_mnist extends gradr_mnist): no key of one method may leak into another's."""
    from hydra.utils import instantiate

    from collections import OrderedDict

    required = ["pruning.flat_width=0.05", "pruning.alpha_gr=1.0"]   # left open (null) by the STDS-repo Grad R presets
    cfg = compose([f"experiment={preset}", *(required if preset in ("gradr_imagenet_sew18", "stds_gradr_cifar10")
                                             else [])])
    method = instantiate(cfg.pruning, _convert_="all")
    model = nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 4, 3), bn=nn.BatchNorm2d(4), flat=nn.Flatten(),
                                      fc=nn.Linear(4, 2)))   # `fc`: the ImageNet presets exclude it
    method.prepare_model(model)
    assert isinstance(method.make_optimizer(model, instantiate(cfg.optimizer, _convert_="all")), torch.optim.Optimizer)


def test_presets_reproduce_the_recipes():
    g = compose(["experiment=gradr_mnist"])
    assert (g.model.name, g.T, g.batch_size, g.epochs, g.optimizer.lr, g.pruning.target_sparsity, g.pruning.alpha) == \
        ("mnist_fc800", 8, 128, 513, 1e-3, 0.95, 1e-3)
    assert g.loss._target_.endswith("RateMSE") and g.dataset.train_transforms[0].degrees == 30
    c = compose(["experiment=gradr_cifar10"])
    assert (c.model.bn_time, c.model.num_dropout, c.batch_size, c.optimizer.lr) == ("per_step", 1, 16, 1e-4)
    s = compose(["experiment=stds_cifar10"])
    assert (s.model.bn_time, s.model.num_dropout, s.pruning.reparameterisation, s.pruning.gradual,
            s.pruning.gradual_epochs, s.hardware.amp) == ("merged", 2, "stmod", "sine", 2048, True)
    i = compose(["experiment=gradr_imagenet_sew18", "pruning.flat_width=0.1", "pruning.alpha_gr=1e-4"])
    assert i.optimizer._target_.endswith("STDSSGD") and i.pruning.gradual is None and list(i.pruning.exclude) == ["fc"]
    assert compose(["experiment=dense_mnist_fc800"]).method.name == "bptt"
    assert compose(["experiment=stds_imagenet_sew18_dense"]).pruning.reparameterisation == "identity"


# ------------------------------------------------------------------------------------------------ alpha sweep

@pytest.mark.slow
def test_grad_r_sweep_from_the_command_line_lowers_connectivity_as_alpha_rises(launch, tmp_path):
    """The issue's sweep, `launch.py -m method=grad_rewire pruning.alpha=...` (tiny budget: 6 steps)."""
    import json

    from omegaconf import OmegaConf

    proc = launch("-m", "debug=tiny", "method=grad_rewire", "pruning.alpha=0,1,3", "train.synops_final=false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = {}
    for path in (tmp_path / "multirun").rglob("results.json"):
        alpha = OmegaConf.load(path.parent / "config.yaml").pruning.alpha
        found[float(alpha)] = json.loads(path.read_text())["final"]["connectivity"]
    connectivity = [found[a] for a in sorted(found)]
    assert sorted(found) == [0, 1, 3]
    assert all(a > b > 0 for a, b in zip(connectivity, connectivity[1:])), found
