"""Golden values of spec pruning.md section 9, produced by running the original code (float64, CPU):
optimizers, reparameterisations, schedules, the LIF neuron and the MNIST / CIFAR-10 / SEW-ResNet-18 networks."""
from __future__ import annotations

import math

import pytest
import torch
from spikingjelly.activation_based import functional

from golden_data import fill_, input_
from snn_methods import compose
from snn_methods.losses import RateCrossEntropy, RateMSE
from snn_methods.models import create_model
from snn_methods.neurons import NeuronFactory
from snn_methods.pruning import STDS, DeepRewiring, GradRewiring, prunable_layers, stds

F64 = torch.float64
TOL = 1e-6   # the tolerance; float64 runs agree to ~1e-12

P0 = [0.5, -0.3, 0.0, 0.01, -0.02, 0.2, -0.05, 0.03]
GRADS = [[0.1, -0.2, 0.3, 0.5, -0.4, -0.1, -0.6, 0.05],
         [-0.2, 0.1, 0.3, 0.8, 0.2, -0.3, -0.6, 0.2],
         [0.05, 0.05, -0.1, -0.9, 0.5, 0.4, 0.1, -0.7]]
LONG = [[0.3 * math.sin(0.9 * t + 1.7 * i) + 0.05 * math.cos(0.31 * t * (i + 1)) for i in range(8)]
        for t in range(1, 51)]


def close(actual, expected, tol=TOL):
    actual = torch.as_tensor(actual, dtype=F64)
    assert torch.allclose(actual, torch.tensor(expected, dtype=F64), rtol=0, atol=tol), (actual.tolist(), expected)


def steps(make, grads=GRADS, p0=P0):
    """Run the optimizer on one float64 parameter; return [(w, state copy)] after every step."""
    p = torch.nn.Parameter(torch.tensor(p0, dtype=F64))
    opt, out = make([p]), []
    for g in grads:
        p.grad = torch.tensor(g, dtype=F64)
        opt.step()
        out.append((p.detach().clone(), {k: v.clone() for k, v in opt.state[p].items()}))
    return out


def neuron_factory(*overrides):
    return NeuronFactory(compose(list(overrides)).neuron)


# ------------------------------------------------------------------------------------------- 9.1 optimizers

def test_grad_rewiring_three_steps():
    hist = steps(lambda ps: GradRewiring(ps, lr=0.01, alpha=0.5, s=0.55))
    close(hist[-1][0], [0.400261968590492, -0.19195676771484227, -0, 0, -0, 0.12379782583058258, -0, 0])
    close(hist[-1][1]["strength"], [0.400261968590492, 0.19195676771484227, -0, -0.1057299038737011,
                                    -0.08403784582173798, 0.12379782583058258, -0.07169456727579085,
                                    -0.07941194057392659])
    close(hist[0][1]["strength"], [0.4400000009999999, 0.24000000049999995, -0, -0.0499999998, -0.03999999975,
                                   0.159999999, -0.009999999833, -0.029999998])
    assert GradRewiring.prior_centre(0.5, 0.55) == pytest.approx(-0.2107210, abs=1e-7)


def test_grad_rewiring_without_prior_is_adam_on_the_signed_strength():
    gr = steps(lambda ps: GradRewiring(ps, lr=0.05, alpha=1e-9, s=0.55))
    adam = steps(lambda ps: torch.optim.Adam(ps, lr=0.05))
    close(adam[-1][0], [0.47513971283010653, -0.23361370845185764, -0.13028489258374698, -0.09481964949085916,
                        0.026359359231043614, 0.29281899903055914, 0.08464296650130797, -0.04322983299198668])
    close(gr[-1][0], [0.47513971283010653, -0.23361370845185764, -0, 0, -0, 0.29281899903055914, -0, 0])
    state = gr[-1][1]
    signed = state["sign"] * state["strength"]
    nonzero = state["sign"] != 0
    close(signed[nonzero], adam[-1][0][nonzero].tolist(), tol=1e-12)


