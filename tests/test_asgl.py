"""ASGL (spec dsr_asgl.md part B): the hybrid spike, ASGL's LIF, the noise schedule, the recipe's optimizer, models,
TET, Cutout, presets and errors. Expected values of F.3 / F.4 come from running the original code (the spec)."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn as nn
from spikingjelly.activation_based import functional, neuron as sj_neuron

from snn_methods import build, compose
from snn_methods.asgl import ASGLLIFNode, HybridSpike, NoiseSchedule, milestone_epochs, set_noise_probability
from snn_methods.engine.optimizers import OptimizerSet, split_optimizer
from snn_methods.neurons.parameters import NeuronParameter
from snn_methods.errors import ConfigError
from snn_methods.models import create_model
from snn_methods.neurons import NeuronFactory, spiking_neurons

TOL = dict(rtol=0, atol=1e-6)
I_F3 = [[0.6, 1.2, -0.5], [0.7, 0.3, 2.0], [0.2, 0.9, 0.1]]     # rows t, columns neurons


def t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def run_f3(smooth: str, width: float, theta: float, p: float = 0.0, mask=None, train: bool = True):
    """ASGL's LIF layer on the F.3 input (decay 0.5, learned), loss = sum(y): y, dI, d(decay logit), d(width param)."""
    node = ASGLLIFNode(surrogate=smooth, width=width, v_threshold=theta, train_decay=True, p=p)
    node.train(train)
    if mask is not None:
        masks = iter(mask)
        node.surrogate_function.draw_mask = lambda x: next(masks)
    x = t(I_F3).requires_grad_(True)
    y = node(x)
    if train:
        y.sum().backward()
    spike = node.surrogate_function
    return y.detach(), x.grad, node.decay_logit.grad, getattr(spike, spike.param_name).grad


# ------------------------------------------------------------------------------------------------ F.3
F3 = {  # (smooth, width, theta, p): y, dI, d(decay logit), d(slope or log-slope)
    ("mns_sig", 5.0, 1.0, 0.0): (
        [[0, 1, 0], [1, 0, 1], [0, 1, 0]],
        [[0.0735689, 0.0477494, 0.0732541], [0.0487580, 0.0743820, 0.0475621], [0.0496814, 0.0499988, 0.0495972]],
        0.0051183, -0.8255724),
    ("mns_sig", 5.0, 1.0, 1.0): (
        [[0.4800106, 0.5099987, 0.4255575], [0.4928003, 0.4797112, 0.5427151], [0.4708870, 0.5027263, 0.4762403]],
        [[0.0650036, 0.0633502, 0.0664819], [0.0615605, 0.0621833, 0.0587430], [0.0498305, 0.0499985, 0.0498871]],
        0.0295835, -0.6045377),
    ("mns_rec", 1.0, 0.5, 0.0): (
        [[0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0]],
        [[0.4025, 0, 0], [0.3250, 0.5, 0], [0.5, 0, 0.5]],
        0.0, -0.34475),
    ("mns_rec", 1.0, 0.5, 1.0): (
        [[0.30, 0.50, 0.00], [0.41, 0.15, 0.50], [0.1369, 0.50, 0.05]],
        [[0.466, 0, 0], [0.340, 0.5, 0], [0.5, 0, 0.5]],
        0.03885, -0.2789),
}


@pytest.mark.parametrize("case", list(F3), ids=lambda c: f"{c[0]}-w{c[1]}-theta{c[2]}-p{c[3]}")
def test_f3_golden_values(case):
    y, dx, dd, dk = run_f3(*case)
    y_exp, dx_exp, dd_exp, dk_exp = F3[case]
    torch.testing.assert_close(y, t(y_exp), **TOL)
    torch.testing.assert_close(dx, t(dx_exp), **TOL)
    assert dd.item() == pytest.approx(dd_exp, abs=1e-6)
    assert dk.item() == pytest.approx(dk_exp, abs=1e-6)


