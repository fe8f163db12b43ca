"""The GPU check of issue 17: every method under fp32 / AMP fp16 / bf16, SpikingJelly's neuron backends, GPU step
time and memory figures, and the DDP (NCCL) path with one process. One pass/fail line per item, with its figures.

    python bench/gpu_check.py                      # on the GPU (scripts/gpu-check.sh sets it up and calls this)
    python bench/gpu_check.py --device cpu --tiny  # dry run on the CPU: tiny sizes, GPU-only items skipped with why
    python bench/gpu_check.py --only methods,ddp   # some sections: env, methods, backends, ddp, figures

Results go to --out (default $OUT, else runs/gpu_check/<time>): gpu_check.json (every item, its status, reason and
figures) and gpu_check.md (the table, printed last). An item that fails is recorded with a one-line reason and the
others still run; items still waiting when --budget-s is spent are skipped (so the run fits the GPU lease).
Figures only: nothing here is a timed test. The fp32 gradient check compares the first step's gradients with the
CPU's on the same weights and batch, with TF32 off (per-parameter relative L2 error; spikes are thresholds, so one
flipped spike shows up as a larger error: the figure says how far off, the limit says what passes).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

GRAD_RTOL = 1e-3          # fp32 GPU vs CPU: per-parameter ||g_gpu - g_cpu|| / ||g_cpu||
SECTIONS = ("env", "methods", "backends", "ddp", "figures")


class Skip(Exception):
    """The item does not apply here (the reason is recorded)."""


# ------------------------------------------------------------------------------------------------ report
@dataclasses.dataclass
class Item:
    section: str
    name: str
    status: str               # pass | fail | skip
    reason: str = ""
    figures: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0


class Report:
    def __init__(self, budget_s: float):
        self.items: list[Item] = []
        self.start = time.perf_counter()
        self.budget_s = budget_s

    def run(self, section: str, name: str, fn: Callable[[], dict]) -> Item:
        """fn returns its figures (pass), raises Skip (skip), AssertionError or anything else (fail)."""
        if time.perf_counter() - self.start > self.budget_s:
            item = Item(section, name, "skip", f"time budget ({self.budget_s:.0f} s) spent")
        else:
            t = time.perf_counter()
            try:
                item = Item(section, name, "pass", figures=fn() or {})
            except Skip as e:
                item = Item(section, name, "skip", str(e))
            except Exception as e:   # noqa: BLE001 -- one failing item must not stop the others
                item = Item(section, name, "fail", _one_line(e), figures=getattr(e, "figures", {}))
                traceback.print_exc(file=sys.stderr)
            item.seconds = time.perf_counter() - t
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        self.items.append(item)
        print(f"[{item.status.upper():4s}] {section}: {name} ({item.seconds:.1f} s) {item.reason} "
              f"{_short(item.figures)}", file=sys.stderr, flush=True)
        return item

    def table(self, env: dict) -> str:
        head = (f"GPU check: {env.get('device_name', '?')}, torch {env.get('torch')}, CUDA {env.get('cuda')}, "
                f"cuDNN {env.get('cudnn')}, spikingjelly {env.get('spikingjelly')}, python {env.get('python')}; "
                f"{time.perf_counter() - self.start:.0f} s")
        lines = [head, "", "| section | item | result | figures / reason |", "|---|---|---|---|"]
        for it in self.items:
            text = (it.reason + " " if it.reason else "") + _short(it.figures)
            lines.append(f"| {it.section} | {it.name} | {it.status} | {text.strip().replace('|', '/')} |")
        counts = {s: sum(it.status == s for it in self.items) for s in ("pass", "fail", "skip")}
        lines += ["", f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped"]
        return "\n".join(lines)


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300] if text else ''}"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def _short(figures: dict) -> str:
    return ", ".join(f"{k} {_fmt(v)}" for k, v in figures.items() if not isinstance(v, dict))


class Failed(AssertionError):
    """A check that ran and did not hold; carries its figures."""

    def __init__(self, message: str, figures: dict):
        super().__init__(message)
        self.figures = figures


# ------------------------------------------------------------------------------------------------ settings
@dataclasses.dataclass
class Sizes:
    T: int
    batch: int
    steps: int
    shape: str            # dataset.shape override
    fig_batch: int
    fig_T: tuple
    rate_T: tuple
    backend_shape: tuple  # [N, C, H, W] of the neuron backends' input (times T)
    backend_T: tuple


FULL = Sizes(T=4, batch=16, steps=8, shape="[3,32,32]", fig_batch=128, fig_T=(4, 8), rate_T=(2, 4, 8),
             backend_shape=(32, 64, 16, 16), backend_T=(4, 16))
TINY = Sizes(T=2, batch=4, steps=4, shape="[3,16,16]", fig_batch=4, fig_T=(2,), rate_T=(2, 4),
             backend_shape=(2, 4, 4, 4), backend_T=(4, 16))

# (name, overrides) of the methods check; each adds what makes a few steps on one batch meaningful
METHODS = [
    # BPTT on the Grad R / STDS CIFAR net (at full width its loss falls within 3 steps; ResNet-19's spiking head
    # starts silent on this data and needs more steps than the check has)
    ("bptt m", ["method=bptt", "method.step_mode=m", "model=cifar10_6c2f", "model.num_dropout=0"]),
    ("bptt s", ["method=bptt", "method.step_mode=s", "model=cifar10_6c2f", "model.num_dropout=0"]),
    ("dsr IF", ["method=dsr", "neuron=dsr_if", "model=dsr_preact_resnet18", "scheduler=none"]),   # no 400-step warm-up
    ("dsr LIF", ["method=dsr", "neuron=dsr_lif", "model=dsr_preact_resnet18", "scheduler=none"]),
    ("asgl", ["method=asgl", "model=asgl_resnet18"]),
    ("asgl_sg", ["method=asgl_sg", "model=asgl_resnet18"]),
    ("rate_bp m", ["method=rate_bp", "method.step_mode=m", "model=ratebp_resnet18", "neuron=ratebp_lif"]),
    ("rate_bp s", ["method=rate_bp", "method.step_mode=s", "model=ratebp_resnet18", "neuron=ratebp_lif"]),
    ("grad_rewire", ["method=grad_rewire", "model=cifar10_6c2f", "model.num_dropout=0"]),
    ("deep_rewire", ["method=deep_rewire", "model=cifar10_6c2f", "model.num_dropout=0"]),
    ("soft_deep_rewire", ["method=soft_deep_rewire", "model=cifar10_6c2f", "model.num_dropout=0"]),
    ("stds", ["method=stds", "model=cifar10_6c2f", "model.num_dropout=0"]),   # sine schedule over 100 epochs
    ("stds_grad_rewire", ["method=stds_grad_rewire", "model=cifar10_6c2f", "model.num_dropout=0",
                          "pruning.flat_width=0.0005"]),
]
# --tiny: narrower models (the CPU dry run), same code paths
TINY_MODEL = {"asgl_resnet18": ["model.widths=[8,8,16,16]"]}
# no width knob, or silent at a narrow width (its loss then stays at ln 10): an MLP
TINY_SWAP = {"dsr_preact_resnet18": "model=mlp", "ratebp_resnet18": "model=mlp", "cifar10_6c2f": "model=mlp"}


def tiny_overrides(overrides: list[str]) -> list[str]:
    out, swapped = [], False
    for o in overrides:
        model = o.split("=", 1)[1] if o.startswith("model=") else None
        swapped = swapped or model in TINY_SWAP
        if not (swapped and o.startswith("model.")):    # the swapped model's own keys go with it
            out.append(TINY_SWAP.get(model, o))
        out += TINY_MODEL.get(model, [])
    return out


def hardware_overrides(device: str, precision: str) -> list[str]:
    amp = precision != "fp32"
    dtype = "bfloat16" if precision == "bf16" else "float16"
    base = ["hardware=gpu", f"hardware.device={device}"] if device.startswith("cuda") else ["hardware=cpu"]
    return base + [f"hardware.amp={str(amp).lower()}", f"hardware.amp_dtype={dtype}", "deterministic=false"]


def compose_cfg(overrides: list[str], sizes: Sizes) -> Any:
    from snn_methods import compose

    return compose(["logger=none", "dataset=synthetic", f"dataset.shape={sizes.shape}", f"T={sizes.T}",
                    f"batch_size={sizes.batch}", "epochs=100", "train.progress=false", *overrides])


# ------------------------------------------------------------------------------------------------ env
def env_figures(device: torch.device) -> dict:
    from importlib import metadata

    out: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
    for pkg in ("spikingjelly", "hydra-core", "omegaconf", "numpy", "torchvision", "triton", "cupy-cuda13x", "wandb"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        out.update(device_name=props.name, device_memory_gb=round(props.total_memory / 2**30, 1),
                   capability=f"{props.major}.{props.minor}")
    else:
        out.update(device_name=f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads)")
    return out


# ------------------------------------------------------------------------------------------------ methods
@contextlib.contextmanager
def exact_fp32():
    """TF32 off for matmuls and convolutions (cuDNN allows it by default on Ampere and later). torch >= 2.9 has
    per-backend fp32_precision settings (mixing them with the legacy allow_tf32 flags is refused): use those."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision") and hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        knobs = [(torch.backends.cuda.matmul, "fp32_precision", "ieee"), (conv, "fp32_precision", "ieee")]
    else:
        knobs = [(torch.backends.cuda.matmul, "allow_tf32", False), (torch.backends.cudnn, "allow_tf32", False)]
    saved = [getattr(obj, name) for obj, name, _ in knobs]
    for obj, name, value in knobs:
        setattr(obj, name, value)
    try:
        yield
    finally:
        for (obj, name, _), value in zip(knobs, saved):
            setattr(obj, name, value)


