"""DSR neurons against the spec's golden values (dsr_asgl.md F.1, F.2: from the original code) and its pitfalls (E)."""
from __future__ import annotations

import pytest
import torch

from snn_methods.errors import ConfigError
from snn_methods.neurons.dsr import DSRIFNode, DSRLIFNode, spike_representation

TOL = dict(rtol=0, atol=1e-6)
pytestmark = pytest.mark.usefixtures("one_thread")


def run(neuron, x, g):
    x = x.clone().requires_grad_(True)
    y = neuron(x)
    y.backward(g)
    return y.detach(), x.grad, neuron.v_threshold.grad


def if_node(**kw):
    return DSRIFNode(**{"v_threshold": 1.0, "alpha": 0.5, "v_threshold_bound": 0.01, **kw})


def lif_node(**kw):
    return DSRLIFNode(**{"v_threshold": 0.3, "alpha": 0.3, "v_threshold_bound": 0.0005, "tau": 1.0, "delta_t": 0.05, **kw})


# ------------------------------------------------------------------------------------------------ F.1 IF
def test_if_a_one_neuron():
    y, dx, dv = run(if_node(), torch.full((4, 1), 0.3), torch.ones(4, 1))
    torch.testing.assert_close(y.flatten(), torch.tensor([0.0, 1.0, 0.0, 0.0]), **TOL)
    torch.testing.assert_close(dx.flatten(), torch.ones(4), **TOL)
    assert float(dv) == 0.0


IF_B_X = torch.tensor([[-0.2, 0.9, 0.0, 1.5, 1.0],
                       [0.1, 0.2, 0.0, 1.5, 1.0],
                       [-0.1, 0.7, 0.0, 1.5, 1.0],
                       [0.0, 0.4, 0.0, 1.5, 1.0]])
IF_B_G = 0.5 * torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]).expand(4, 5)


def test_if_b_masks_are_inclusive_and_the_threshold_gradient_is_saturation_only():
    y, dx, dv = run(if_node(), IF_B_X, IF_B_G)
    torch.testing.assert_close(y, torch.tensor([[0, 1, 0, 1, 1], [0, 0, 0, 1, 1], [0, 1, 0, 1, 1], [0, 0, 0, 1, 1]],
                                               dtype=torch.float32), **TOL)
    # a < 0 -> 0; a = 0 passes; a = 1.5 > V -> 0; a = V passes (inclusive); the same value at every step
    torch.testing.assert_close(dx, torch.tensor([0.0, 1.0, 1.5, 0.0, 2.5]).expand(4, 5), **TOL)
    torch.testing.assert_close(dv, torch.tensor(8.0), **TOL)   # neuron 4 only (a = V is not saturated): G = 4 * 2


def test_if_b_imagenet_threshold_gradient_factor():
    _, dx, dv = run(if_node(v_threshold_grad_scale=0.001), IF_B_X, IF_B_G)
    torch.testing.assert_close(dv, torch.tensor(0.008), **TOL)
    torch.testing.assert_close(dx, torch.tensor([0.0, 1.0, 1.5, 0.0, 2.5]).expand(4, 5), **TOL)   # inputs unaffected


def test_if_bound_is_an_in_place_projection_and_the_threshold_still_gets_its_gradient():
    neuron = if_node(v_threshold=0.005)
    _, _, dv = run(neuron, torch.ones(8, 20), torch.ones(8, 20))
    assert float(neuron.v_threshold.detach()) == pytest.approx(0.01, abs=1e-9)      # the stored parameter was overwritten
    torch.testing.assert_close(dv, torch.tensor(160.0), **TOL)             # 20 saturated elements x G = 8


def test_clamp_mode_is_spikingjellys_differentiable_clamp():
    neuron = if_node(v_threshold=0.005, v_threshold_bound_mode="clamp")
    y, _, dv = run(neuron, torch.ones(8, 20), torch.ones(8, 20))
    assert float(neuron.v_threshold.detach()) == pytest.approx(0.005)                # parameter left below the bound
    assert float(dv) == 0.0                                                 # ... and stuck there: no gradient
    assert float(y.max()) == pytest.approx(0.01)                            # the bound is what the forward uses