def test_f3_neuron0_fires_at_exactly_the_threshold_and_eval_gives_the_same_hard_spikes():
    y_train, *_ = run_f3("mns_sig", 5.0, 1.0)
    y_eval, *_ = run_f3("mns_sig", 5.0, 1.0, p=1.0, train=False)      # eval ignores p: pure spikes
    assert y_train[1, 0] == 1.0                                      # v = 0.5 * 0.6 + 0.7 = 1.0 >= theta (inclusive)
    assert torch.equal(y_eval, y_train)


def test_f3_injected_mask_changes_the_later_dynamics():
    """Neuron 0 analog at t=1 only: it emits sigmoid(0.2 (0.6 - 1)), is partially reset and no longer fires at t=2."""
    first = torch.ones(3)
    first[0] = 0.0
    y, dx, dd, dk = run_f3("mns_sig", 5.0, 1.0, mask=[first, torch.ones(3), torch.ones(3)])
    torch.testing.assert_close(y, t([[0.4800106, 1, 0], [0, 0, 1], [0, 1, 0]]), **TOL)
    torch.testing.assert_close(dx, t([[0.0680237, 0.0477494, 0.0732541], [0.0738868, 0.0743820, 0.0475621],
                                      [0.0499309, 0.0499988, 0.0495972]]), **TOL)
    assert dd.item() == pytest.approx(0.0142529, abs=1e-6)
    assert dk.item() == pytest.approx(-0.7541902, abs=1e-6)


def test_the_hybrid_surrogate_on_spikingjellys_lif_reproduces_asgl_bit_for_bit():
    """Spec D.3: SJ LIFNode(tau 2, decay_input False, hard reset 0, reset not detached) with our hybrid spike = ASGL's
    LIF with decay 0.5; SJ's PLIF learns w = -d (its w-gradient is minus ASGL's decay-logit gradient)."""
    ours_y, ours_dx, ours_dd, ours_dk = run_f3("mns_sig", 5.0, 1.0)
    for cls, kw in ((sj_neuron.LIFNode, {"tau": 2.0}), (sj_neuron.ParametricLIFNode, {"init_tau": 2.0})):
        node = cls(**kw, decay_input=False, v_reset=0.0, detach_reset=False, step_mode="m",
                   surrogate_function=HybridSpike("mns_sig", 5.0))
        x = t(I_F3).requires_grad_(True)
        y = node(x)
        y.sum().backward()
        assert torch.equal(y.detach(), ours_y) and torch.equal(x.grad, ours_dx)
        assert torch.equal(node.surrogate_function.slope.grad, ours_dk)
        if cls is sj_neuron.ParametricLIFNode:
            assert node.w.grad.item() == -ours_dd.item()


# ------------------------------------------------------------------------------------------------ hybrid spike
def test_width_is_stored_as_the_original_stores_it():
    """E.1: the README's alpha is a width; the sigmoid stores slope 1/w, the rectangle log-slope -ln w."""
    assert HybridSpike("mns_sig", 5.0).slope.item() == pytest.approx(0.2)
    assert HybridSpike("mns_rec", 2.0).log_slope.item() == pytest.approx(-math.log(2.0))
    x = torch.zeros(1, requires_grad=True)
    HybridSpike("mns_sig", 5.0)(x).sum().backward()
    assert x.grad.item() == pytest.approx(0.2 / 4)                   # h(0) = k / 4 = 1 / (4 w)
    spike = HybridSpike("mns_rec", 1.0)
    x = torch.tensor([-0.5, 0.5, 0.51, -0.25], requires_grad=True)
    spike(x).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 0.0, 1.0]                   # rectangle: bounds included (as the original)
    assert spike.log_slope.grad.item() == pytest.approx(-0.5 + 0.5 - 0.25)   # e^a x inside the closed zone


