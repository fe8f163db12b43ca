"""One test per pitfall of spec pruning.md section 8: each fails if a re-implementation makes that mistake."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
from spikingjelly.activation_based import functional

from snn_methods import build, compose
from snn_methods.losses import rate
from snn_methods.metrics import connectivity
from snn_methods.models import create_model
from snn_methods.neurons import NeuronFactory
from snn_methods.pruning import STDS, DeepRewire, DeepRewiring, GradRewire, GradRewiring, prunable_layers, stds

F64 = torch.float64


def param(values):
    return nn.Parameter(torch.tensor(values, dtype=F64))


def step(opt, p, grad):
    p.grad = torch.tensor(grad, dtype=F64)
    opt.step()


# 1. Grad R sign and theta bookkeeping -------------------------------------------------------------------------

def test_1_grad_r_sign_is_read_at_the_first_step_and_never_again():
    p = param([0.3, -0.2, 0.1])
    opt = GradRewiring([p], lr=0.1, alpha=0.0, s=0.9)
    with torch.no_grad():
        p.copy_(torch.tensor([-0.3, 0.2, 0.0]))   # changed after construction: the FIRST STEP's weights count
    step(opt, p, [0.0, 0.0, 0.0])
    assert opt.state[p]["sign"].tolist() == [-1, 1, 0]
    for _ in range(30):                      # push entry 0 through zero: it is pruned, never flips sign
        step(opt, p, [-1.0, 0.0, 5.0])
    assert p[0].item() == 0 and opt.state[p]["sign"][0].item() == -1
    assert p[2].item() == 0                 # a zero initial weight (s = 0) stays 0 whatever its gradient
    assert opt.state[p]["strength"][0].item() < -1   # theta has no lower bound


def test_1_grad_r_pruned_weights_still_learn_and_regrow():
    p = param([0.05])
    opt = GradRewiring([p], lr=0.1, alpha=0.0, s=0.9)
    for _ in range(5):
        step(opt, p, [1.0])                  # prunes it: theta < 0
    assert p.item() == 0 and opt.state[p]["strength"].item() < 0
    for _ in range(20):
        step(opt, p, [-1.0])                 # the gradient is NOT masked by relu'(theta): theta climbs back
    assert p.item() > 0


def test_1_grad_r_prior_uses_the_bias_corrected_step_and_is_not_divided_by_the_adam_denominator():
    p = param([0.5, -0.5])
    lr, alpha = 1e-3, 2.0
    opt = GradRewiring([p], lr=lr, alpha=alpha, s=0.95)
    step(opt, p, [0.0, 0.0])                 # no gradient: only the prior moves theta, by alpha * lr / (1 - b1)
    expected = 0.5 - alpha * lr / (1 - 0.9)
    assert opt.state[p]["strength"].tolist() == pytest.approx([expected, expected], abs=1e-15)


def test_1_grad_r_prior_uses_theta_before_the_update():
    # mu = ln(2 (1 - 0.55)) / 0.5 = -0.2107; theta_old = -0.2 > mu, theta after the gradient term < mu:
    # the prior must still push DOWN (sign(theta_old - mu) = +1)
    p = param([-0.2])
    opt = GradRewiring([p], lr=0.01, alpha=0.5, s=0.55)
    opt.state[p].update(step=torch.zeros((), dtype=F64), exp_avg=torch.zeros(1, dtype=F64),
                        exp_avg_sq=torch.zeros(1, dtype=F64), sign=torch.tensor([1.0], dtype=F64),
                        strength=torch.tensor([-0.2], dtype=F64))
    step(opt, p, [1.0])
    eta = 0.01 / 0.1                          # Adam's first gradient step is lr; the prior's is alpha * eta
    assert opt.state[p]["strength"].item() == pytest.approx(-0.2 - 0.01 - 0.5 * eta, abs=1e-7)


# 2. Grad R's centre is huge and negative with the defaults -------------------------------------------------------

def test_2_default_centre_is_minus_2302_and_alpha_alone_drives_sparsity():
    assert GradRewiring.prior_centre(1e-3, 0.95) == pytest.approx(-2302.585, abs=1e-3)
    thetas = []
    for target in (0.5, 0.95):      # the target barely matters: theta >> mu either way
        p = param([0.5])
        opt = GradRewiring([p], lr=1e-3, alpha=1e-3, s=target)
        step(opt, p, [0.0])
        thetas.append(opt.state[p]["strength"].item())
    assert thetas[0] == thetas[1] == pytest.approx(0.5 - 1e-3 * 1e-3 / 0.1, abs=1e-15)


# 3. Deep R (hard) -------------------------------------------------------------------------------------------------

def test_3_refreshed_mask_lets_rewired_weights_learn():
    p = param([0.005, 0.5])
    opt = DeepRewiring([p], lr=0.01, l1=0.0, max_s=0.0, faithful_stale_mask=False)
    step(opt, p, [5.0, 0.1])
    assert p[0].item() == 1e-8
    for _ in range(4):
        step(opt, p, [-5.0, 0.1])
    assert p[0].item() > 1e-3          # with the original's stale mask it stays 1e-8 (golden test)


def test_3_rewired_value_is_plus_eps_whatever_the_sign():
    p = param([-0.001, -0.5])
    opt = DeepRewiring([p], lr=0.01, l1=0.0, max_s=0.0)
    step(opt, p, [-5.0, 0.0])           # entry 0 leaves its sign -> dormant -> rewired to +1e-8
    assert p[0].item() == 1e-8


def test_3_noise_is_drawn_even_at_temperature_0():
    p = param([0.3, -0.2, 0.1])
    opt = DeepRewiring([p], lr=0.01, l1=0.0, max_s=0.99, temperature=0.0)
    torch.manual_seed(0)
    step(opt, p, [0.1, 0.1, 0.1])
    after_step = torch.rand(3)
    torch.manual_seed(0)
    torch.randn(3, dtype=F64)
    assert torch.equal(after_step, torch.rand(3))


def test_3_adam_moments_include_the_gradients_of_dormant_weights():
    p = param([0.0, 0.5])
    opt = DeepRewiring([p], lr=0.01, l1=0.0, max_s=0.99)
    step(opt, p, [2.0, 0.1])
    assert opt.state[p]["exp_avg"][0].item() == pytest.approx(0.2) and p[0].item() == 0


# 4. soft Deep R at temperature 0 ------------------------------------------------------------------------------------

def test_4_soft_deep_r_at_temperature_0_prunes_for_good_and_ignores_max_s():
    assert DeepRewiring.theta_min(0.0, 1e-3, 0.95) == 0.0
    runs = []
    for max_s in (0.5, 0.95):
        p = param([0.01, -0.3])
        opt = DeepRewiring([p], lr=0.01, l1=0.1, max_s=max_s, soft=True)
        step(opt, p, [1.0, 0.0])          # prunes entry 0
        for _ in range(10):
            step(opt, p, [-5.0, 0.0])     # strong regrowth gradient: no effect once theta hit the floor 0
        assert p[0].item() == 0 and opt.state[p]["strength"][0].item() == 0
        runs.append(p.detach().clone())
    assert torch.equal(runs[0], runs[1])


# 5. STDS mapping backward -------------------------------------------------------------------------------------------

def test_5_stmod_passes_the_gradient_through_the_dead_zone_and_st_does_not():
    theta = torch.tensor([0.1, -0.2], dtype=F64, requires_grad=True)   # both inside [-D, D]
    stds.soft_threshold(theta, 0.5, "stmod").sum().backward()
    assert theta.grad.tolist() == [1.0, 1.0]
    theta.grad = None
    stds.soft_threshold(theta, 0.5, "st").sum().backward()
    assert theta.grad.tolist() == [0.0, 0.0]


# 6. STDS schedule: identity first, width after each step from the completed steps, N planned != trained ----------

def test_6_gradual_width_schedule_wiring_in_a_ten_step_run(tiny, tmp_path):
    """9.6: N = 10 steps (10 epochs x 1 batch), D = 1, sine. The forward of step k uses D_{k-1} (identity at k=1);
    the logged connectivity is the fraction of |theta| > D_n after the epoch."""
    from snn_methods import run

    cfg = tiny("method=stds", "pruning.flat_width=1.0", "pruning.gradual=sine", "epochs=10",
               "train.limit_train_batches=1", "train.limit_eval_batches=1", "train.eval_test_every_epoch=false",
               "train.synops_final=false", "optimizer.lr=0.05")
    seen: list = []
    original_build = build

    def spy_build(c):
        exp = original_build(c)
        first = exp.pruning.layers[0][1]
        first.register_forward_pre_hook(lambda m, a: seen.append((m.training, exp.pruning.threshold.width)))
        spy_build.exp = exp
        return exp
    import snn_methods.engine.training as training   # where a training run calls build
    api_build, training.build = training.build, spy_build
    try:
        results = run(cfg, run_dir=tmp_path)
    finally:
        training.build = api_build
    train_widths = [w for training, w in seen if training]
    assert len(train_widths) == 10 and train_widths[0] is None      # step 1: the identity mapping
    assert train_widths[1:] == pytest.approx([stds.schedule_ratio("sine", k, 10) for k in range(1, 10)], abs=1e-15)
    exp = spy_build.exp
    assert exp.pruning.total_steps == 10 and exp.pruning.threshold.width == pytest.approx(1.0)
    thetas = exp.pruning.pruned_weights()
    alive = sum(int((t.abs() > 1.0).sum()) for t in thetas) / sum(t.numel() for t in thetas)
    assert results["final"]["connectivity"] == pytest.approx(alive, abs=1e-12)
    assert [h["flat_width"] for h in results["history"]] == pytest.approx(
        [stds.schedule_ratio("sine", k, 10) for k in range(1, 11)], abs=1e-15)


def test_6_the_schedule_is_planned_over_gradual_epochs_and_overshoots_past_it():
    method = STDS(flat_width=2.0, gradual="linear", gradual_epochs=4)
    method.plan(epochs=5, steps_per_epoch=10)       # the CIFAR run: plans N epochs, trains N + 1
    assert method.total_steps == 40
    assert method.width_after(0) is None and method.width_after(20) == 1.0
    assert method.width_after(50) == pytest.approx(2.5)


# 7. The init shift: STDS ImageNet only, only with a fixed width ---------------------------------------------------

def test_7_no_init_shift_on_the_cifar_recipe_and_shift_only_without_schedule():
    cfg = compose(["experiment=stds_cifar10"])
    assert cfg.pruning.init_shift is False
    assert compose(["experiment=stds_imagenet_sew18"]).pruning.init_shift is False
    assert compose(["experiment=gradr_imagenet_sew18"]).pruning.init_shift is True
    layer = nn.Linear(4, 3, bias=False)
    w0 = layer.weight.detach().clone()
    method = STDS(flat_width=0.5, gradual=None, init_shift=False)
    method.prepare_model(nn.Sequential(layer))
    assert torch.equal(stds.theta_of(layer), w0)
    from snn_methods.errors import ConfigError
    with pytest.raises(ConfigError, match="init_shift"):
        STDS(flat_width=0.5, gradual="sine", init_shift=True)


# 8. STDS Grad R: only theta optimised; Adam shrink uncorrected and absorbing; SGD shrink unclamped, scheduled lr --

def test_8_stds_grad_r_freezes_bn_and_excluded_layers(tiny):
    exp = build(tiny("method=stds_grad_rewire", "model=spiking_vgg11", "pruning.exclude=[fc]"))
    theta = {id(p) for p in exp.pruning.pruned_weights()}
    in_optimizer = {id(p) for g in exp.optimizer.param_groups for p in g["params"]}
    assert in_optimizer == theta
    bn = next(m for m in exp.model.modules() if isinstance(m, nn.BatchNorm2d))
    fc = exp.model.fc
    before = [t.detach().clone() for t in (bn.weight, bn.bias, bn.running_mean, fc.weight, fc.bias)]
    x, y = next(iter(exp.data.train))
    functional.reset_net(exp.model)
    exp.rule.step(exp.model, exp.encoder(x), y, exp.loss_fn, exp.precision)
    exp.optimizer.step()
    after = (bn.weight, bn.bias, bn.running_mean, fc.weight, fc.bias)
    assert [torch.equal(a, b) for a, b in zip(before, after)] == [True, True, False, True, True]
    exp = build(tiny("method=stds_grad_rewire", "model=spiking_vgg11", "pruning.freeze_non_pruned=false"))
    groups = exp.optimizer.param_groups
    assert [g["alpha_gr"] for g in groups] == [1.0, 0.0] and any(p is bn_p for p in groups[1]["params"]
                                                                 for bn_p in [exp.model.conv1[1].weight])


def test_8_adam_shrink_is_not_bias_corrected_and_zero_is_absorbing():
    p = param([0.5, 0.001])
    opt = stds.STDSAdam([p], lr=0.01, alpha_gr=1.0)
    step(opt, p, [0.0, 0.0])                       # no gradient: only the shrink, by lr * alpha (not 10x)
    assert p.tolist() == pytest.approx([0.49, 0.0], abs=1e-15)
    step(opt, p, [0.0, -100.0])                    # theta = 0: its sign is 0, it stays 0 forever
    assert p[1].item() == 0


def test_8_sgd_shrink_uses_the_scheduled_lr_and_does_not_clamp():
    p = param([0.001])
    opt = stds.STDSSGD([p], lr=0.1, momentum=0.9, alpha_gr=1.0)
    opt.param_groups[0]["lr"] = 0.01                # as a cosine schedule would set it
    step(opt, p, [0.0])
    assert p.item() == pytest.approx(0.001 - 0.01, abs=1e-15)   # crossed zero: no clamp


# 9. BN and time -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bn_time,updates", [("per_step", 3), ("merged", 1)])
def test_9_bn_time_handling(bn_time, updates):
    model = create_model("cifar10_6c2f", num_classes=10, input_shape=(3, 8, 8), channels=4, fc_hidden=8,
                         bn_time=bn_time, num_dropout=0)
    x = torch.randn(2, 3, 8, 8)
    model(x.unsqueeze(0).expand(3, *x.shape))
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns[0].num_batches_tracked.item() == 1        # the static encoder's BN sees the images once
    assert all(b.num_batches_tracked.item() == updates for b in bns[1:])


# 10. Dropout: one mask per sample shared over T, scaled by 2; one (Grad R) or two (STDS) dropouts -----------------

def test_10_dropout_mask_is_shared_over_time_and_redrawn_after_reset():
    from spikingjelly.activation_based import layer
    drop = layer.Dropout(0.5, step_mode="m")
    x = torch.ones(4, 3, 50)
    a = drop(x)
    assert set(a.unique().tolist()) <= {0.0, 2.0} and all(torch.equal(a[t], a[0]) for t in range(4))
    functional.reset_net(drop)
    assert not torch.equal(drop(x)[0], a[0])
    for n in (1, 2):
        model = create_model("cifar10_6c2f", num_classes=10, input_shape=(3, 8, 8), channels=4, fc_hidden=8,
                             num_dropout=n)
        assert sum(isinstance(m, layer.Dropout) for m in model.modules()) == n


# 11. The static encoder: computed once per sample, still pruned / reparameterised ----------------------------------

@pytest.mark.parametrize("name,shape", [("mnist_fc800", (1, 8, 8)), ("cifar10_6c2f", (3, 8, 8)),
                                        ("sew_resnet18", (3, 16, 16))])
def test_11_static_first_layer_runs_once_and_is_reparameterised(name, shape):
    kwargs = {"channels": 4, "fc_hidden": 8} if name == "cifar10_6c2f" else {}
    model = create_model(name, num_classes=10, input_shape=shape, **kwargs)
    method = STDS(flat_width=0.01, gradual=None)
    method.prepare_model(model)
    first_name, first = method.layers[0]
    calls = []
    first.register_forward_hook(lambda m, a, out: calls.append(a[0].shape))
    x = torch.randn(2, *shape)
    model(x.unsqueeze(0).expand(4, *x.shape))
    assert len(calls) == 1 and calls[0][0] == 2, (first_name, calls)     # once, on the N images
    assert first_name in dict(prunable_layers(model)) and hasattr(first, "parametrizations")


# 12. Decoding: votes are group means; ties go to the first index ------------------------------------------------

def test_12_voting_and_argmax_ties():
    from snn_methods.models.layers import Voting
    out = Voting(10)(torch.arange(100.0).view(1, 1, 100))
    assert out.view(-1).tolist() == [4.5 + 10 * k for k in range(10)]
    silent = torch.zeros(8, 3, 10)
    silent[:, 2, [3, 7]] = 1.0
    assert rate(silent).argmax(1).tolist() == [0, 0, 3]


# 13. Sparsity denominators ------------------------------------------------------------------------------------------

def test_13_cifar_denominators_with_and_without_bn():
    model = create_model("cifar10_6c2f", num_classes=10, input_shape=(3, 32, 32))
    zeros = 0
    with torch.no_grad():
        for _, m in prunable_layers(model):
            m.weight.fill_(1.0).view(-1)[: m.weight.numel() // 2] = 0
            zeros += m.weight.numel() // 2
    conn = connectivity(model)
    assert conn["numel"] == 36_715_264
    assert conn["total"] == pytest.approx(1 - zeros / 36_715_264, abs=1e-15)
    assert conn["with_bn"] == pytest.approx(1 - zeros / 36_718_336, abs=1e-15)


def test_13_stds_imagenet_counts_the_20_convs_only():
    model = create_model("sew_resnet18", neuron=NeuronFactory(compose(["neuron=if"]).neuron), num_classes=1000,
                         input_shape=(3, 224, 224))
    STDS(reparameterisation="stmod", flat_width=0.1, gradual="sine", exclude=["fc"]).prepare_model(model)
    assert connectivity(model)["numel"] == 11_166_912
    assert "fc" not in connectivity(model)["layers"]


def test_13_grad_r_training_threshold_versus_exact_zeros():
    layer = nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1e-11, 0.0, 0.5, 2e-10]]))
    assert connectivity(layer, zero_threshold=1e-10)["total"] == 0.5
    assert connectivity(layer)["total"] == 0.75
    assert compose(["method=grad_rewire"]).pruning.zero_threshold == 1e-10
    assert compose(["method=stds"]).pruning.zero_threshold == 0.0


# 14, 15. Epoch counts and the ImageNet learning-rate schedule ----------------------------------------------------

@pytest.mark.parametrize("preset,epochs", [("gradr_mnist", 513), ("deepr_mnist", 513), ("gradr_cifar10", 2049),
                                           ("stds_cifar10", 2049), ("stds_imagenet_sew18", 320)])
def test_14_epoch_counts(preset, epochs):
    assert compose([f"experiment={preset}"]).epochs == epochs


def test_15_imagenet_lr_is_the_command_lines_with_a_per_epoch_cosine():
    cfg = compose(["experiment=stds_imagenet_sew18"])
    assert (cfg.optimizer.lr, cfg.optimizer.momentum, cfg.optimizer.weight_decay) == (0.1, 0.9, 0.0)
    assert cfg.scheduler._target_.endswith("Cosine") and cfg.scheduler.interval == "epoch"
    assert cfg.batch_size == 256 and cfg.T == 4 and cfg.model.cnf == "ADD"    # global: 32 per GPU x 8 GPUs


# 16. (The STDS CIFAR TensorBoard writers are swapped) -- our per-epoch record keeps each figure under its own name

def test_16_each_figure_is_logged_under_its_own_name(tiny, tmp_path):
    from snn_methods import run
    record = run(tiny("method=grad_rewire"), run_dir=tmp_path)["history"][-1]
    assert {"train_loss", "train_acc", "test_acc", "val_acc", "connectivity", "pruned", "regrown"} <= set(record)
    assert record["train_loss"] > 0.5 and record["test_acc"] < 0.5   # tiny run: not swapped with each other


# 17. Write in place: the parameter's storage is kept ------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda ps: GradRewiring(ps, lr=0.01, alpha=0.5, s=0.9),
    lambda ps: DeepRewiring(ps, lr=0.01, l1=0.1, max_s=0.0),
    lambda ps: DeepRewiring(ps, lr=0.01, l1=0.1, max_s=0.5, soft=True),
    lambda ps: stds.STDSAdam(ps, lr=0.01, alpha_gr=0.5),
    lambda ps: stds.STDSSGD(ps, lr=0.01, alpha_gr=0.5),
])
def test_17_optimizers_write_in_place(make):
    p = param([0.5, -0.01, 0.0, 0.2])
    ptr = p.data_ptr()
    opt = make([p])
    for _ in range(3):
        step(opt, p, [0.1, 0.5, -0.2, 0.0])
    assert p.data_ptr() == ptr and opt.param_groups[0]["params"][0] is p


# 18. SpikingJelly 2.0: float-typed neuron arguments, reset after module surgery ---------------------------------

def test_18_integer_neuron_arguments_and_reset_after_reparameterisation(tiny):
    exp = build(tiny("method=stds", "neuron.tau=2", "neuron.v_threshold=1"))
    x, _ = next(iter(exp.data.train))
    exp.model(exp.encoder(x))
    neurons = [m for m in exp.model.modules() if getattr(m, "is_spiking_neuron", False)]
    assert any(torch.is_tensor(n.v) and n.v.abs().sum() > 0 for n in neurons)
    functional.reset_net(exp.model)
    assert all(not torch.is_tensor(n.v) or n.v.abs().sum() == 0 for n in neurons)


# 19. AMP: STDS runs under autocast (parity with the fp16 cupy kernels is not expected) -------------------------

def test_19_stds_runs_under_autocast(tiny, tmp_path):
    from snn_methods import run
    results = run(tiny("method=stds", "hardware=cpu", "hardware.amp=true", "pruning.flat_width=0.05"),
                  run_dir=tmp_path)
    assert 0 < results["final"]["connectivity"] < 1
    assert math.isfinite(results["history"][-1]["train_loss"])
