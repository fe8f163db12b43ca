"""Time of one pruning-optimizer step on the 6-conv-2-FC parameter set (model cifar10_6c2f: its 8 prunable weights,
36,715,264 elements), this suite's optimizers against a re-statement of the original implementations' step.

    OMP_NUM_THREADS=1 nice -n 5 python bench/optimizer_step.py [--pairs 9] [--cases gradr,deepr] [--json out.json]

The `Original*` classes below re-state, operation by operation, the step of the originals (Gradient-Rewiring's
`gradrewire.py` / `deeprewire.py`, STDS's `CIFAR10/optim.py` / `ImageNet/optim.py`, spec pruning.md 3.1-3.5):
their temporaries (`sign * strength`, `exp_avg * active`, `(strength - mu).sign()`, the `1 - active` and
`.float()` copies, `p.data.clone()`), and the rebinding `p.data = ...` of a new tensor. They are the reference
the figures compare against; tests/test_optimizer_speed.py checks that they reproduce the spec's golden values and
that the suite's optimizers give the same numbers.

Method: float32, one thread; the two optimizers hold separate copies of the same weights, moments and gradients;
after 2 warm-up steps each (the first allocates the state), steps alternate (original, suite, suite, original, ...)
and each pair gives a ratio suite / original of process CPU time (user + system: page faults of fresh
allocations count). Printed: median step time of each and the median of the pair ratios. Figures only: nothing
here asserts a speed.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from snn_methods.pruning import DeepRewiring, GradRewiring, stds  # noqa: E402


# ------------------------------------------------------------------------------------ the originals' step

def _adam_moments(opt: torch.optim.Optimizer, p: torch.Tensor, group: dict) -> tuple[torch.Tensor, float]:
    """The originals' Adam part (all four classes share it): moments, then d = sqrt(v) / sqrt(1 - beta2^t) + eps
    as a new tensor (two allocations), and the bias-corrected step size."""
    state = opt.state[p]
    beta1, beta2 = group["betas"]
    grad = p.grad
    state["step"] += 1
    if group["weight_decay"] != 0:
        grad = grad.add(p, alpha=group["weight_decay"])
    state["exp_avg"].mul_(beta1).add_(grad, alpha=1 - beta1)
    state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2 ** state["step"])).add_(group["eps"])
    return denom, group["lr"] / (1 - beta1 ** state["step"])


def _fresh_adam_state(p: torch.Tensor) -> dict:
    return {"step": 0, "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}


class OriginalGradRewiring(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, alpha=1e-3, s=0.95):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, alpha=alpha, s=s))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state.update(_fresh_adam_state(p), sign=torch.sign(p), strength=torch.abs(p))
                    if group["alpha"] > group["eps"]:
                        state["centre"] = math.log(2 * (1 - group["s"])) / group["alpha"]
                denom, step_size = _adam_moments(self, p, group)
                sign, strength = state["sign"], state["strength"]
                hidden = sign * strength
                hidden.addcdiv_(state["exp_avg"], denom, value=-step_size)
                if group["alpha"] > group["eps"]:
                    hidden.addcmul_((strength - state["centre"]).sign(), sign, value=-group["alpha"] * step_size)
                state["strength"] = hidden * sign
                p.data = state["strength"].clamp(min=0.0).mul(sign)


class OriginalDeepRewiring(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, temperature=0.0, l1=1e-5,
                 max_s=0.99, soft=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, T=temperature, l1=l1,
                                      max_s=max_s, soft=soft))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state.update(_fresh_adam_state(p), sign=torch.sign(p))
                    if group["soft"]:
                        state["strength"] = torch.abs(p)
                        if group["l1"] > 0 and group["max_s"] < 1:
                            state["strength_min"] = (-(0.5 * group["T"] ** 2 * group["max_s"])
                                                     / (group["l1"] * (1 - group["max_s"])))
                    else:
                        state["numel"] = p.numel()
                    state["active"] = (p != 0.0).float()
                denom, step_size = _adam_moments(self, p, group)
                sign, active = state["sign"], state["active"]
                if group["soft"]:
                    hidden = sign * state["strength"]
                    hidden.addcdiv_(state["exp_avg"] * active, denom, value=-step_size)
                    hidden.addcmul_(sign, active, value=-group["l1"] * step_size)
                    hidden.add_(torch.randn_like(p), alpha=group["T"] * math.sqrt(step_size))
                    state["strength"] = hidden * sign
                    if "strength_min" in state:
                        state["strength"].clamp_(min=state["strength_min"])
                    p.data = state["strength"].clamp(min=0.0).mul(sign)
                else:
                    p.addcdiv_(state["exp_avg"] * active, denom, value=-step_size)
                    p.addcmul_(sign, active, value=-group["l1"] * step_size)
                    p.addcmul_(torch.randn_like(p), active, value=group["T"] * math.sqrt(step_size))
                    p.mul_(active).mul_(sign).clamp_(min=0.0).mul_(sign)
                state["active"] = (p != 0.0).float()
                if not group["soft"]:
                    dormant = 1 - state["active"]
                    ratio = dormant.sum() / state["numel"]
                    if ratio > group["max_s"]:
                        chance = (ratio - group["max_s"]) / ratio
                        p.data.masked_fill_((dormant * chance).bernoulli().bool(), group["eps"])


class OriginalSTDSAdam(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, alpha_gr=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, alpha_gr=alpha_gr))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                sign = p.data.sign()
                state = self.state[p]
                if not state:
                    state.update(_fresh_adam_state(p))
                denom, step_size = _adam_moments(self, p, group)
                p.addcdiv_(state["exp_avg"], denom, value=-step_size)
                p.mul_(sign).sub_(group["lr"] * group["alpha_gr"]).clamp_(min=0.0).mul_(sign)


class OriginalSTDSSGD(torch.optim.Optimizer):
    def __init__(self, params, lr=0.1, momentum=0.9, alpha_gr=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha_gr=alpha_gr))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                before = p.data.clone()
                state = self.state[p]
                if "momentum_buffer" not in state:
                    buf = state["momentum_buffer"] = torch.clone(p.grad).detach()
                else:
                    buf = state["momentum_buffer"]
                    buf.mul_(group["momentum"]).add_(p.grad)
                p.add_(buf, alpha=-group["lr"])
                p.add_(before.sign(), alpha=-group["lr"] * group["alpha_gr"])


# ------------------------------------------------------------------------------------------------ the cases

# name: (suite optimizer, original, fraction of weights zeroed at the start). The CIFAR settings of the scripts:
# lr 1e-4, Grad R alpha 1e-3 with s 0.95, Deep R l1 1e-3 with T = 0; "deepr_rewire" starts half dormant with
# max_s 0.4 so that every step rewires (probability 0.2 per dormant weight).
CASES = {
    "gradr": (lambda ps: GradRewiring(ps, lr=1e-4, alpha=1e-3, s=0.95),
              lambda ps: OriginalGradRewiring(ps, lr=1e-4, alpha=1e-3, s=0.95), 0.0),
    "deepr": (lambda ps: DeepRewiring(ps, lr=1e-4, l1=1e-3, max_s=0.95),
              lambda ps: OriginalDeepRewiring(ps, lr=1e-4, l1=1e-3, max_s=0.95), 0.0),
    "deepr_rewire": (lambda ps: DeepRewiring(ps, lr=1e-4, l1=1e-3, max_s=0.4),
                     lambda ps: OriginalDeepRewiring(ps, lr=1e-4, l1=1e-3, max_s=0.4), 0.5),
    "soft_deepr": (lambda ps: DeepRewiring(ps, lr=1e-4, l1=1e-3, max_s=0.95, soft=True),
                   lambda ps: OriginalDeepRewiring(ps, lr=1e-4, l1=1e-3, max_s=0.95, soft=True), 0.0),
    "stds_adam_gr": (lambda ps: stds.STDSAdam(ps, lr=1e-4, alpha_gr=1e-3),
                     lambda ps: OriginalSTDSAdam(ps, lr=1e-4, alpha_gr=1e-3), 0.0),
    "stds_sgd_gr": (lambda ps: stds.STDSSGD(ps, lr=0.1, momentum=0.9, alpha_gr=1e-3),
                    lambda ps: OriginalSTDSSGD(ps, lr=0.1, momentum=0.9, alpha_gr=1e-3), 0.0),
}


def parameter_shapes(model: str = "cifar10_6c2f") -> list[torch.Size]:
    """The prunable weights' shapes of the suite's model (built once on the meta device: no memory)."""
    from snn_methods import compose
    from snn_methods.models import create_model
    from snn_methods.neurons import NeuronFactory
    from snn_methods.pruning import prunable_layers

    with torch.device("meta"):
        net = create_model(model, neuron=NeuronFactory(compose([]).neuron), num_classes=10, input_shape=(3, 32, 32))
    return [m.weight.shape for _, m in prunable_layers(net)]


def make_parameters(shapes, zero_fraction: float, seed: int = 0) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Weights (Kaiming-uniform-like, a fraction set to exactly 0) and fixed gradients."""
    gen = torch.Generator().manual_seed(seed)
    weights, grads = [], []
    for shape in shapes:
        bound = 1 / math.sqrt(math.prod(shape[1:]))
        w = (torch.rand(shape, generator=gen) * 2 - 1) * bound
        if zero_fraction:
            w[torch.rand(shape, generator=gen) < zero_fraction] = 0
        weights.append(w)
        grads.append(torch.randn(shape, generator=gen) * 1e-3)
    return weights, grads