def test_mask_fraction_is_p_and_gradient_is_h_for_every_element():
    torch.manual_seed(0)
    spike = HybridSpike("mns_sig", 1.0, p=0.3)
    x = torch.randn(200_000, requires_grad=True)
    y = spike(x)
    analog = ~((y == 0) | (y == 1))
    n, p = x.numel(), 0.3
    assert abs(analog.float().mean().item() - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert torch.equal(y[~analog], (x[~analog] >= 0).float())                    # spike mode: the exact step
    torch.testing.assert_close(y[analog], torch.sigmoid(x[analog]).detach())       # analog mode: H(x)
    y.sum().backward()
    s = torch.sigmoid(x.detach())
    torch.testing.assert_close(x.grad, s * (1 - s))                               # h(x) everywhere (E.3)


def test_mask_is_drawn_afresh_every_time_step_of_every_layer():
    torch.manual_seed(1)
    factory = NeuronFactory(compose(["method=asgl", "method.p=0.5"]).neuron)
    layers = [factory(), factory()]
    masks: dict[int, list[torch.Tensor]] = {0: [], 1: []}
    for i, layer in enumerate(layers):
        def record(module, inputs, output, i=i):
            masks[i].append(output == (inputs[0] >= 0).float())   # True where the output is a spike
        layer.surrogate_function.register_forward_hook(record)
    x = torch.full((4, 64, 100), 0.3)          # the same input at every step: v differs, but the draw must too
    for layer in layers:
        layer.train()(x)
    assert len(masks[0]) == len(masks[1]) == 4                     # one draw per time step
    for i in (0, 1):
        fractions = [1 - m.float().mean().item() for m in masks[i]]
        assert all(abs(f - 0.5) < 5 * math.sqrt(0.25 / 6400) for f in fractions)
        assert not torch.equal(masks[i][1], masks[i][2])
    assert not torch.equal(masks[0][0], masks[1][0])               # another layer, another draw


def test_eval_is_a_pure_snn_whatever_p():
    factory = NeuronFactory(compose(["method=asgl", "method.p=1.0", "neuron.v_threshold=0.5"]).neuron)
    model = create_model("mlp", neuron=factory, num_classes=4, input_shape=(1, 8, 8), hidden=[32])
    outputs: list[torch.Tensor] = []
    for _, m in spiking_neurons(model):
        m.register_forward_hook(lambda mod, inp, out: outputs.append(out.detach()))
    x = torch.randn(3, 5, 1, 8, 8).mul(3)
    model.train()(x)
    assert any(not torch.isin(o, torch.tensor([0.0, 0.5])).all() for o in outputs)    # p = 1: analog outputs
    outputs.clear()
    with torch.no_grad():
        model.eval()(x)
    assert len(outputs) == 2 and all(torch.isin(o, torch.tensor([0.0, 0.5])).all() for o in outputs)


@pytest.mark.parametrize("granularity,shape", [("layer", (1,)), ("channel", (1, 6, 1, 1)), ("neuron", (1, 6, 5, 5))])
def test_granularity_shapes_and_lazy_widths_are_trained_by_an_optimizer_built_before(granularity, shape):
    spike = HybridSpike("mns_rec", 2.0, granularity=granularity)
    opt = split_optimizer(spike.parameters(), main=lambda ps: torch.optim.SGD(ps, lr=0.1),
                          neuron=lambda ps: torch.optim.Adam(ps, lr=0.1))
    x = torch.randn(4, 6, 5, 5)
    spike(x).sum().backward()
    assert spike.log_slope.shape == shape and isinstance(spike.log_slope, NeuronParameter)
    before = spike.log_slope.detach().clone()
    opt.step()
    assert not torch.equal(spike.log_slope.detach(), before)
    torch.testing.assert_close(before, torch.full(shape, -math.log(2.0)))


def test_channel_granularity_of_a_flat_input_is_one_width_as_the_original():
    spike = HybridSpike("mns_rec", 2.0, granularity="channel")
    spike(torch.randn(4, 7))
    assert spike.log_slope.shape == (1,)


def test_lazy_widths_load_from_a_checkpoint_before_any_forward():
    a = HybridSpike("mns_sig", 1.0, granularity="channel")
    a(torch.randn(2, 3, 4, 4))
    with torch.no_grad():
        a.slope.mul_(2)
    b = HybridSpike("mns_sig", 1.0, granularity="channel")
    b.load_state_dict(a.state_dict())
    assert torch.equal(b.slope, a.slope)


def test_fixed_width_is_a_buffer_and_gets_no_gradient():
    spike = HybridSpike("mns_sig", 5.0, train_width=False)
    assert list(spike.parameters()) == [] and spike.slope.item() == pytest.approx(0.2)


def test_learned_threshold_is_clamped_and_leak_has_no_input_scaling():
    node = ASGLLIFNode(decay=0.8, train_thresh=True, v_threshold=1.0)
    with torch.no_grad():
        node.v_threshold.fill_(-0.3)
    node(torch.zeros(2, 3))
    assert node.v_threshold.item() == 0.0
    node = ASGLLIFNode(decay=0.8, v_threshold=10.0).eval()      # never fires: v_t = 0.8 v_{t-1} + I_t, out 0
    v_manual = 0.0
    for x in (1.0, 2.0, 3.0):
        v_manual = 0.8 * v_manual + x
    assert v_manual == pytest.approx(1 * 0.64 + 2 * 0.8 + 3)
    assert node(torch.tensor([[1.0], [2.0], [3.0]])).abs().sum() == 0
    assert ASGLLIFNode(decay=0.8, v_threshold=v_manual - 1e-4).eval()(torch.tensor([[1.0], [2.0], [3.0]]))[2, 0] > 0


# ------------------------------------------------------------------------------------------------ the schedule
def test_milestones_on_a_300_epoch_budget():
    assert milestone_epochs([0, 0.2, 0.4, 0.6, 0.8, 0.95], 300) == [0, 60, 120, 180, 240, 285]


class _Exp:
    def __init__(self, model):
        self.model = model


def test_schedule_multiplies_p_after_each_milestone_epoch_and_writes_it_into_every_hybrid_spike():
    model = nn.Sequential(ASGLLIFNode(), ASGLLIFNode(surrogate="mns_rec"))
    schedule = NoiseSchedule(p=0.4, gamma=0.5, epochs=300)
    exp = _Exp(model)
    schedule.on_train_start(exp, 0)
    used = []
    for epoch in range(300):
        used.append(model[0].surrogate_function.p)
        record: dict = {}
        schedule.on_epoch_end(exp, epoch, record)
        assert record["asgl"]["p"] == used[-1]
        assert model[1].surrogate_function.p == schedule.p
    assert used[0] == 0.4 and set(used[1:61]) == {0.2} and set(used[61:121]) == {0.1}
    assert used[285] == 0.4 / 32 and set(used[286:]) == {0.4 / 64}
    assert set(record["asgl"]["width"]) == {"0", "1"}


def test_schedule_multiplies_once_where_milestones_coincide_and_restores_its_state():
    schedule = NoiseSchedule(p=0.8, gamma=0.5, epochs=3)        # int(m * 3) = 0, 0, 1, 1, 2, 2
    exp = _Exp(nn.Sequential(ASGLLIFNode()))
    for epoch in range(3):
        schedule.on_epoch_end(exp, epoch, {})
    assert schedule.p == 0.1
    again = NoiseSchedule(p=0.8, gamma=0.5, epochs=3)
    again.load_state_dict(schedule.state_dict())
    again.on_train_start(exp, 3)
    assert exp.model[0].surrogate_function.p == 0.1


def test_asgl_training_resumes_with_the_scheduled_p(tiny, tmp_path):
    from snn_methods import run

    args = ("method=asgl", "method.p=0.4", "method.gamma=0.5", "method.ns_milestone=[0.0,0.5]", "epochs=3")
    full = run(tiny(*args), run_dir=tmp_path / "full")
    run(tiny(*args[:-1], "epochs=2"), run_dir=tmp_path / "cut")
    resumed = run(tiny(*args), run_dir=tmp_path / "cut")
    assert [h["asgl"]["p"] for h in full["history"]] == [0.4, 0.2, 0.1]
    for a, b in zip(full["history"], resumed["history"]):
        assert (a["asgl"], a["train_loss"], a["val_acc"]) == (b["asgl"], b["train_loss"], b["val_acc"])


def test_dummy_forward_is_off_by_default_and_when_on_updates_batch_norm_once_before_training(tiny):
    """E.10: the original's train-mode forward of the first training sample (BN statistics, RNG) is opt-in."""
    from snn_methods.asgl import DummyForward

    cfg = tiny("method=asgl", "model=asgl_vggsnn", "dataset=synthetic", "dataset.shape=[2,16,16]")
    assert cfg.method.dummy_forward is False
    for enabled, tracked in ((False, 0), (True, 1)):
        exp = build(cfg)
        exp.callbacks["dummy_forward"] = DummyForward(enabled)
        exp.callbacks["dummy_forward"].on_train_start(exp, 0)
        bns = [m for m in exp.model.modules() if isinstance(m, nn.BatchNorm2d)]
        assert all(int(bn.num_batches_tracked) == tracked for bn in bns)
        exp.callbacks["dummy_forward"].on_train_start(exp, 2)      # a resumed run: not again
        assert all(int(bn.num_batches_tracked) == tracked for bn in bns)


# ------------------------------------------------------------------------------------------------ the recipe
def test_method_asgl_builds_the_two_optimizers_of_the_recipe(tiny):
    exp = build(tiny("method=asgl", "model=asgl_resnet18", "neuron.train_decay=true", "scheduler=cosine",
                     "dataset=synthetic"))
    opt = exp.optimizer
    assert isinstance(opt, OptimizerSet) and isinstance(opt.parts["main"], torch.optim.SGD)
    adam = opt.parts["neuron"]
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["lr"] == 3e-4 and adam.defaults["weight_decay"] == 0
    neuron_params = {id(p) for g in adam.param_groups for p in g["params"]}
    layers = [m for _, m in spiking_neurons(exp.model)]
    assert len(layers) == 17
    expected = {id(p) for m in layers for p in (m.decay_logit, m.surrogate_function.slope)}
    assert neuron_params == expected                                  # every layer's own width and decay (E.2)
    decay, no_decay = opt.parts["main"].param_groups
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0     # E.7
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim <= 1 for p in no_decay["params"])
    assert len(decay["params"]) == 21 and len(no_decay["params"]) == 2 * 20 + 1   # 21 convs + fc; 20 BN + fc bias
    for _ in range(3):
        opt.step()                                                    # no grads: nothing moves, lrs are applied
        exp.scheduler.step()
    opt.step()
    assert opt.parts["main"].param_groups[0]["lr"] < 0.1 and adam.param_groups[0]["lr"] == 3e-4   # no schedule
    assert all(bn.num_batches_tracked == 0 for bn in exp.model.modules() if isinstance(bn, nn.BatchNorm2d))