def seeded_masks(model: torch.nn.Module, seed: int) -> None:
    """ASGL's noise masks from one CPU generator (same masks on every device, in call order)."""
    from snn_methods.asgl.surrogate import hybrid_spikes

    g = torch.Generator().manual_seed(seed)
    for m in hybrid_spikes(model):
        def draw(x: torch.Tensor, m=m) -> torch.Tensor:
            return torch.bernoulli(torch.full(x.shape, 1.0 - m.p), generator=g).to(x.device, x.dtype)
        m.draw_mask = draw


def first_step_grads(exp: Any, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    from spikingjelly.activation_based import functional

    seeded_masks(exp.model, 1234)
    functional.reset_net(exp.model)
    exp.optimizer.zero_grad(set_to_none=True)
    exp.rule.step(exp.model, exp.encoder(x.to(exp.device)), y.to(exp.device), exp.loss_fn, exp.precision)
    functional.reset_net(exp.model)
    return {n: p.grad.detach().double().cpu() for n, p in exp.model.named_parameters() if p.grad is not None}


def check_grads_vs_cpu(overrides: list[str], sizes: Sizes, device: str, exp: Any, x, y) -> dict:
    """The first step's gradients on `device` against the CPU's (same weights, same batch)."""
    from snn_methods import build

    with exact_fp32():
        here = first_step_grads(exp, x, y)
    ref = build(compose_cfg(overrides + hardware_overrides("cpu", "fp32"), sizes))
    ref.model.load_state_dict({k: v.cpu() for k, v in exp.model.state_dict().items()})
    cpu = first_step_grads(ref, x, y)
    if set(here) != set(cpu):
        raise Failed(f"different parameters got gradients: {sorted(set(here) ^ set(cpu))[:3]}", {})
    errs = {n: float((here[n] - cpu[n]).norm() / cpu[n].norm().clamp_min(1e-30)) for n in cpu}
    worst = max(errs, key=errs.get)
    figs = {"grad_rel_err_max": errs[worst], "worst_param": worst, "params": len(errs)}
    if errs[worst] > GRAD_RTOL:
        raise Failed(f"first-step gradients differ from the CPU's: {worst} relative error {errs[worst]:.2e} "
                     f"> {GRAD_RTOL:g}", figs)
    return figs


def train_steps(exp: Any, x: torch.Tensor, y: torch.Tensor, steps: int) -> dict:
    """`steps` steps of the engine's own training loop on one batch; the loss of each."""
    from snn_methods.engine.loop import TrainState, train_epoch

    exp.data = dataclasses.replace(exp.data, train=[(x, y)])
    state, losses, times = TrainState(), [], []
    with tempfile.TemporaryDirectory() as run_dir:
        for _ in range(steps):
            t = time.perf_counter()
            losses.append(train_epoch(exp, state, Path(run_dir))["loss"])
            if exp.device.type == "cuda":
                torch.cuda.synchronize(exp.device)
            times.append(time.perf_counter() - t)
    figs = {"loss": [round(v, 4) for v in losses], "step_ms": 1e3 * statistics.median(times[1:] or times)}
    scaler = exp.precision.scaler
    if scaler.is_enabled():
        figs["loss_scale"] = float(scaler.get_scale())
    if not all(math.isfinite(v) for v in losses):
        raise Failed("a loss is not finite", figs)
    if not losses[-1] < losses[0]:
        raise Failed(f"the loss did not fall ({losses[0]:.4f} -> {losses[-1]:.4f})", figs)
    return figs


def method_item(name: str, overrides: list[str], precision: str, device: str, sizes: Sizes) -> dict:
    from snn_methods import build

    if device == "cpu" and precision == "fp16" and not _cpu_fp16():
        raise Skip("this torch has no CPU float16 autocast / GradScaler: the fp16 path needs the GPU")
    exp = build(compose_cfg(overrides + hardware_overrides(device, precision), sizes))
    x, y = next(iter(exp.data.train))
    figs: dict[str, Any] = {}
    if precision == "fp32":
        figs.update(check_grads_vs_cpu(overrides, sizes, device, exp, x, y))
        exp = build(compose_cfg(overrides + hardware_overrides(device, precision), sizes))   # fresh optimizer
    figs.update(train_steps(exp, x.to(exp.device), y.to(exp.device), sizes.steps))
    figs["optimizer"] = type(exp.optimizer).__name__
    return figs


def _cpu_fp16() -> bool:
    try:
        torch.amp.GradScaler("cpu")
        with torch.autocast("cpu", dtype=torch.float16):
            return torch.ones(2, 2) @ torch.ones(2, 2) is not None
    except Exception:   # noqa: BLE001
        return False


# ------------------------------------------------------------------------------------------------ backends
NEURONS = ("lif", "if", "plif")
BACKENDS = ("torch", "triton", "cuda", "inductor", "cupy")


def backend_worker(backend: str, device: str, shape: tuple, Ts: tuple, out: Path) -> None:
    """In a fresh process (SJ reads SJ_*_CUDA_IMPLEMENTATION at import): spikes, input gradients, PLIF's leak
    gradient and fwd+bwd times of SpikingJelly's IF / LIF / PLIF at each T."""
    from spikingjelly.activation_based import functional, neuron

    dev = torch.device(device)
    make = {"lif": lambda: neuron.LIFNode(tau=2.0, step_mode="m"), "if": lambda: neuron.IFNode(step_mode="m"),
            "plif": lambda: neuron.ParametricLIFNode(init_tau=2.0, step_mode="m")}
    results = {}
    # torch.compile costs tens of seconds per neuron and T: the LIF only
    for kind in (("lif",) if backend == "inductor" else NEURONS):
        for T in Ts:
            key = f"{kind} T{T}"
            try:
                g = torch.Generator().manual_seed(T)
                x0 = (torch.randn((T, *shape), generator=g) * 1.5 + 0.5).to(dev)
                w = torch.randn((T, *shape), generator=g).to(dev)
                node = make[kind]().to(dev)
                run = torch.compile(node) if backend == "inductor" else node
                impl = functional.neuron_implementation(kind, dev, execution="compile" if backend == "inductor" else "eager")

                def once():
                    functional.reset_net(node)
                    x = x0.clone().requires_grad_(True)
                    s = run(x)
                    (s * w).sum().backward()
                    return s, x.grad

                s, gx = once()
                times = []
                for _ in range(5):
                    node.zero_grad(set_to_none=True)
                    if dev.type == "cuda":
                        torch.cuda.synchronize(dev)
                    t = time.perf_counter()
                    once()
                    if dev.type == "cuda":
                        torch.cuda.synchronize(dev)
                    times.append(time.perf_counter() - t)
                node.zero_grad(set_to_none=True)
                s, gx = once()
                extra = {n: p.grad.detach().cpu() for n, p in node.named_parameters() if p.grad is not None}
                results[key] = {"spikes": s.detach().cpu(), "grad_x": gx.cpu(), "param_grads": extra,
                                "ms": 1e3 * statistics.median(times), "implementation": str(impl.get("implementation"))}
            except Exception as e:   # noqa: BLE001
                results[key] = {"error": _one_line(e)}
    torch.save(results, out)


def run_backend(backend: str, device: str, sizes: Sizes, tmp: Path) -> dict:
    env = dict(os.environ)
    for kind in NEURONS:
        env[f"SJ_{kind.upper()}_CUDA_IMPLEMENTATION"] = backend if backend in ("torch", "triton", "cuda") else "auto"
    out = tmp / f"backend_{backend}.pt"
    cmd = [sys.executable, __file__, "--backend-worker", backend, "--device", device, "--out", str(tmp),
           "--worker-file", str(out), *(["--tiny"] if sizes is TINY else [])]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"worker exit {done.returncode}: {done.stderr.strip().splitlines()[-1:] }")
    return torch.load(out, weights_only=False)