DEEPR_3 = [0.3803737388545772, -0.1388477344763284, 0, 0, 0, 0.19805302505502984, 0, 0]


def test_deep_rewiring_hard_without_rewiring():
    hist = steps(lambda ps: DeepRewiring(ps, lr=0.05, l1=0.1, temperature=0.0, max_s=0.99))
    close(hist[-1][0], DEEPR_3)


def test_deep_rewiring_hard_rewires_every_dormant_entry_to_plus_eps_when_max_s_is_0():
    hist = steps(lambda ps: DeepRewiring(ps, lr=0.05, l1=0.1, temperature=0.0, max_s=0.0))
    active = torch.tensor([1, 1, 0, 0, 0, 1, 0, 0], dtype=torch.bool)
    close(hist[-1][0][active], [DEEPR_3[i] for i in (0, 1, 5)])
    for w, _ in hist:   # after EVERY step, also where the sign is -1 or 0
        assert torch.equal(w[~active], torch.full((5,), 1e-8, dtype=F64))


def test_deep_rewiring_stale_mask_never_regrows():
    grads = [[5.0, 0.1]] + [[-5.0, 0.1]] * 4
    hist = steps(lambda ps: DeepRewiring(ps, lr=0.01, l1=0.0, temperature=0.0, max_s=0.0), grads, [0.005, 0.5])
    for k, (w, _) in enumerate(hist):
        assert w[0].item() == 1e-8
        assert w[1].item() == pytest.approx(0.49 - 0.01 * k, abs=TOL)


def test_soft_deep_rewiring_at_temperature_0_equals_hard_without_rewiring():
    hist = steps(lambda ps: DeepRewiring(ps, lr=0.05, l1=0.1, temperature=0.0, max_s=0.9, soft=True))
    close(hist[-1][0], DEEPR_3)
    close(hist[-1][1]["strength"].clamp(min=0) * hist[-1][1]["sign"], DEEPR_3)
    assert DeepRewiring.theta_min(0.5, 0.1, 0.9) == pytest.approx(-11.25, abs=1e-12)


def test_stds_adam_with_grad_r_shrink():
    hist = steps(lambda ps: stds.STDSAdam(ps, lr=0.05, alpha_gr=0.5))
    close(hist[-1][0], [0.40013971283010646, -0.15861370845185765, 0, 0, 0, 0.21781899903055912, 0, 0])
    close(hist[0][0], [0.42500000499999946, -0.22500000249999988, 0, 0, -0, 0.2249999950000005, -0, 0])


def test_stds_sgd_with_grad_r_shrink():
    hist = steps(lambda ps: stds.STDSSGD(ps, lr=0.1, momentum=0.9, alpha_gr=0.5))
    close(hist[-1][0], [0.35590000000000005, -0.11979999999999998, -0.02830000000000002, -0.13749999999999996,
                        -0.0496, 0.09410000000000003, 0.16660000000000003, -0.0015500000000000166])
    close(hist[0][0], [0.44, -0.23, -0.03, -0.09, 0.07, 0.16, 0.06, -0.025])


def test_fifty_steps_catch_bias_correction_errors():
    gr = steps(lambda ps: GradRewiring(ps, lr=0.01, alpha=0.5, s=0.55), LONG)[-1]
    close(gr[0], [0.073716247214, -0, 0, 0, -0, 0, -0, 0])
    close(gr[1]["strength"], [0.073716247214, -0.0957469470145, 0, -0.204940640198, -0.213721139187,
                              -0.136615118963, -0.214326317836, -0.208942396147])
    deep_r = [0.381876197023, -0.212413002794, 0, 0, 0, 0.171544830846, 0, 0]
    close(steps(lambda ps: DeepRewiring(ps, lr=0.01, l1=0.1, temperature=0.0, max_s=0.99), LONG)[-1][0], deep_r)
    close(steps(lambda ps: DeepRewiring(ps, lr=0.01, l1=0.1, temperature=0.0, max_s=0.9, soft=True), LONG)[-1][0],
          deep_r)
    close(steps(lambda ps: stds.STDSAdam(ps, lr=0.01, alpha_gr=0.5), LONG)[-1][0],
          [0.208916184475, -0.0394529902464, 0, 0, 0, 0, 0, 0])
    close(steps(lambda ps: stds.STDSSGD(ps, lr=0.01, momentum=0.9, alpha_gr=0.5), LONG)[-1][0],
          [0.220518055862, -0.0297354227524, -0.000173063372726, 0.000439902034902, -0.00490791286099,
           -0.000534612125261, 0.00262191713575, 0.00312782998255])