@pytest.mark.parametrize("c,rate", [(0.3, 0.3), (2.0, 2.1), (5.9, 6.0), (7.0, 6.0)])
def test_if_rate(c, rate):
    neuron = DSRIFNode(v_threshold=6.0, alpha=0.5, v_threshold_bound=0.01)
    with torch.no_grad():
        out = neuron(torch.full((20, 1), c))
    assert float(spike_representation(neuron, out).mean(0)) == pytest.approx(rate, abs=1e-6)


def test_if_is_bit_identical_to_spikingjellys_dsr_if_node():
    """SpikingJelly's DSRIFNode matches the original (spec D.2): same forward, input and threshold gradients."""
    from spikingjelly.activation_based.neuron import DSRIFNode as SJNode

    torch.manual_seed(0)
    x, g = torch.randn(8, 4, 50) * 1.5 + 0.5, torch.randn(8, 4, 50)
    ours = if_node(v_threshold=1.2)
    theirs = SJNode(T=8, v_threshold=1.2, alpha=0.5, v_threshold_lower_bound=0.01)
    for a, b in zip(run(ours, x, g), run(theirs, x, g)):
        assert torch.equal(a, b)


# ------------------------------------------------------------------------------------------------ F.2 LIF
def test_lif_c_strict_mask_and_delta_t_threshold_gradient():
    neuron = lif_node()
    y, dx, dv = run(neuron, torch.tensor([-1.0, 3.0, 8.0, 0.0]).expand(4, 4), torch.ones(4, 4))
    torch.testing.assert_close(y, torch.tensor([[0, 6, 6, 0], [0, 0, 6, 0], [0, 6, 6, 0], [0, 0, 6, 0]],
                                               dtype=torch.float32), **TOL)
    torch.testing.assert_close(dx, torch.tensor([0.0, 1.0, 0.0, 0.0]).expand(4, 4), **TOL)   # input 0 -> 0 (strict)
    torch.testing.assert_close(dv, torch.tensor(0.2), **TOL)                                   # 4 x 0.05
    torch.testing.assert_close(neuron.time_weights(4), torch.tensor([0.86070798, 0.90483742, 0.95122942, 1.0]), **TOL)


def test_lif_d_gradient_is_uniform_over_time_though_the_statistics_are_weighted():
    neuron = lif_node()
    g = torch.arange(1.0, 5.0).view(4, 1).expand(4, 2)
    y, dx, dv = run(neuron, torch.tensor([3.0, 7.0]).expand(4, 2), g)
    torch.testing.assert_close(y, torch.tensor([[6.0, 6.0], [0.0, 6.0], [6.0, 6.0], [0.0, 6.0]]), **TOL)
    torch.testing.assert_close(dx, torch.tensor([10.2498231 / 4, 0.0]).expand(4, 2), **TOL)   # G_w / (tau T)
    torch.testing.assert_close(dv, torch.tensor(0.5124912), **TOL)
    torch.testing.assert_close(spike_representation(neuron, y).mean(0), torch.tensor([2.925015, 6.0]), **TOL)


@pytest.mark.parametrize("c,rate", [(1.0, 1.248134), (3.0, 2.925015), (5.9, 6.0), (7.0, 6.0)])
def test_lif_weighted_rate(c, rate):
    neuron = lif_node()
    with torch.no_grad():
        out = neuron(torch.full((20, 1), c))
    assert float(spike_representation(neuron, out).mean(0)) == pytest.approx(rate, abs=1e-6)


