"""The GPU code path, checked on the CPU (issue 17): autocast through the suite's own autograd Functions, the
loss scaler across several optimizers, lazy neuron parameters under autocast, a process group of one, and the
check script's dry run."""
from __future__ import annotations

import socket
import sys

import pytest
import torch

from snn_methods import build, compose
from snn_methods.precision import Precision

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

CASES = [(["method=dsr", "neuron=dsr_if", "scheduler=none"]), (["method=dsr", "neuron=dsr_lif", "scheduler=none"]),
         (["method=asgl"]),
         (["method=rate_bp", "neuron=ratebp_lif"]), (["method=rate_bp", "neuron=ratebp_lif", "method.step_mode=s"]),
         (["method=stds", "epochs=100"])]


def _exp(overrides, dtype=None):
    amp = ["hardware.amp=true", f"hardware.amp_dtype={dtype}"] if dtype else []
    return build(compose(["debug=tiny", "dataset=synthetic", "dataset.shape=[3,8,8]", "hardware=cpu", "batch_size=8",
                          *amp, *overrides]))


def _grads(exp, x, y):
    from spikingjelly.activation_based import functional

    torch.manual_seed(0)
    functional.reset_net(exp.model)
    exp.optimizer.zero_grad(set_to_none=True)
    out = exp.rule.step(exp.model, exp.encoder(x), y, exp.loss_fn, exp.precision)
    return out, {n: p.grad for n, p in exp.model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("overrides", CASES, ids=lambda o: " ".join(o))
def test_custom_functions_under_cpu_bf16_autocast_give_float32_gradients_near_the_float32_ones(overrides):
    """DSR's spike Functions, ASGL's hybrid spike, rate-BP's rate op and BN, STDS's straight-through ReLU: under
    bf16 autocast the gradients keep the parameters' dtype, are finite and point where the float32 ones do."""
    ref = _exp(overrides)
    x, y = next(iter(ref.data.train))
    _, g32 = _grads(ref, x, y)
    amp = _exp(overrides, "bfloat16")
    amp.model.load_state_dict(ref.model.state_dict())
    out, g16 = _grads(amp, x, y)
    assert torch.isfinite(out.loss)
    assert set(g16) == set(g32)
    flat32 = torch.cat([g.flatten() for g in g32.values()])
    flat16 = torch.cat([g16[n].flatten() for n in g32])
    for n, p in amp.model.named_parameters():
        if n in g16:
            assert g16[n].dtype == p.dtype == torch.float32, n
    assert torch.isfinite(flat16).all()
    cos = torch.nn.functional.cosine_similarity(flat32, flat16, dim=0)
    assert cos > 0.9, f"bf16 gradients point elsewhere (cosine {cos:.3f})"


def test_lazy_neuron_widths_are_float32_when_first_seen_under_autocast():
    from snn_methods.asgl.surrogate import HybridSpike

    spike = HybridSpike("mns_rec", 2.0, granularity="channel")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        spike(torch.randn(2, 3, 4, 4, dtype=torch.bfloat16))
    assert getattr(spike, spike.param_name).dtype == torch.float32


def _scaler_cpu() -> bool:
    try:
        torch.amp.GradScaler("cpu")
        return True
    except Exception:   # noqa: BLE001
        return False


@pytest.mark.skipif(not _scaler_cpu(), reason="this torch has no CPU GradScaler")
@pytest.mark.parametrize("overrides", [["method=asgl", "model=asgl_resnet18", "model.widths=[4,4,8,8]"],
                                       ["method=grad_rewire"], ["method=deep_rewire"], ["method=stds_grad_rewire"]],
                         ids=lambda o: o[0])
def test_the_loss_scaler_unscales_and_skips_every_part_of_a_split_or_chained_optimizer(overrides):
    """fp16 AMP's GradScaler sees one optimizer: ASGL's split (SGD + Adam for the widths) and the pruning chains
    must expose all their parameters, so that every gradient is unscaled and an inf skips every part."""
    exp = _exp(overrides, "float16")
    assert exp.precision.scaler.is_enabled()
    x, y = next(iter(exp.data.train))
    _grads(exp, x, y)
    params = [p for p in exp.model.parameters() if p.grad is not None]
    grouped = {id(p) for g in exp.optimizer.param_groups for p in g["params"]}
    assert all(id(p) in grouped for p in params if p.requires_grad), "a parameter the scaler never unscales"
    scaled = {id(p): p.grad.clone() for p in params}
    scale = exp.precision.scaler.get_scale()
    exp.precision.scaler.unscale_(exp.optimizer)
    for p in params:
        torch.testing.assert_close(p.grad * scale, scaled[id(p)], rtol=1e-6, atol=0)
    # an inf gradient: no part steps, the scale backs off
    exp2 = _exp(overrides, "float16")
    _grads(exp2, x, y)
    before = {n: p.detach().clone() for n, p in exp2.model.named_parameters()}
    next(p for p in exp2.model.parameters() if p.grad is not None).grad.view(-1)[0] = float("inf")
    scale2 = exp2.precision.scaler.get_scale()
    exp2.precision.step(exp2.optimizer, exp2.model.parameters(), None)
    assert exp2.precision.scaler.get_scale() < scale2
    for n, p in exp2.model.named_parameters():
        assert torch.equal(p.detach(), before[n]), f"{n} changed although the step was skipped"


def test_precision_uses_a_scaler_for_float16_only():
    assert Precision(torch.device("cpu"), True, "float16").scaler.is_enabled() == _scaler_cpu()
    assert not Precision(torch.device("cpu"), True, "bfloat16").scaler.is_enabled()


def test_a_process_group_of_one_runs_the_collectives_and_tears_down(monkeypatch):
    import torch.distributed as td
    from omegaconf import OmegaConf

    from snn_methods.engine import distributed

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for k, v in dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)).items():
        monkeypatch.setenv(k, v)
    hw = OmegaConf.create({"distributed": True, "dist_backend": "gloo", "group_of_one": True})
    dist, _ = distributed.setup(hw, torch.device("cpu"))
    try:
        assert dist.enabled and dist.owns_group and td.is_initialized()
        assert dist.sum([1.0, 2.0]) == [1.0, 2.0]
        inner, _ = distributed.setup(hw, torch.device("cpu"))      # build() joins the same group
        assert inner.enabled and not inner.owns_group
        model = dist.wrap(torch.nn.Linear(2, 2), torch.device("cpu"))
        assert isinstance(model, torch.nn.parallel.DistributedDataParallel)
    finally:
        dist.close()
    assert not td.is_initialized()
    alone, _ = distributed.setup(OmegaConf.create({"distributed": True}), torch.device("cpu"))
    assert not alone.enabled


