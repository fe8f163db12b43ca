"""The pruning optimizers' in-place step (issue 16): the same numbers as the originals' step (re-stated in
bench/optimizer_step.py, itself checked against the spec's golden values here), at most one whole-tensor
temporary per parameter and step, and the bench script's cases run."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from snn_methods.pruning import DeepRewiring, GradRewiring, stds
from test_pruning_golden import F64, GRADS, LONG, P0, close

_spec = importlib.util.spec_from_file_location("optimizer_step",
                                               Path(__file__).parent.parent / "bench" / "optimizer_step.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

# (suite, original) with the same settings; prior centre mu = -0.21 is inside the strengths' range (both signs of
# theta - mu occur), weight decay once, soft Deep R with noise and a floor, hard Deep R with random rewiring.
PAIRS = {
    "gradr": (lambda ps: GradRewiring(ps, lr=0.01, alpha=0.5, s=0.55),
              lambda ps: bench.OriginalGradRewiring(ps, lr=0.01, alpha=0.5, s=0.55)),
    "gradr_no_prior": (lambda ps: GradRewiring(ps, lr=0.05, alpha=1e-9, s=0.55, weight_decay=0.01),
                       lambda ps: bench.OriginalGradRewiring(ps, lr=0.05, alpha=1e-9, s=0.55, weight_decay=0.01)),
    "deepr": (lambda ps: DeepRewiring(ps, lr=0.02, l1=0.1, max_s=0.3, temperature=0.05),
              lambda ps: bench.OriginalDeepRewiring(ps, lr=0.02, l1=0.1, max_s=0.3, temperature=0.05)),
    "deepr_noise": (lambda ps: DeepRewiring(ps, lr=0.02, l1=0.1, max_s=0.99, temperature=0.05),
                    lambda ps: bench.OriginalDeepRewiring(ps, lr=0.02, l1=0.1, max_s=0.99, temperature=0.05)),
    "deepr_rewire_all": (lambda ps: DeepRewiring(ps, lr=0.02, l1=0.1, max_s=0.0),
                         lambda ps: bench.OriginalDeepRewiring(ps, lr=0.02, l1=0.1, max_s=0.0)),
    "soft_deepr": (lambda ps: DeepRewiring(ps, lr=0.02, l1=0.1, max_s=0.9, temperature=0.05, soft=True),
                   lambda ps: bench.OriginalDeepRewiring(ps, lr=0.02, l1=0.1, max_s=0.9, temperature=0.05,
                                                         soft=True)),
    "stds_adam": (lambda ps: stds.STDSAdam(ps, lr=0.01, alpha_gr=0.5),
                  lambda ps: bench.OriginalSTDSAdam(ps, lr=0.01, alpha_gr=0.5)),
    "stds_sgd": (lambda ps: stds.STDSSGD(ps, lr=0.05, momentum=0.9, alpha_gr=0.5),
                 lambda ps: bench.OriginalSTDSSGD(ps, lr=0.05, momentum=0.9, alpha_gr=0.5)),
}


def run(make, p0, grads, seed=0):
    p = torch.nn.Parameter(p0.clone())
    opt = make([p])
    torch.manual_seed(seed)
    for g in grads:
        p.grad = g
        opt.step()
    return p.detach(), opt.state[p]


def steps(make, grads=GRADS):
    """The weights after each step of `make` on the golden data (spec pruning.md 9.1)."""
    p, out = torch.nn.Parameter(torch.tensor(P0, dtype=F64)), []
    opt = make([p])
    for g in grads:
        p.grad = torch.tensor(g, dtype=F64)
        opt.step()
        out.append(p.detach().clone())
    return out


def test_the_bench_reference_reproduces_the_golden_values():
    close(steps(lambda ps: bench.OriginalGradRewiring(ps, lr=0.01, alpha=0.5, s=0.55))[-1],
          [0.400261968590492, -0.19195676771484227, -0, 0, -0, 0.12379782583058258, -0, 0])
    close(steps(lambda ps: bench.OriginalDeepRewiring(ps, lr=0.01, l1=0.1, max_s=0.99), LONG)[-1],
          [0.381876197023, -0.212413002794, 0, 0, 0, 0.171544830846, 0, 0])
    close(steps(lambda ps: bench.OriginalDeepRewiring(ps, lr=0.01, l1=0.1, max_s=0.9, soft=True), LONG)[-1],
          [0.381876197023, -0.212413002794, 0, 0, 0, 0.171544830846, 0, 0])
    hist = steps(lambda ps: bench.OriginalDeepRewiring(ps, lr=0.05, l1=0.1, max_s=0.0))
    assert all(w[k] == 1e-8 for w in hist for k in (2, 3, 4, 6, 7))
    close(steps(lambda ps: bench.OriginalSTDSAdam(ps, lr=0.05, alpha_gr=0.5))[-1],
          [0.40013971283010646, -0.15861370845185765, 0, 0, 0, 0.21781899903055912, 0, 0])
    close(steps(lambda ps: bench.OriginalSTDSSGD(ps, lr=0.1, momentum=0.9, alpha_gr=0.5))[-1],
          [0.35590000000000005, -0.11979999999999998, -0.02830000000000002, -0.13749999999999996, -0.0496,
           0.09410000000000003, 0.16660000000000003, -0.0015500000000000166])


FLOAT64, FLOAT32 = (torch.float64, 1e-12, 1e-15), (torch.float32, 1e-6, 1e-6)


# Random rewiring (deepr) only in float32: see the docstring
@pytest.mark.parametrize("name,dtype,rtol,atol", [(name, *tol) for name in PAIRS for tol in (FLOAT64, FLOAT32)
                                                  if not (name == "deepr" and tol is FLOAT64)])
def test_the_in_place_step_equals_the_originals(name, dtype, rtol, atol):
    """Random weights (a fifth exactly 0) and gradients, 25 steps; the random draws (noise, rewiring) come from the
    same seeded generator in the same order, so they match too. Random rewiring only in float32: the original
    draws it in float32 whatever the weights' dtype (its mask is `.float()`), which takes other random numbers."""
    gen = torch.Generator().manual_seed(1)
    p0 = torch.randn(40, 30, generator=gen, dtype=dtype) * 0.2
    p0[torch.rand(40, 30, generator=gen) < 0.2] = 0
    grads = [torch.randn(40, 30, generator=gen, dtype=dtype) * 0.3 for _ in range(25)]
    make_suite, make_original = PAIRS[name]
    (w, state), (w_ref, state_ref) = run(make_suite, p0, grads), run(make_original, p0, grads)
    assert torch.allclose(w, w_ref, rtol=rtol, atol=atol), (w - w_ref).abs().max()
    assert torch.equal(w == 0, w_ref == 0) and torch.equal(w == 1e-8, w_ref == 1e-8)   # pruned and rewired alike
    if "strength" in state:
        assert torch.allclose(state["strength"], state_ref["strength"], rtol=rtol, atol=atol)
    if name == "deepr" and dtype is torch.float32:
        rewired = (w == 1e-8).sum()
        assert 0 < rewired < (w.abs() < 1e-7).sum(), "the case must rewire some, not all, dormant weights"


