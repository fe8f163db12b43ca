"""Rate-BP against BPTT: training-step memory and time as T grows (figures only: nothing here asserts).

    python bench/ratebp_vs_bptt.py --threads 1                          # ratebp_resnet18, batch 16, T = 1 2 4 8
    python bench/ratebp_vs_bptt.py --T 2 8 --batch 8 model=ratebp_vggsnn_cifar  # other sizes, any config override

Every (rule, step mode, T) runs in a fresh subprocess on the same synthetic 3x32x32 batch. Printed per row:
  cpu ms / wall ms   median CPU / wall time of one training step (the rule + the optimizer step);
  saved MB           bytes autograd keeps for backward, each storage once, parameters left out (bench/step_time.py's
                     SavedBytes): the activation memory, independent of allocator and machine; the targets below
                     are judged on it;
  step peak MB       peak training memory of one step: the most bytes allocated at once during a step above what
                     was allocated before it (model, momentum buffers, input), i.e. the gradients, the saved
                     activations and every transient buffer (the spike pass's T*N activations included). On a GPU
                     torch.cuda.max_memory_allocated; on the CPU the same figure from torch.profiler's allocation
                     events (profile_memory), taken on one extra, untimed step;
  RSS peak over setup  on the CPU only, the process peak RSS above what it held after building the model (allocator
                     caching included: a coarse cross-check).
Targets (issue 7): rate-BP's memory flat in T (within 15% from T=2 to T=8) and at most a third of BPTT's at T=8
(judged on both the saved activations and the step peak); rate-BP's step time at T=8 below BPTT's. Use --threads 1
on a shared machine: CPU-time medians are then steady even when other processes compete for the cores.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

RULES = [("bptt", "m"), ("bptt", "s"), ("rate_bp", "m"), ("rate_bp", "s")]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10     # KiB on Linux


def step_peak_mb(step, device) -> float:
    """Peak of the bytes allocated during `step()` above those allocated before it."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    live = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        live += e.nbytes()
        peak = max(peak, live)
    return peak / 2**20


def measure_one(method: str, step_mode: str, T: int, batch: int, steps: int, warmup: int, threads: int | None,
                overrides: list[str]) -> dict:
    """One configuration, in this process (meant to be a fresh one)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    from snn_methods import build, compose
    from step_time import time_training_steps

    cfg = compose(["logger=none", "model=ratebp_resnet18", "neuron=ratebp_lif", "dataset=synthetic",
                   "optimizer=sgd_decay_weights", f"method={method}", f"method.step_mode={step_mode}", f"T={T}",
                   f"batch_size={batch}", *overrides])
    exp = build(cfg)
    x, y = next(iter(exp.data.train))
    x, y = exp.encoder(x.to(exp.device)), y.to(exp.device)
    setup_mb = _rss_mb()
    r = time_training_steps(exp.model, exp.optimizer, exp.rule, exp.loss_fn, exp.precision, x, y, exp.device,
                            steps, warmup, exclude_parameters=True)
    rss = _rss_mb() - setup_mb if exp.device.type == "cpu" else None

    def step():
        from spikingjelly.activation_based import functional

        functional.reset_net(exp.model)
        exp.optimizer.zero_grad(set_to_none=True)
        exp.rule.step(exp.model, x, y, exp.loss_fn, exp.precision)
        exp.precision.step(exp.optimizer, exp.model.parameters(), None)
        functional.reset_net(exp.model)
    return {"method": method, "step_mode": step_mode, "T": T, "batch": batch, "model": cfg.model.name,
            "device": str(exp.device), "threads": torch.get_num_threads(), "cpu_ms": r["cpu_ms"],
            "wall_ms": r["wall_ms"], "saved_mb": r["saved_mb"], "step_peak_mb": step_peak_mb(step, exp.device),
            "rss_over_setup_mb": rss}


def _run_fresh(args: argparse.Namespace, method: str, step_mode: str, T: int) -> dict:
    cmd = [sys.executable, __file__, "--one", method, step_mode, str(T), "--batch", str(args.batch), "--steps",
           str(args.steps), "--warmup", str(args.warmup), *(["--threads", str(args.threads)] if args.threads else []),
           *args.overrides]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{method} {step_mode} T={T} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    r0 = rows[0]
    lines = [f"{r0['model']}, batch {r0['batch']}, {r0['device']}, {r0['threads']} thread(s)",
             "| rule | mode | T | step cpu ms | step wall ms | saved activations MB | step peak MB | RSS peak over setup MB |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rss = "-" if r["rss_over_setup_mb"] is None else f"{r['rss_over_setup_mb']:.0f}"
        lines.append(f"| {r['method']} | {r['step_mode']} | {r['T']} | {r['cpu_ms']:.0f} | {r['wall_ms']:.0f} | "
                     f"{r['saved_mb']:.1f} | {r['step_peak_mb']:.0f} | {rss} |")
    return "\n".join(lines)


def verdicts(rows: list[dict]) -> list[str]:
    """The issue's targets, checked on the measured figures (printed, never asserted)."""
    get = {(r["method"], r["step_mode"], r["T"]): r for r in rows}
    Ts = sorted({r["T"] for r in rows})
    out = []
    if not {2, 8} <= set(Ts):
        return ["(the targets need T=2 and T=8)"]
    for mode in ("m", "s"):
        rate2, rate8, bptt8 = get.get(("rate_bp", mode, 2)), get.get(("rate_bp", mode, 8)), get.get(("bptt", mode, 8))
        if not (rate2 and rate8 and bptt8):
            continue
        for key, what in (("saved_mb", "saved activations"), ("step_peak_mb", "step peak memory")):
            flat = rate8[key] / rate2[key] - 1
            third = rate8[key] / bptt8[key]
            out.append(f"rate_bp {mode}: {what} T=8 vs T=2 {flat:+.1%} (target within 15%: "
                       f"{'yes' if abs(flat) <= 0.15 else 'NO'}); T=8 vs BPTT {third:.2f}x (target <= 0.33: "
                       f"{'yes' if third <= 1 / 3 else 'NO'})")
        faster = rate8["cpu_ms"] / bptt8["cpu_ms"]
        out.append(f"rate_bp {mode}: step time T=8 vs BPTT {faster:.2f}x (target < 1: {'yes' if faster < 1 else 'NO'})")
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="config overrides, as for launch.py")
    parser.add_argument("--T", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="measured steps per configuration (median)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1: steady CPU times)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this file")
    parser.add_argument("--one", nargs=3, metavar=("METHOD", "STEP_MODE", "T"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        method, mode, T = args.one
        print(json.dumps(measure_one(method, mode, int(T), args.batch, args.steps, args.warmup, args.threads,
                                     args.overrides)))
        return []
    rows = []
    for T in args.T:
        for method, mode in RULES:
            rows.append(_run_fresh(args, method, mode, T))
            r = rows[-1]
            print(f"  {method:8s} {mode} T={T}: {r['cpu_ms']:.0f} ms cpu, {r['saved_mb']:.1f} MB saved, "
                  f"{r['step_peak_mb']:.0f} MB step peak", file=sys.stderr, flush=True)
    rows.sort(key=lambda r: (r["method"], r["step_mode"], r["T"]))
    print(table(rows))
    for line in verdicts(rows):
        print(line)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