def _step_time(opt) -> float:
    t = time.process_time()
    opt.step()
    return time.process_time() - t


def bench_case(name: str, shapes, pairs: int) -> dict:
    make_suite, make_original, zero_fraction = CASES[name]
    weights, grads = make_parameters(shapes, zero_fraction)
    optimizers = {}
    for side, make in (("original", make_original), ("suite", make_suite)):
        params = [torch.nn.Parameter(w.clone()) for w in weights]
        for p, g in zip(params, grads):
            p.grad = g
        optimizers[side] = make(params)
    del weights
    for _ in range(2):
        for opt in optimizers.values():
            opt.step()
    times = {"original": [], "suite": []}
    for i in range(pairs):
        order = ("original", "suite") if i % 2 == 0 else ("suite", "original")
        for side in order:
            times[side].append(_step_time(optimizers[side]))
    ratios = [s / o for s, o in zip(times["suite"], times["original"])]
    return {"original_ms": 1e3 * statistics.median(times["original"]),
            "suite_ms": 1e3 * statistics.median(times["suite"]), "ratio": statistics.median(ratios),
            "ratio_min": min(ratios), "ratio_max": max(ratios), "pairs": pairs}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=9)
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    ap.add_argument("--model", default="cifar10_6c2f")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)
    unknown = [c for c in args.cases.split(",") if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}: choose from {', '.join(CASES)}")
    torch.set_num_threads(1)
    shapes = parameter_shapes(args.model)
    numel = sum(math.prod(s) for s in shapes)
    print(f"{args.model}: {len(shapes)} prunable weights, {numel:,} elements, float32, "
          f"{torch.get_num_threads()} thread, torch {torch.__version__}")
    print(f"{'case':<14} {'original ms':>12} {'suite ms':>10} {'ratio':>7}  (min-max over {args.pairs} pairs)")
    results = {}
    for name in args.cases.split(","):
        r = results[name] = bench_case(name, shapes, args.pairs)
        print(f"{name:<14} {r['original_ms']:12.1f} {r['suite_ms']:10.1f} {r['ratio']:7.3f}  "
              f"({r['ratio_min']:.3f}-{r['ratio_max']:.3f})", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "numel": numel, "cases": results}, indent=2))
    return results


if __name__ == "__main__":
    main()