def compare_backend(ref: dict, got: dict) -> dict:
    figs: dict[str, Any] = {}
    errors = []
    for key, o in got.items():
        r = ref.get(key, {"error": "no reference"})
        if "error" in o or "error" in r:
            errors.append(f"{key}: {o.get('error') or r.get('error')}")
            continue
        flips = int((o["spikes"] != r["spikes"]).sum())
        gerr = float((o["grad_x"].double() - r["grad_x"].double()).norm() / r["grad_x"].double().norm().clamp_min(1e-30))
        perr = max((float((o["param_grads"][n].double() - g.double()).norm() / g.double().norm().clamp_min(1e-30))
                    for n, g in r["param_grads"].items()), default=0.0)
        figs[key] = f"{o['ms']:.2f} ms ({o['implementation']}; torch {r['ms']:.2f}), flips {flips}, grad err {max(gerr, perr):.1e}"
        if flips or max(gerr, perr) > 1e-4:
            errors.append(f"{key}: {flips} spikes differ, gradient relative error {max(gerr, perr):.1e}")
    if errors:
        raise Failed("; ".join(errors[:3]), figs)
    return figs


def backend_items(report: Report, device: str, sizes: Sizes) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="gpu_check_backends_"))
    ref: dict = {}

    def reference() -> dict:
        ref.update(run_backend("torch", device, sizes, tmp))
        bad = [f"{k}: {v['error']}" for k, v in ref.items() if "error" in v]
        if bad:
            raise RuntimeError("; ".join(bad[:3]))
        return {k: f"{v['ms']:.2f} ms ({v['implementation']})" for k, v in ref.items()}

    report.run("backends", "torch (reference)", reference)
    if device == "cpu":   # the dry run of the comparison: the reference again, in a fresh process
        report.run("backends", "torch (again: same spikes and gradients)",
                   lambda: compare_backend(ref, run_backend("torch", device, sizes, tmp)) if ref else {})
    for backend in BACKENDS[1:]:
        def item(backend=backend) -> dict:
            if backend == "cupy":
                raise Skip("SpikingJelly 2.0.0 has no CuPy backend (removed; it selects cuda / triton / torch, "
                           "spec spikingjelly.md section 6)")
            if device == "cpu":
                raise Skip(f"{backend} needs CUDA (on the CPU SpikingJelly always runs its torch reference)")
            if not ref:
                raise Skip("no torch reference to compare with")
            got = run_backend(backend, device, sizes, tmp)
            if backend == "cuda" and all("error" in v for v in got.values()):
                raise Skip("native CUDA kernels unavailable (the PyPI wheel has none: SJ_BUILD_NATIVE_CUDA=1 builds): "
                           + next(iter(got.values()))["error"][:150])
            return compare_backend(ref, got)
        report.run("backends", backend, item)