# ---------------------------------------------------------------------------- 9.1 reparameterisation, schedules

THETA = [-1.5, -0.5, -0.2, 0, 0.3, 0.5, 0.7, 2.0]


@pytest.mark.parametrize("kind,grad", [("stmod", [1, 2, 3, 0, 5, 6, 7, 8]), ("st", [1, 0, 0, 0, 0, 0, 7, 8])])
def test_soft_threshold_forward_and_gradient(kind, grad):
    theta = torch.tensor(THETA, dtype=F64, requires_grad=True)
    w = stds.soft_threshold(theta, 0.5, kind)
    close(w.detach(), [-1, -0, -0, 0, 0, 0, 0.2, 1.5], tol=1e-12)
    (w * torch.arange(1, 9, dtype=F64)).sum().backward()
    close(theta.grad, grad, tol=0)


def test_init_shift_makes_the_initial_effective_weight_the_sample():
    layer = torch.nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[-0.3, 0.0, 0.2]], dtype=F64))
    stds.reparameterise(layer, "stmod", stds.Threshold(0.5), init_shift=0.5)
    close(stds.theta_of(layer).detach()[0], [-0.8, 0, 0.7], tol=1e-12)
    close(layer.weight.detach()[0], [-0.3, 0, 0.2], tol=1e-12)


@pytest.mark.parametrize("n,sine,linear", [
    (1, 6.02296e-14, 1.5625e-7), (1.6e6, 0.146446609407, 0.25), (3.2e6, 0.5, 0.5),
    (4.8e6, 0.853553390593, 0.75), (6.4e6, 1, 1), (6403125, 0.999999411726, 1.00048828125)])
def test_schedules(n, sine, linear):
    assert stds.schedule_ratio("sine", n, 6.4e6) == pytest.approx(sine, abs=1e-11)
    assert stds.schedule_ratio("linear", n, 6.4e6) == pytest.approx(linear, abs=1e-12)


# ------------------------------------------------------------------------------------------------ 9.2 neuron

def test_lif_neuron():
    x = torch.tensor([[0.6, 1.2, 0.3, 2.5, 0.0, 1.9, -0.4, 1.0],
                      [3.0, 3.0, 0.9, 0.9, 0.9, 0.9, 2.2, 0.1]], dtype=F64).t().contiguous().requires_grad_()
    lif = neuron_factory()()
    s = lif(x)
    t = torch.arange(1, 9, dtype=F64)[:, None]
    loss = ((s.mean(0) - torch.tensor([0.5, 0.25], dtype=F64)) ** 2).sum() + 0.01 * (t * s).sum()
    loss.backward()
    assert s.t().tolist() == [[0, 0, 0, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 1, 0]]
    close(lif.v, [0.6375, 0.05], tol=1e-12)
    assert loss.item() == pytest.approx(0.29625, abs=1e-12)
    close(x.grad[:, 0], [-0.021983190626463363, -0.0296160596937073, -0.013618743098200424, -0.007481251744479268,
                         -0.011100741599418124, -0.01817649770850733, -0.0034156908327274147,
                         -0.0029931285995771387], tol=1e-12)
    close(x.grad[:, 1], [0.00594825905730377, 0.007390261253013775, 0.028883971578368438, 0.04239994675269053,
                         0.04991577915518218, 0.04362941190301174, 0.013726872415902147, 0.005614536664443562],
          tol=1e-12)