def test_optimizer_set_round_trips_its_state():
    model = nn.Sequential(nn.Linear(3, 3), ASGLLIFNode(train_decay=True))
    make = lambda: split_optimizer(model.parameters(), main=lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
                                   neuron=lambda ps: torch.optim.Adam(ps, lr=0.01))
    opt = make()
    model(torch.randn(2, 4, 3)).sum().backward()
    opt.step()
    twin = make()
    twin.load_state_dict(opt.state_dict())
    assert twin.state_dict()["neuron"]["state"][0]["step"] == 1
    assert len(twin.param_groups) == 3


# ------------------------------------------------------------------------------------------------ models
@pytest.mark.parametrize("name,classes,shape,train_decay,count", [
    ("asgl_resnet18", 100, (3, 32, 32), True, 11_220_166),     # F.4 (the HEAD code always learns the decays)
    ("asgl_resnet18", 100, (3, 32, 32), False, 11_220_149),
    ("asgl_resnet19", 10, (3, 32, 32), True, 12_697_764),
    ("asgl_vggsnn", 10, (2, 48, 48), False, 9_268_744),
])
def test_parameter_counts_match_the_original(name, classes, shape, train_decay, count):
    factory = NeuronFactory(compose(["method=asgl", f"neuron.train_decay={str(train_decay).lower()}"]).neuron)
    model = create_model(name, neuron=factory, num_classes=classes, input_shape=shape)
    assert sum(p.numel() for p in model.parameters()) == count