def test_lif_backward_with_tau_other_than_one_follows_the_formulas():
    """Spec A.1.4 for tau != 1 (F.2 has tau = 1 only): dx_t = G_w / (tau T) where 0 < a_w < tau V / dt (HEAD's mask,
    not the pre-2022-05-08 V / dt), dV = dt * sum of G_w where a_w > tau V / dt; every step gets the same dx."""
    tau, dt, v, T = 2.0, 0.1, 0.3, 6
    torch.manual_seed(0)
    x = torch.rand(T, 400) * 10 - 2                 # a_w spans < 0, (0, tau V / dt = 6) and > 6; V / dt = 3 matters
    g = torch.randn(T, 400)
    _, dx, dv = run(lif_node(tau=tau, delta_t=dt), x, g)
    w = torch.tensor([torch.exp(torch.tensor(-(T * dt - t * dt) / tau)).item() for t in range(1, T + 1)]).view(T, 1)
    a_w = (w * x).sum(0) / w.sum()
    G_w = T * (w * g).sum(0) / w.sum()
    upper = tau * v / dt
    passes = (a_w > 0) & (a_w < upper)
    assert passes.any() and (a_w > upper).any() and ((a_w > v / dt) & (a_w < upper)).any()
    torch.testing.assert_close(dx, (G_w * passes / (tau * T)).expand(T, -1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(dv, dt * (G_w * (a_w > upper)).sum(), rtol=1e-5, atol=1e-5)


def _lif_reference(x, one_minus_beta, beta, v=0.3, alpha=0.3, dt=0.05):
    """The spec's A.1.2 loop, with the decay constants given."""
    u, out = torch.zeros_like(x[0]), []
    for t in range(x.shape[0]):
        u = beta * u + one_minus_beta * x[t]
        s = (u >= alpha * torch.tensor(v)).float() * torch.tensor(v)
        u = u - s
        out.append(s / dt)
    return torch.stack(out)


def test_lif_beta_is_float32_arithmetic():
    beta32 = torch.exp(-0.05 / torch.tensor(1.0))
    assert float(1 - beta32) == 0.04877054691314697                     # the value the original integrates with
    import math
    beta64 = math.exp(-0.05)
    torch.manual_seed(0)
    x = 3 + 3 * torch.randn(20, 200_000)
    ours = lif_node()(x)
    assert torch.equal(ours, _lif_reference(x, 1 - beta32, beta32))
    flipped = int((ours != _lif_reference(x, torch.tensor(1 - beta64), torch.tensor(beta64))).sum())
    assert flipped > 0        # a float64 beta is not the original (about 1 spike in 2e5 flips, spec F.2: ~20 here)


# ------------------------------------------------------------------------------------------------ pitfalls (E)
def test_emits_and_subtracts_v_though_it_fires_at_alpha_v():
    neuron = DSRIFNode(v_threshold=2.0, alpha=0.5, v_threshold_bound=0.01)
    y = neuron(torch.tensor([[1.0], [0.0], [1.5], [0.5]]))
    # u: 1 >= 1 fires (emits 2, u -> -1); -1; 0.5; 1.0 fires again
    torch.testing.assert_close(y.flatten(), torch.tensor([2.0, 0.0, 0.0, 2.0]), **TOL)


def test_membrane_starts_from_zero_at_every_call():
    neuron = lif_node()
    x = torch.full((3, 4), 4.0)
    assert torch.equal(neuron(x), neuron(x))


def test_threshold_gradient_is_summed_over_the_batch():
    x = torch.full((4, 6), 2.0)          # every element saturated (a = 2 > V = 1), G = 4 each
    _, _, dv = run(if_node(), x, torch.ones(4, 6))
    torch.testing.assert_close(dv, torch.tensor(24.0), **TOL)


def test_ddp_sum_switch_scales_by_world_size_without_collectives(monkeypatch):
    import snn_methods.neurons.dsr as dsr

    monkeypatch.setattr(dsr, "world_size", lambda: 4)
    _, dx, dv = run(if_node(), IF_B_X, IF_B_G)
    _, dx_sum, dv_sum = run(if_node(v_threshold_grad_sum_ranks=True), IF_B_X, IF_B_G)
    torch.testing.assert_close(dv, torch.tensor(8.0), **TOL)          # default: DDP's plain averaging
    torch.testing.assert_close(dv_sum, torch.tensor(32.0), **TOL)     # the original's sum over 4 ranks
    assert torch.equal(dx, dx_sum)


def test_fixed_threshold_gets_no_gradient_but_is_still_bounded():
    neuron = if_node(v_threshold=0.001, v_threshold_trainable=False)
    y, dx, dv = run(neuron, IF_B_X, IF_B_G)
    assert dv is None and not neuron.v_threshold.requires_grad and float(neuron.v_threshold.detach()) == pytest.approx(0.01)


def test_multi_step_shapes_and_any_trailing_dims():
    x = torch.randn(5, 2, 3, 4, 4)
    for neuron in (if_node(), lif_node()):
        assert neuron(x).shape == x.shape
    with pytest.raises(ValueError, match=r"\[T, N, ...\]"):
        if_node()(torch.randn(3))


def test_broadcast_input_from_the_direct_encoder():
    """A static image repeated over T as an expanded view gets the summed gradient of every step."""
    image = torch.randn(4, 6).requires_grad_(True)
    y = if_node()(image.unsqueeze(0).expand(5, 4, 6))
    y.sum().backward()
    dense = torch.randn(4, 6).copy_(image.detach()).requires_grad_(True)
    if_node()(dense.unsqueeze(0).repeat(5, 1, 1)).sum().backward()
    torch.testing.assert_close(image.grad, dense.grad)


@pytest.mark.parametrize("kwargs,message", [
    (dict(v_threshold_bound=0.0), r"v_threshold_bound=0.0 is invalid: must be a number > 0"),
    (dict(v_threshold_bound=-1e-3), r"v_threshold_bound=-0.001 is invalid"),
    (dict(alpha=0.0), r"alpha=0.0 is invalid: must be a number in \(0, 1\]"),
    (dict(alpha=1.2), r"alpha=1.2 is invalid"),
    (dict(delta_t=0.0), r"delta_t=0.0 is invalid: must be a number > 0"),
    (dict(delta_t=-0.05), r"delta_t=-0.05 is invalid"),
    (dict(v_threshold_bound_mode="soft"), r"project or clamp"),
])
def test_bad_arguments_are_one_clear_line(kwargs, message):
    with pytest.raises(ConfigError, match=message) as info:
        lif_node(**kwargs)
    assert "\n" not in str(info.value)
    DSRLIFNode(alpha=1.0)            # alpha = 1 is allowed (fire at V)


@pytest.mark.parametrize("overrides,message", [
    (["neuron.v_threshold_bound=0"], r"^neuron.v_threshold_bound=0 is invalid: must be a number > 0"),
    (["neuron.v_threshold_bound=-0.5", "neuron=dsr_if"], r"^neuron.v_threshold_bound=-0.5 is invalid"),
    (["neuron.alpha=1.01"], r"^neuron.alpha=1.01 is invalid: must be a number in \(0, 1\]"),
    (["neuron.alpha=0", "neuron=dsr_if"], r"^neuron.alpha=0 is invalid"),
    (["neuron.delta_t=0"], r"^neuron.delta_t=0 is invalid: must be a number > 0"),
    (["neuron.tau=-1"], r"^neuron.tau=-1 is invalid: must be a number > 0"),
    (["neuron=dsr_if", "+neuron.delta_t=0.05"], r"^neuron.delta_t is not an argument of DSRIFNode"),
    (["neuron=lif"], r"^method=dsr needs a DSR neuron .* choose neuron=dsr_lif or neuron=dsr_if"),
])
def test_bad_config_values_stop_before_training(tiny, overrides, message):
    from snn_methods import build

    with pytest.raises(ConfigError, match=message) as info:
        build(tiny("method=dsr", *overrides))
    assert "\n" not in str(info.value)


def test_dsr_lif_accepts_tau_up_to_one_where_spikingjelly_needs_more(tiny):
    from snn_methods import build

    build(tiny("method=dsr", "neuron.tau=0.5", "model=dsr_mlp"))
    with pytest.raises(ConfigError, match=r"neuron.tau=1.0 is invalid: must be a number > 1"):
        build(tiny("neuron.tau=1.0"))                      # SpikingJelly's LIF keeps its rule