class FreshTensors(TorchDispatchMode):
    """Counts the ops whose result is a new tensor with `numel` elements (a whole-tensor temporary)."""

    def __init__(self, numel: int):
        super().__init__()
        self.numel, self.count = numel, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in torch.utils._pytree.tree_leaves((args, kwargs))
                  if isinstance(t, torch.Tensor)}
        if isinstance(out, torch.Tensor) and out.numel() == self.numel \
                and out.untyped_storage().data_ptr() not in inputs:
            self.count += 1
        return out


@pytest.mark.parametrize("name,suite_most,original_least", [
    ("gradr", 1, 6), ("deepr", 1, 4), ("soft_deepr", 1, 7), ("stds_adam", 1, 3), ("stds_sgd", 1, 2)])
def test_one_whole_tensor_temporary_per_step(name, suite_most, original_least):
    """The suite's step allocates at most the Adam denominator (or STDS's sign before the step); the originals'
    allocate several temporaries. Counted after two warm-up steps (the first allocates the state)."""
    counts = []
    for make in PAIRS[name]:
        p = torch.nn.Parameter(torch.randn(50, 20))
        opt = make([p])
        for _ in range(2):
            p.grad = torch.randn(50, 20)
            opt.step()
        with FreshTensors(p.numel()) as fresh:
            opt.step()
        counts.append(fresh.count)
    assert counts[0] <= suite_most and counts[1] >= original_least, counts


def test_the_bench_runs_every_case(capsys):
    for name in bench.CASES:
        r = bench.bench_case(name, [torch.Size([16, 8]), torch.Size([8, 4, 3, 3])], pairs=2)
        assert r["suite_ms"] > 0 and r["original_ms"] > 0 and r["ratio"] > 0
    assert bench.parameter_shapes() and sum(s.numel() for s in bench.parameter_shapes()) == 36_715_264