def test_models_map_t_n_input_to_per_step_logits_and_are_per_sample_invariant_in_eval():
    torch.manual_seed(0)
    factory = NeuronFactory(compose(["method=asgl"]).neuron)
    model = create_model("asgl_resnet18", neuron=factory, num_classes=10, input_shape=(3, 32, 32),
                         widths=(16, 32, 64, 128)).eval()
    image = torch.randn(1, 3, 32, 32)
    x = torch.cat([image, torch.randn(1, 3, 32, 32), image]).unsqueeze(0).expand(2, 3, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, 3, 10) and torch.equal(out[:, 0], out[:, 2])


def test_tdbn_is_plain_batch_norm_over_the_merged_time_and_batch():
    """E.5 / F.4: weight 1, and one step leaves running_mean = 0.1 x the mean over all T*N*H*W positions."""
    torch.manual_seed(0)
    model = create_model("asgl_vggsnn", neuron=NeuronFactory(compose(["method=asgl"]).neuron), num_classes=10,
                         input_shape=(2, 16, 16), T=3)
    seen = {}
    model.conv2.register_forward_hook(lambda m, i, o: seen.setdefault("pre_bn", o.detach()))
    model(torch.rand(3, 4, 2, 16, 16))
    bn = model.bn2[0]
    assert isinstance(bn, nn.BatchNorm2d) and bn.num_batches_tracked == 1
    torch.testing.assert_close(bn.running_mean, 0.1 * seen["pre_bn"].mean(dim=(0, 1, 3, 4)))
    conv_std = torch.cat([m.weight.flatten() for m in model.modules() if isinstance(m, nn.Conv2d)]).std()
    assert abs(conv_std.item() - 0.5) < 0.01                       # E.13: VGG weights N(0, 0.5^2)