# ------------------------------------------------------------------------------------------------ ddp
def ddp_overrides(device: str, sizes: Sizes) -> list[str]:
    return ["hardware=ddp", "hardware.group_of_one=true", f"hardware.device={'cuda' if device.startswith('cuda') else 'cpu'}",
            "logger=none", "dataset=synthetic", f"dataset.shape={sizes.shape}", "debug=tiny",
            "model=mlp" if sizes is TINY else "model=asgl_resnet19"]


def ddp_item(device: str, sizes: Sizes, out: Path) -> dict:
    run_dir = out / "ddp_run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", str(ROOT / "launch.py"),
           *ddp_overrides(device, sizes), f"hydra.run.dir={run_dir}"]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=ROOT)
    text = done.stdout + done.stderr
    (out / "ddp_run.log").write_text(text)
    backend = "nccl" if device.startswith("cuda") else "gloo"
    figs = {"seconds": time.perf_counter() - t, "exit": done.returncode}
    if done.returncode != 0:
        raise Failed(f"torchrun exit {done.returncode}: {text.strip().splitlines()[-1:]}", figs)
    if f"distributed: 1 processes ({backend})" not in text:
        raise Failed(f"the run did not start a {backend} process group (no 'distributed: 1 processes' line)", figs)
    results = json.loads((run_dir / "results.json").read_text())
    figs.update(backend=backend, test_acc=results["final"]["test_acc"], steps=results["steps"])
    return figs