# ------------------------------------------------------------------------------------------------ 9.3 MNIST

def mnist_net():
    model = create_model("mnist_fc800", neuron=neuron_factory(), num_classes=10, input_shape=(1, 28, 28)).double()
    w1, w2 = (m.weight for _, m in prunable_layers(model))
    fill_(w1, 1, 3)
    fill_(w2, 2, 3)
    x = input_((4, 1, 28, 28), 7, 1)
    return model, (w1, w2), x.unsqueeze(0).expand(8, *x.shape), torch.tensor([0, 1, 2, 3])


def test_mnist_network():
    model, (w1, w2), x, y = mnist_net()
    out = model(x)
    loss = RateMSE()(out, y)
    loss.backward()
    assert out.sum(0).tolist() == [[0, 0, 0, 0, 0, 0, 0, 4, 0, 0], [4, 0, 0, 0, 4, 0, 0, 0, 3, 0],
                                   [4, 0, 0, 0, 5, 0, 2, 0, 0, 0], [3, 0, 1, 0, 0, 0, 0, 0, 0, 0]]
    assert loss.item() == pytest.approx(0.14375, abs=1e-12)
    for w, (total, norm) in zip((w1, w2), [(6.111010390359944e-02, 4.277215206123142e-01),
                                           (7.059455310194879e+00, 3.427054834074058e-01)]):
        assert w.grad.sum().item() == pytest.approx(total, abs=1e-10)
        assert w.grad.norm().item() == pytest.approx(norm, abs=1e-10)


def test_grad_rewiring_end_to_end_step_on_the_mnist_network():
    """9.6: forward MNIST -> one GradRewiring step: W = s * max(theta, 0), theta from the 3.1 formulas."""
    model, weights, x, y = mnist_net()
    w0 = [w.detach().clone() for w in weights]
    RateMSE()(model(x), y).backward()
    grads = [w.grad.clone() for w in weights]
    lr, alpha, s_target = 1e-3, 1e-3, 0.95
    GradRewiring(weights, lr=lr, alpha=alpha, s=s_target).step()
    mu = math.log(2 * (1 - s_target)) / alpha
    for w, before, g in zip(weights, w0, grads):
        sign, theta = torch.sign(before), before.abs()
        d = (0.001 * g * g).sqrt() / math.sqrt(0.001) + 1e-8
        eta = lr / 0.1
        theta_new = theta - eta * sign * (0.1 * g) / d - alpha * eta * torch.sign(theta - mu)
        assert torch.allclose(w.detach(), sign * theta_new.clamp(min=0), rtol=0, atol=1e-15)


# ------------------------------------------------------------------------------------------------ 9.4 CIFAR-10

CIFAR_GAINS = [3, 4, 4, 4, 4, 4, 6, 6]


def cifar_net(bn_time: str, kind: str | None = None, width: float = 0.02):
    model = create_model("cifar10_6c2f", neuron=neuron_factory(), num_classes=10, input_shape=(3, 32, 32),
                         bn_time=bn_time, num_dropout=0).double()
    if kind is None:
        params = [m.weight for _, m in prunable_layers(model)]
    else:
        method = STDS(reparameterisation=kind, flat_width=width, gradual=None)
        method.prepare_model(model)
        params = method.pruned_weights()
    for k, (w, gain) in enumerate(zip(params, CIFAR_GAINS)):
        fill_(w, 100 + k, gain)
    x = input_((2, 3, 32, 32), 11, 2)
    return model, params, x.unsqueeze(0).expand(4, *x.shape), torch.tensor([3, 7])


def cifar_forward(model, x, y, train: bool):
    model.train(train)
    functional.reset_net(model)
    out = model(x)
    loss = RateMSE()(out, y)
    if train:
        loss.backward()
    return out.mean(0), loss.item()