@pytest.mark.parametrize("bn_type", ["bntt", "per_step", "none"])
def test_other_batch_norm_variants(bn_type):
    model = create_model("asgl_vggsnn", num_classes=10, input_shape=(2, 16, 16), bn_type=bn_type, T=2)
    assert model(torch.rand(2, 3, 2, 16, 16)).shape == (2, 3, 10)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == {"bntt": 16, "per_step": 8, "none": 0}[bn_type]
    if bn_type == "bntt":
        assert all(bn.bias is not None for bn in bns)
        with pytest.raises(ConfigError, match="T=2"):
            model(torch.rand(3, 1, 2, 16, 16))


@pytest.mark.parametrize("neuron", ["lif", "if", "plif"])
def test_asgl_models_take_any_neuron_and_the_hybrid_surrogate_fits_any_neuron(neuron):
    cfg = compose(["method=asgl", f"neuron={neuron}", "neuron/surrogate=mns_rec", "method.p=0.3"])
    model = create_model("asgl_resnet19", neuron=NeuronFactory(cfg.neuron), num_classes=5, input_shape=(1, 8, 8),
                         widths=(8, 16, 32), hidden=16)
    layers = [m for _, m in spiking_neurons(model)]
    assert len(layers) == 18
    spikes = [m.surrogate_function for m in layers]
    assert all(isinstance(s, HybridSpike) and s.p == 0.3 for s in spikes) and len({id(s) for s in spikes}) == 18
    out = model(torch.rand(2, 3, 1, 8, 8))
    out.sum().backward()
    assert out.shape == (2, 3, 5) and all(s.log_slope.grad is not None for s in spikes)
    functional.reset_net(model)


def test_build_gives_a_multi_step_asgl_neuron(tiny):
    node = build(tiny("method=asgl", "neuron.surrogate=mns_rec", "neuron.width=2.0")).neuron()
    assert isinstance(node, ASGLLIFNode) and node.surrogate_function.smooth == "mns_rec"
    assert node.surrogate_function.p == 0.2 and node(torch.rand(4, 3, 7)).shape == (4, 3, 7)


# ------------------------------------------------------------------------------------------------ TET, Cutout
def test_tet_loss_formula():
    from snn_methods.losses import TET

    torch.manual_seed(0)
    out, y = torch.randn(4, 5, 3), torch.randint(3, (5,))
    ce = sum(nn.functional.cross_entropy(out[k], y) for k in range(4)) / 4
    expected = 0.999 * ce + 0.001 * ((out - 1.0) ** 2).mean()
    torch.testing.assert_close(TET(lamb=1e-3, means=1.0)(out, y), expected)