# ------------------------------------------------------------------------------------------------ figures
# SNN vs its ANN twin at each of Sizes.fig_T (batch Sizes.fig_batch)
FIGURE_RUNS = [["method=bptt", "model=sew_resnet18"], ["method=bptt", "model=spiking_vgg11"],
               ["method=dsr", "neuron=dsr_lif", "model=dsr_preact_resnet18", "scheduler=none"],
               ["method=asgl", "model=asgl_resnet18"],
               ["method=rate_bp", "model=ratebp_resnet18", "neuron=ratebp_lif"]]

def snn_vs_ann(overrides: list[str], sizes: Sizes, device: str, ann_cache: dict) -> dict:
    """One SNN training step's time and peak memory, and the ANN twin's (ReLU for every neuron, one time step)."""
    import torch.nn as nn

    from ratebp_vs_bptt import step_peak_mb
    from snn_methods import build
    from snn_methods.api import _instantiate
    from snn_methods.data.encoders import DirectEncoder
    from step_time import time_training_steps

    cfg = compose_cfg(overrides + hardware_overrides(device, "fp32"), sizes)
    exp = build(cfg)
    x, y = next(iter(exp.data.train))
    x, y = x.to(exp.device), y.to(exp.device)
    steps, warmup = (5, 2) if sizes is FULL else (2, 1)

    def measure(model, opt, xin) -> dict:
        r = time_training_steps(model, opt, exp.rule, exp.loss_fn, exp.precision, xin, y, exp.device, steps, warmup)

        def one():
            from spikingjelly.activation_based import functional
            functional.reset_net(model)
            opt.zero_grad(set_to_none=True)
            exp.rule.step(model, xin, y, exp.loss_fn, exp.precision)
            exp.precision.step(opt, model.parameters(), None)
            functional.reset_net(model)
        return {"ms": r["wall_ms"], "step_peak_mb": step_peak_mb(one, exp.device)}

    snn = measure(exp.model, exp.optimizer, exp.encoder(x))
    figs = {"snn_ms": snn["ms"], "snn_step_peak_mb": snn["step_peak_mb"]}
    key = (cfg.model.name, sizes.fig_batch)
    if key not in ann_cache:
        from snn_methods.rules import BPTT

        ann = _instantiate(cfg.model, neuron=lambda **_: nn.ReLU(), num_classes=exp.data.num_classes,
                           input_shape=list(exp.data.input_shape)).to(exp.device)
        saved_rule, exp.rule = exp.rule, BPTT()
        ann_cache[key] = measure(ann, _instantiate(cfg.optimizer)(ann.parameters()), DirectEncoder(T=1, temporal=False)(x))
        exp.rule = saved_rule
    ann = ann_cache[key]
    figs.update(ann_ms=ann["ms"], ann_step_peak_mb=ann["step_peak_mb"], ratio_time=snn["ms"] / (cfg.T * ann["ms"]),
                ratio_memory=snn["step_peak_mb"] / (cfg.T * max(ann["step_peak_mb"], 1e-9)))
    return figs