def test_the_check_script_dry_run_records_pass_fail_and_skip(tmp_path):
    import gpu_check

    code = gpu_check.main(["--device", "cpu", "--tiny", "--only", "methods", "--methods", "rate_bp m",
                           "--precisions", "fp32,bf16", "--out", str(tmp_path)])
    import json

    items = json.loads((tmp_path / "gpu_check.json").read_text())["items"]
    got = {i["name"]: i for i in items}
    assert code == 0, [i["reason"] for i in items if i["status"] == "fail"]
    assert got["rate_bp m fp32"]["status"] == "pass" and got["rate_bp m fp32"]["figures"]["grad_rel_err_max"] == 0.0
    assert got["rate_bp m bf16"]["figures"]["loss"][-1] < got["rate_bp m bf16"]["figures"]["loss"][0]
    assert "| methods | rate_bp m bf16 | pass |" in (tmp_path / "gpu_check.md").read_text()


def test_a_failing_item_is_recorded_and_the_others_still_run():
    import gpu_check

    report = gpu_check.Report(budget_s=1e9)
    report.run("s", "bad", lambda: 1 / 0)
    report.run("s", "skipped", lambda: (_ for _ in ()).throw(gpu_check.Skip("not here")))
    report.run("s", "good", lambda: {"x": 1.0})
    assert [(i.name, i.status) for i in report.items] == [("bad", "fail"), ("skipped", "skip"), ("good", "pass")]
    assert report.items[0].reason.startswith("ZeroDivisionError")


@pytest.mark.slow
def test_every_configuration_of_the_full_gpu_check_composes_and_validates():
    """The GPU run uses full sizes the CPU dry run does not build: a key or value typo must fail here, not there."""
    import gpu_check
    from snn_methods import compose
    from snn_methods.config import validate

    full = gpu_check.FULL
    for _, overrides in gpu_check.METHODS:
        validate(gpu_check.compose_cfg(overrides + gpu_check.hardware_overrides("cuda", "fp16"), full))
        validate(gpu_check.compose_cfg(overrides + gpu_check.hardware_overrides("cpu", "fp32"), full))
    for overrides in gpu_check.FIGURE_RUNS:
        validate(gpu_check.compose_cfg([f"batch_size={full.fig_batch}", *overrides, f"T={max(full.fig_T)}",
                                        *gpu_check.hardware_overrides("cuda", "fp32")], full))
    cfg = compose(gpu_check.ddp_overrides("cuda", full))
    validate(cfg)
    assert cfg.hardware.group_of_one and cfg.hardware.distributed