def test_cutout_zeroes_a_clipped_square_in_every_channel():
    from PIL import Image

    from snn_methods.data.augment import Cutout

    torch.manual_seed(0)
    cut = Cutout(n_holes=1, length=16)
    areas = set()
    for _ in range(50):
        img = cut(torch.ones(3, 32, 32))
        zero = img == 0
        assert torch.equal(zero[0], zero[1]) and torch.equal(zero[0], zero[2])
        rows, cols = zero[0].any(1).sum().item(), zero[0].any(0).sum().item()
        assert zero[0].sum() == rows * cols and rows <= 16 and cols <= 16
        areas.add(rows * cols)
    assert 256 in areas and min(areas) < 256                         # clipped at the borders sometimes
    pil = cut(Image.new("RGB", (32, 32), (200, 100, 50)))
    import numpy as np

    assert isinstance(pil, Image.Image) and (np.asarray(pil) == 0).all(-1).sum() > 0


def test_cifar_preset_pipeline_cuts_before_normalize():
    """E.11: RandomCrop -> flip -> AutoAugment -> Cutout -> ToTensor -> Normalize: cut pixels end at -mean/std."""
    from hydra.utils import instantiate
    from PIL import Image

    from snn_methods.data.vision import _transforms

    cfg = compose(["experiment=asgl_cifar100_resnet18_t2"]).dataset
    steps = instantiate(cfg.train_transforms, _convert_="all")
    names = [type(s).__name__ for s in steps]
    assert names == ["RandomCrop", "RandomHorizontalFlip", "AutoAugment", "Cutout"]
    assert steps[2].policy.value == "cifar10"
    train_tf, _ = _transforms(steps[3:], True, cfg.mean, cfg.std)       # Cutout alone, then the tail
    torch.manual_seed(0)
    x = train_tf(Image.new("RGB", (32, 32), (255, 255, 255)))
    cut_value = torch.tensor([-m / s for m, s in zip(cfg.mean, cfg.std)])
    assert (torch.isclose(x, cut_value.view(3, 1, 1), atol=1e-6).all(0)).sum() >= 64
    train_tf, _ = _transforms(steps, True, cfg.mean, cfg.std)
    assert train_tf(Image.new("RGB", (32, 32))).shape == (3, 32, 32)


# ------------------------------------------------------------------------------------------------ presets, sweep
def test_presets_compose_as_the_readme_command():
    cfg = compose(["experiment=asgl_cifar100_resnet18_t2"])
    assert (cfg.dataset.name, cfg.model.name, cfg.model.bn_type, cfg.T, cfg.epochs, cfg.batch_size, cfg.seed) == (
        "cifar100", "asgl_resnet18", "tdbn", 2, 300, 128, 60)
    assert (cfg.neuron.surrogate, cfg.neuron.width, cfg.neuron.decay, cfg.neuron.v_threshold) == ("mns_sig", 5.0, 0.5, 1.0)
    assert (cfg.neuron.train_width, cfg.neuron.train_decay, cfg.method.p, cfg.method.gamma) == (True, False, 0.2, 1.0)
    assert (cfg.optimizer.main.weight_decay, cfg.optimizer.main.lr, cfg.optimizer.neuron.lr) == (5e-4, 0.1, 3e-4)
    assert cfg.scheduler.interval == "epoch" and cfg.hardware.amp is False
    sg = compose(["experiment=asgl_cifar100_resnet18_t2_sg"])
    assert (sg.method.name, sg.method.p, sg.neuron.train_width, sg.neuron.width) == ("asgl_sg", 0.0, False, 5.0)
    c10 = compose(["experiment=asgl_cifar10_resnet18_t2_sg"])
    assert (c10.dataset.name, c10.method.name, c10.dataset.mean[0]) == ("cifar10", "asgl_sg", 0.4914)