def figure_items(report: Report, device: str, sizes: Sizes) -> None:
    ann_cache: dict = {}
    base = [f"batch_size={sizes.fig_batch}"]
    if sizes is TINY:
        base += ["dataset.shape=[3,32,32]"]     # the ImageNet-shaped models pool 32x32 down to 1x1
    for ov in FIGURE_RUNS:
        if sizes is TINY:
            ov = tiny_overrides(ov) + (["model.widths=[4,4,8,8]"] if "model=asgl_resnet18" in ov else [])
        label = " ".join(o.split("=", 1)[1] for o in ov if o.startswith(("method=", "model=")))
        for T in sizes.fig_T:
            report.run("figures", f"{label} T{T}", lambda ov=ov, T=T: snn_vs_ann(base + ov + [f"T={T}"], sizes, device, ann_cache))
    # rate-BP against BPTT over T (bench/ratebp_vs_bptt.py's measurement, in this process)
    from ratebp_vs_bptt import measure_one

    model = ["model=mlp"] if sizes is TINY else []
    hw = ["hardware=gpu", "hardware.amp=false", "deterministic=false"] if device.startswith("cuda") else ["hardware=cpu"]
    for T in sizes.rate_T:
        for method, mode in (("bptt", "m"), ("rate_bp", "m"), ("bptt", "s"), ("rate_bp", "s")):
            def one(method=method, mode=mode, T=T) -> dict:
                steps, warmup = (5, 2) if sizes is FULL else (2, 1)
                r = measure_one(method, mode, T, sizes.fig_batch, steps, warmup, None,
                                [*hw, *model, f"dataset.shape={sizes.shape}"])
                return {"ms": r["wall_ms"], "step_peak_mb": r["step_peak_mb"], "saved_mb": r["saved_mb"],
                        "model": r["model"]}
            report.run("figures", f"{method} {mode} vs T: T{T}", one)


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu (dry run)")
    p.add_argument("--tiny", action="store_true", help="tiny sizes (the CPU dry run)")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    p.add_argument("--precisions", default="fp32,fp16,bf16")
    p.add_argument("--methods", default=None, help="comma-separated names of the methods check (default: all)")
    p.add_argument("--out", default=None, help="output folder (default: $OUT, else runs/gpu_check/<time>)")
    p.add_argument("--budget-s", type=float, default=None,
                   help="items left after this many seconds are skipped (default 450: the GPU lease; --tiny: 3600)")
    p.add_argument("--backend-worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker-file", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sizes = TINY if args.tiny else FULL
    if args.backend_worker:
        backend_worker(args.backend_worker, args.device, sizes.backend_shape, sizes.backend_T, Path(args.worker_file))
        return 0
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA device is visible; for the CPU dry run use --device cpu --tiny", file=sys.stderr)
        return 2
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    out = Path(args.out or os.environ.get("OUT") or ROOT / "runs" / "gpu_check" / time.strftime("%Y-%m-%d_%H-%M-%S"))
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device)
    only = set(args.only.split(","))
    report = Report(args.budget_s or (3600.0 if args.tiny else 450.0))
    env = env_figures(device)
    report.run("env", "versions", lambda: {k: v for k, v in env.items()})
    if "methods" in only:
        wanted = set(args.methods.split(",")) if args.methods else None
        for name, overrides in METHODS:
            if wanted and name not in wanted:
                continue
            ov = tiny_overrides(overrides) if args.tiny else overrides
            for prec in args.precisions.split(","):
                report.run("methods", f"{name} {prec}", lambda ov=ov, prec=prec: method_item(name, ov, prec, args.device, sizes))
    if "backends" in only:
        backend_items(report, args.device, sizes)
    if "ddp" in only:
        report.run("ddp", f"hardware=ddp, one process ({'nccl' if device.type == 'cuda' else 'gloo'})",
                   lambda: ddp_item(args.device, sizes, out))
    if "figures" in only:
        figure_items(report, args.device, sizes)
    table = report.table(env)
    (out / "gpu_check.json").write_text(json.dumps({"env": env, "items": [dataclasses.asdict(i) for i in report.items]},
                                                   indent=2, default=str))
    (out / "gpu_check.md").write_text(table + "\n")
    print(f"\nresults: {out / 'gpu_check.json'}, {out / 'gpu_check.md'}\n")
    print(table)
    return 1 if any(i.status == "fail" for i in report.items) else 0


if __name__ == "__main__":
    sys.exit(main())
