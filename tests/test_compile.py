"""hardware.compile (issue 16): a compiled training step equals the eager one for every method, compiled and eager
checkpoints load into each other (the eager module's state_dict is saved: no `_orig_mod.` prefix; reuse/ strips
one from other files), mode=test reads a compiled run's checkpoint, the compile time is reported apart.
Most methods compile with backend aot_eager (dynamo's tracing and AOT autograd: what can break a method) to keep
CI short; BPTT also runs through inductor's code generation (needs a C++ compiler, as CI's image has)."""
from __future__ import annotations

import logging

import pytest
import torch
from spikingjelly.activation_based import functional

from snn_methods import build, run
from snn_methods.engine import checkpoints
from snn_methods.engine.compile import compile_model
from snn_methods.errors import ConfigError

COMPILE = ("hardware.compile=true", "hardware.compile_backend=aot_eager")


def one_step(cfg):
    """Loss of one training step and the parameters after it (pruning's after_step included)."""
    exp = build(cfg)
    x, y = next(iter(exp.data.train))
    before = [p.detach().clone() for p in exp.model.parameters()]
    functional.reset_net(exp.model)
    exp.optimizer.zero_grad(set_to_none=True)
    out = exp.rule.step(exp.model, exp.encoder(x), y, exp.loss_fn, exp.precision)
    exp.precision.step(exp.optimizer, exp.model.parameters(), None)
    exp.pruning.after_step(exp.model, exp.optimizer, 1)
    functional.reset_net(exp.model)
    return float(out.loss), before, [p.detach().clone() for p in exp.model.parameters()]


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [
    ("method=bptt",), ("method=bptt", "method.step_mode=s"), ("method=dsr",), ("method=asgl",), ("method=rate_bp",),
    ("method=grad_rewire",), ("method=deep_rewire",), ("method=soft_deep_rewire",), ("method=stds",),
    ("method=stds_grad_rewire",), ("method=bptt", "hardware.compile_backend=inductor"),
], ids=lambda o: "-".join(v.split("=")[-1] for v in o))
def test_compiled_step_equals_eager(tiny, overrides):
    loss, before, eager = one_step(tiny(*(o for o in overrides if not o.startswith("hardware."))))
    loss_c, _, compiled = one_step(tiny(*COMPILE, *overrides))
    assert loss_c == pytest.approx(loss, rel=1e-5, abs=1e-6)
    assert any(not torch.equal(a, b) for a, b in zip(before, eager)), "the step must change the weights"
    for a, b in zip(eager, compiled):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6), (a - b).abs().max()


@pytest.mark.slow
def test_compiled_and_eager_checkpoints_load_into_each_other(tiny, tmp_path):
    from snn_methods.reuse import evaluate_checkpoint

    whole = run(tiny("epochs=2"), run_dir=tmp_path / "whole")
    first = run(tiny("epochs=1", *COMPILE), run_dir=tmp_path / "cut")          # compiled epoch 1
    assert first["timing"]["compile"] and first["timing"]["compile_s"] > 0 and "graph_breaks" in first["timing"]
    assert not any(k.startswith("_orig_mod.") for k in checkpoints.load(tmp_path / "cut" / "last.pt")["model"])
    resumed = run(tiny("epochs=2", "resume=auto"), run_dir=tmp_path / "cut")    # eager epoch 2
    assert resumed["timing"] == {"compile": False, "compile_s": 0.0}
    assert resumed["final"]["test_loss"] == pytest.approx(whole["final"]["test_loss"], rel=1e-5)
    back = run(tiny("epochs=3", "resume=auto", *COMPILE), run_dir=tmp_path / "cut")   # compiled again
    assert back["epochs"] == 3
    evaluated = evaluate_checkpoint(tmp_path / "cut", ["hardware.compile=false"])
    assert evaluated["final"]["test_loss"] == pytest.approx(back["final"]["test_loss"], rel=1e-5)


def test_a_rule_that_calls_layers_one_by_one_stays_eager_with_one_line(caplog):
    class LayerByLayer:
        compiles_model = False
        compile_reason = "it runs the layers one by one"
    model = torch.nn.Linear(2, 2)
    with caplog.at_level(logging.WARNING, logger="snn_methods.engine.compile"):
        assert not compile_model(model, LayerByLayer())
    assert [r.getMessage() for r in caplog.records] == ["hardware.compile: LayerByLayer runs eagerly: it runs the "
                                                        "layers one by one"]
    assert model._compiled_call_impl is None


def test_dynamo_warnings_about_eager_pieces_become_one_line(caplog):
    compile_model(torch.nn.Linear(2, 2), object(), backend="eager")
    with caplog.at_level(logging.WARNING):
        logging.getLogger("torch._dynamo.convert_frame").warning(
            "torch._dynamo hit config.recompile_limit (8)\n   function: 'hook' (activity.py:31)\n   last reason: ...")
    assert [r.getMessage() for r in caplog.records] == [
        "hardware.compile: a piece runs eagerly: torch._dynamo hit config.recompile_limit (8) function: 'hook' "
        "(activity.py:31)"]


def test_bad_compile_switches_are_refused(tiny):
    for bad in ("hardware.compile_mode=fastest", "hardware.compile_backend=tvm", "hardware.compile=maybe"):
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            build(tiny(bad))