def test_method_asgl_sg_is_asgl_without_noise_and_with_a_fixed_width():
    from omegaconf import OmegaConf

    sg = OmegaConf.to_container(compose(["method=asgl_sg"]), resolve=True)
    plain = OmegaConf.to_container(compose(["method=asgl", "method.p=0", "neuron.train_width=false"]), resolve=True)
    sg["method"]["name"] = plain["method"]["name"]
    assert sg["method"].pop("pins")["values"] == {"method.p": 0.0, "neuron.train_width": False}   # what defines it
    assert sg == plain


@pytest.mark.slow
def test_width_sweep_is_one_command(launch, tmp_path):
    """sweeps/asgl_width.yaml: SG and ASGL at the README's five widths (here one width, as the command line narrows)."""
    from pathlib import Path

    import yaml

    sweep = yaml.safe_load((Path(__file__).parents[1] / "sweeps" / "asgl_width.yaml").read_text())["hydra"]["sweeper"]
    assert sweep["params"] == {"neuron.width": "0.5,1.0,2.5,5.0,10.0"}
    assert sweep["blocks"] == [{"method": "asgl_sg"}, {"method": "asgl"}]
    proc = launch("-m", "sweep=asgl_width", "debug=tiny", "neuron.width=2.5", "epochs=1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = sorted(tmp_path.glob("multirun/*/*/*/results.json"))
    methods = sorted(json.loads(p.read_text())["method"] for p in found)
    assert methods == ["asgl", "asgl_sg"]
    assert all("neuron.width=2.5" in p.parent.name for p in found)


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("override,message", [
    ("method.p=1.5", r"method.p=1.5 is invalid: must be a number in \[0, 1\]"),
    ("method.p=-0.1", r"method.p=-0.1 is invalid"),
    ("method.gamma=0", r"method.gamma=0 is invalid: must be a number > 0"),
    ("method.gamma=-1", r"method.gamma=-1 is invalid"),
    ("neuron.width=0", r"neuron.width=0 is invalid: must be a number > 0"),
    ("neuron.width=-2", r"neuron.width=-2 is invalid"),
    ("neuron.surrogate=mns_tri", r"neuron.surrogate='mns_tri' is invalid: must be one of mns_sig, mns_rec"),
    ("method.ns_milestone=[0,1.5]", r"method.ns_milestone=\[0, 1.5\] is invalid: must be a list of fractions"),
    ("method.ns_milestone=[-0.2]", r"method.ns_milestone=\[-0.2\] is invalid"),
    ("neuron.granularity=kernel", r"neuron.granularity='kernel' is invalid: must be one of layer, channel, neuron"),
    ("neuron.decay=1.0", r"neuron.decay=1.0 is invalid: must be a number in \(0, 1\)"),
])
def test_bad_asgl_values_give_one_line(tiny, override, message):
    with pytest.raises(ConfigError, match=message) as info:
        build(tiny("method=asgl", override))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("overrides,message", [
    (["neuron/surrogate=mns_sig", "neuron.surrogate.width=0"], r"neuron.surrogate.width=0 is invalid"),
    (["neuron/surrogate=mns_sig", "neuron.surrogate.smooth=tri"], r"neuron.surrogate.smooth='tri' is invalid"),
    (["method=asgl_sg", "method.p=0.2"], r"method=asgl_sg is the SG baseline"),
    (["method=asgl", "model=asgl_resnet18", "model.bn_type=tdBN"], r"model.bn_type='tdBN' is invalid"),
    (["loss=tet", "loss.lamb=2"], r"loss.lamb=2 is invalid"),
])
def test_other_bad_values_give_one_line(tiny, overrides, message):
    with pytest.raises(ConfigError, match=message):
        build(tiny(*overrides))


def test_launch_prints_the_error_as_one_line(launch):
    proc = launch("method=asgl", "method.p=2", "debug=tiny")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == ("error: method.p=2 is invalid: must be a number in [0, 1] "
                                                    "(the fraction of analog, noisy outputs)")


def test_noise_probability_is_checked_where_it_is_written():
    with pytest.raises(ValueError, match="p=1.2"):
        set_noise_probability(nn.Sequential(ASGLLIFNode()), 1.2)
    with pytest.raises(ValueError, match="does not exist"):
        HybridSpike("mns_tri")