def check_grads(params, sums, norms=None):
    for k, p in enumerate(params):
        assert p.grad.sum().item() == pytest.approx(sums[k], abs=TOL, rel=1e-9), k
        if norms:
            assert p.grad.norm().item() == pytest.approx(norms[k], abs=TOL, rel=1e-9), k


@pytest.mark.slow
def test_cifar_networks_eval_mode_agree():
    expected = [[0.3, 0.225, 0.45, 0.1, 0.3, 0.275, 0.425, 0.35, 0.225, 0.275],
                [0.325, 0.225, 0.325, 0.15, 0.275, 0.2, 0.275, 0.35, 0.225, 0.25]]
    for bn_time, kind in (("per_step", None), ("merged", "identity")):
        model, _, x, y = cifar_net(bn_time, kind)
        with torch.no_grad():
            out, loss = cifar_forward(model, x, y, train=False)
        close(out, expected)
        assert loss == pytest.approx(0.13796875, abs=1e-12)


@pytest.mark.slow
def test_cifar_grad_r_net_train_mode_per_step_bn():
    model, params, x, y = cifar_net("per_step")
    out, loss = cifar_forward(model, x, y, train=True)
    close(out, [[0.3, 0.2, 0.325, 0.15, 0.1, 0.25, 0.125, 0.225, 0.275, 0.15],
                [0.325, 0.125, 0.15, 0.1, 0.1, 0.325, 0.2, 0.15, 0.15, 0.2]])
    assert loss == pytest.approx(0.11446875, abs=1e-12)
    check_grads(params, [5.419712394736e-03, 1.083360007601e-01, -1.164649245452e-01, 3.17329752951e-03,
                         -1.484064533906e-01, 8.453333233455e-01, 3.945365062366e+01, 1.122500502793e+01],
                [7.146068532190e-03, 4.807901649714e-02, 4.731195429442e-02, 7.134867514604e-02,
                 7.241835248196e-02, 7.439220258281e-02, 2.363832136142e-01, 8.877681430292e-02])


@pytest.mark.slow
def test_cifar_stds_net_train_mode_identity():
    model, params, x, y = cifar_net("merged", "identity")
    out, loss = cifar_forward(model, x, y, train=True)
    close(out, [[0.175, 0.075, 0.2, 0.025, 0.1, 0.275, 0.175, 0.175, 0.225, 0.125],
                [0.225, 0.125, 0.125, 0.05, 0.05, 0.125, 0.125, 0.075, 0.075, 0.1]])
    assert loss == pytest.approx(0.11146875, abs=1e-12)
    check_grads(params, [-7.375445395639e-03, -2.823811522171e-02, 1.010471557120e-01, -7.209549710229e-02,
                         -3.768859402734e-02, 9.933443855859e-02, 1.552526008794e+01, 2.392440337307e+00],
                [6.473552128410e-03, 3.872412153993e-02, 3.614832582377e-02, 5.324658229052e-02,
                 5.466287382318e-02, 5.867454351191e-02, 1.809370884585e-01, 6.932641033422e-02])


STMOD_OUT = [[0.125, 0.025, 0.075, 0.075, 0.05, 0.05, 0.1, 0.125, 0.1, 0.075],
             [0.05, 0.025, 0.075, 0.075, 0, 0.075, 0.025, 0.1, 0.05, 0.075]]


@pytest.mark.slow
def test_cifar_stds_net_stmod():
    model, params, x, y = cifar_net("merged", "stmod")
    out, loss = cifar_forward(model, x, y, train=True)
    close(out, STMOD_OUT)
    assert loss == pytest.approx(0.088125, abs=1e-12)
    check_grads(params, [2.461985832086e-03, 2.158067769697e-02, -4.911593197065e-02, -3.260001776673e-01,
                         -5.798512830799e-01, -5.340672807773e-01, -6.312762926636e+00, -8.750215386561e-01],
                [4.761167966428e-03, 3.356070882995e-02, 3.030965882241e-02, 4.307134229032e-02,
                 4.293131360161e-02, 4.531296482515e-02, 1.672656514208e-01, 4.368059519927e-02])


@pytest.mark.slow
def test_cifar_stds_net_st():
    model, params, x, y = cifar_net("merged", "st")
    out, _ = cifar_forward(model, x, y, train=True)
    close(out, STMOD_OUT)
    check_grads(params, [3.577090513868e-03, 1.694414354719e-02, -5.402131388975e-02, -2.669320344462e-01,
                         -4.708845352687e-01, -4.410465806402e-01, -4.714986709612e+00, -7.974616741319e-01])


# ------------------------------------------------------------------------------------------- 9.5 SEW-ResNet-18

def sew_net(kind: str, width: float, static_stem: bool = True):
    model = create_model("sew_resnet18", neuron=neuron_factory("neuron=if"), num_classes=1000,
                         input_shape=(3, 64, 64), static_stem=static_stem).double()
    method = STDS(reparameterisation=kind, flat_width=width, gradual=None, exclude=["fc"],
                  init_shift=kind != "identity")
    method.prepare_model(model)
    shifted_min = method.pruned_weights()[0].detach().abs().min().item()
    params = method.pruned_weights()
    assert len(params) == 20
    for k, w in enumerate(params):
        fill_(w, 300 + k, 2.5)
    fill_(model.fc.weight, 399, 1)
    torch.nn.init.constant_(model.fc.bias, 0.01)
    x = input_((2, 3, 64, 64), 21, 2)
    out = model(x.unsqueeze(0).expand(2, *x.shape))
    loss = RateCrossEntropy()(out, torch.tensor([5, 999]))
    loss.backward()
    return out.mean(0), loss.item(), params, model.fc.weight.grad.norm().item(), shifted_min


@pytest.mark.parametrize("static_stem", [True, False])
def test_sew_resnet18_identity(static_stem):
    logits, loss, params, fc_norm, _ = sew_net("identity", 1.0, static_stem)
    close(logits[:, :5], [[0.043662324, 0.427626534, 0.17304971, -0.775150109, 0.936214266],
                          [0.139689184, 0.503661972, 0.185917943, -0.414137931, 0.663902799]])
    assert logits.sum().item() == pytest.approx(3.440023089673e+01, abs=1e-8)
    assert loss == pytest.approx(6.900732258612, abs=1e-9)
    for k, total, norm in [(0, -3.7149790578e-01, 1.2679118693), (1, 4.9561069101, 1.3649857171),
                           (5, -1.2207302030e+01, 1.3775301773), (19, 7.8453467393, 2.7502778984)]:
        assert params[k].grad.sum().item() == pytest.approx(total, abs=1e-8)
        assert params[k].grad.norm().item() == pytest.approx(norm, abs=1e-8)
    assert fc_norm == pytest.approx(8.3777043144, abs=1e-8)


def test_sew_resnet18_stmod():
    logits, loss, params, fc_norm, shifted_min = sew_net("stmod", 0.05)
    assert shifted_min >= 0.05   # construction check: theta = sign(w)(|w| + D)
    close(logits[:, :5], [[0.109841117, 0.49883811, 0.437975154, -0.569977614, 1.067652416],
                          [0.62596026, 0.258654786, -0.326443775, -0.539195698, 0.691109441]])
    assert logits.sum().item() == pytest.approx(3.814033401265e+01, abs=1e-8)
    assert loss == pytest.approx(6.932750945330, abs=1e-9)
    for k, total, norm in [(0, -4.1863149287e-01, 1.5706123523), (1, 1.1433760261e+01, 2.2284783242),
                           (5, 2.3632694833e+01, 2.2661358826), (19, 1.9248183654e+01, 2.7664805875e+01)]:
        assert params[k].grad.sum().item() == pytest.approx(total, abs=1e-7)
        assert params[k].grad.norm().item() == pytest.approx(norm, abs=1e-8)
    assert fc_norm == pytest.approx(8.5403325371, abs=1e-8)
