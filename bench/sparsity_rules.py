"""Sparsity across learning rules (issue 14): Grad R and STDS on top of BPTT, DSR, ASGL and rate-BP, on digits, at
connectivity near 10 %, 5 % and 2 %, 3 seeds, beside each rule's dense accuracy.

    python bench/sparsity_rules.py                   # runs under runs/sparsity_rules; writes there
                                                     # sparsity_rules.json / .md / .png and report_section.json
    python bench/sparsity_rules.py --jobs 2 --seeds 0 --epochs 4     # smaller
    python -m snn_methods.report runs/sparsity_rules # the comparison report shows the table and the plot

One budget for every rule (BASE: digits, a 64-256-10 MLP, T 4, batch 32, EPOCHS epochs; fewer than the 100-epoch
pruning bench so that the whole grid fits in about half an hour of one core); each rule keeps its own recipe
otherwise (optimizer, neuron, loss; DSR its dsr_mlp layout and IF neuron). The strength knob of each pruning method
is swept on a small grid per rule (GRIDS) and, per seed, the accuracy at a target connectivity is interpolated
linearly in log(connectivity) between the two grid points around it (no value when the grid does not reach it):
  Grad R   pruning.alpha, with pruning.lr=1e-3 for every rule, so that the prior's drift alpha * lr means the same
           under every rule (Grad R is Adam-based; by default it would take the rule's lr, 0.1 for DSR / ASGL's SGD)
  STDS     pruning.flat_width D (sine schedule over the run), theta trained by the rule's own optimizer
Each run is a normal run directory (resume=auto): re-running the script reuses finished runs and only reports.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

EPOCHS = 10
BASE = ["dataset=digits", "model=mlp", "T=4", "batch_size=32", "hardware=cpu", "logger=none", "train.progress=false",
        "train.synops_final=false"]
RULES = {
    "BPTT": ["method=bptt"],
    "DSR (IF)": ["method=dsr", "neuron=dsr_if", "model=dsr_mlp"],
    "ASGL": ["method=asgl"],
    "rate-BP": ["method=rate_bp"],
}
PRUNING = {"Grad R": ("pruning=grad_rewire", "pruning.alpha", ["pruning.lr=1e-3"]),
           "STDS": ("pruning=stds", "pruning.flat_width", [])}
GRIDS = {   # strengths bracketing 10 % ... 2 % connectivity, from a seed-0 calibration with the same budget (below
    # the lowest value a network is still dense-ish, above the highest it has fallen to 0 %: the cliff)
    ("BPTT", "Grad R"): [0.4, 0.5, 0.6, 0.7, 0.85],
    ("DSR (IF)", "Grad R"): [1.4, 1.8, 2.2, 2.6, 3.0],
    ("ASGL", "Grad R"): [0.4, 0.5, 0.6, 0.7, 0.85],
    ("rate-BP", "Grad R"): [0.4, 0.5, 0.6, 0.7, 0.85],
    ("BPTT", "STDS"): [0.2, 0.25, 0.3, 0.35],
    ("DSR (IF)", "STDS"): [0.15, 0.4, 0.9, 1.8],
    ("ASGL", "STDS"): [0.15, 0.3, 0.5, 0.8],
    ("rate-BP", "STDS"): [0.2, 0.25, 0.3, 0.35],
}
TARGETS = [0.10, 0.05, 0.02]


def one_run(job: tuple[list[str], Path, int]) -> dict:
    overrides, run_dir, threads = job
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import logging

    import torch

    from snn_methods import compose, run

    logging.disable(logging.INFO)
    torch.set_num_threads(threads)
    r = run(compose([*overrides, f"hardware.num_threads={threads}"]), run_dir=run_dir)
    return {"acc": r["final"]["test_acc"], "conn": r["final"]["connectivity"], "wall_s": r["wall_time_s"]}


def at_target(points: list[tuple[float, float]], target: float) -> float | None:
    """Accuracy at `target` connectivity, linear in log(connectivity) between the grid points around it."""
    pts = sorted((c, a) for c, a in points if c > 0)
    for (c0, a0), (c1, a1) in zip(pts, pts[1:]):
        if c0 <= target <= c1:
            if c1 == c0:
                return (a0 + a1) / 2
            w = (math.log(target) - math.log(c0)) / (math.log(c1) - math.log(c0))
            return a0 + w * (a1 - a0)
    return None


def mean_sd(values: list[float]) -> tuple[float | None, float | None, int]:
    if not values:
        return None, None, 0
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0), len(values)


def fmt(m: float | None, sd: float | None, n: int, seeds: int) -> str:
    if m is None:
        return "not reached"
    return f"{100 * m:.1f} ± {100 * sd:.1f}" + ("" if n == seeds else f" ({n}/{seeds} seeds)")


def summarise(results: dict, seeds: list[int]) -> dict:
    out = {}
    for rule in RULES:
        dense = [results[(rule, "dense", None, s)]["acc"] for s in seeds]
        row = {"dense": mean_sd(dense)}
        for method in PRUNING:
            per_seed = {s: [(results[(rule, method, v, s)]["conn"], results[(rule, method, v, s)]["acc"])
                            for v in GRIDS[(rule, method)]] for s in seeds}
            row[method] = {
                "grid": {str(v): {"conn": mean_sd([results[(rule, method, v, s)]["conn"] for s in seeds])[0],
                                  "acc": mean_sd([results[(rule, method, v, s)]["acc"] for s in seeds])[0]}
                         for v in GRIDS[(rule, method)]},
                "at": {str(t): mean_sd([a for a in (at_target(per_seed[s], t) for s in seeds) if a is not None])
                       for t in TARGETS}}
        out[rule] = row
    return out


def markdown(summary: dict, seeds: list[int]) -> str:
    n = len(seeds)
    head = ["rule", "dense"] + [f"{m} {100 * t:g} %" for m in PRUNING for t in TARGETS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rule, row in summary.items():
        cells = [rule, fmt(*row["dense"], n)] + [fmt(*row[m]["at"][str(t)], n) for m in PRUNING for t in TARGETS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colors = dict(zip(RULES, ["C0", "C1", "C2", "C3"]))
    for rule, row in summary.items():
        ax.axhline(100 * row["dense"][0], color=colors[rule], ls=":", lw=1)
        for method, style in zip(PRUNING, ("-o", "--s")):
            pts = sorted((g["conn"], g["acc"]) for g in row[method]["grid"].values())
            ax.plot([100 * c for c, _ in pts], [100 * a for _, a in pts], style, color=colors[rule], ms=4,
                    label=f"{rule} + {method}")
    ax.set_xscale("log")
    ax.set_xlabel("connectivity (% of weights non-zero, log; mean over seeds)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("digits: accuracy vs connectivity across learning rules (dotted: dense)")
    for t in TARGETS:
        ax.axvline(100 * t, color="#bbb", lw=0.8)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def machine() -> str:
    from importlib.metadata import version

    return (f"{platform.machine()} CPU, {os.cpu_count()} cores (shared), python {platform.python_version()}, torch "
            f"{version('torch')}, spikingjelly {version('spikingjelly')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel (one thread each)")
    ap.add_argument("--root", type=Path, default=Path("runs/sparsity_rules"))
    args = ap.parse_args()
    jobs, keys = [], []
    for rule, rule_ov in RULES.items():
        for s in args.seeds:
            keys.append((rule, "dense", None, s))
            jobs.append([*BASE, f"epochs={args.epochs}", *rule_ov, f"seed={s}"])
            for method, (choice, knob, extra) in PRUNING.items():
                for v in GRIDS[(rule, method)]:
                    keys.append((rule, method, v, s))
                    jobs.append([*BASE, f"epochs={args.epochs}", *rule_ov, choice, *extra, f"{knob}={v}", f"seed={s}"])
    dirs = [args.root / "_".join(o.split("=")[-1].replace("/", "-").replace(" ", "") for o in ov[len(BASE):])
            for ov in jobs]
    tic = time.time()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        done = list(pool.map(one_run, [(ov, d, 1) for ov, d in zip(jobs, dirs)]))
    results = dict(zip(keys, done))
    summary = summarise(results, args.seeds)
    command = "python bench/sparsity_rules.py " + " ".join(sys.argv[1:])
    table = markdown(summary, args.seeds)
    args.root.mkdir(parents=True, exist_ok=True)
    plot(summary, args.root / "sparsity_rules.png")
    payload = {"command": command.strip(), "machine": machine(), "epochs": args.epochs, "seeds": args.seeds,
               "base": BASE, "rules": RULES, "grids": {f"{r} + {m}": g for (r, m), g in GRIDS.items()},
               "targets": TARGETS, "summary": summary, "runs": [
                   {"rule": k[0], "pruning": k[1], "strength": k[2], "seed": k[3], **v} for k, v in results.items()],
               "wall_s": round(time.time() - tic, 1), "cpu_s_runs": round(sum(v["wall_s"] for v in done), 1)}
    (args.root / "sparsity_rules.json").write_text(json.dumps(payload, indent=1))
    (args.root / "sparsity_rules.md").write_text(f"{table}\n\n`{command.strip()}`; {machine()}\n")
    (args.root / "report_section.json").write_text(json.dumps({
        "title": "Sparsity across learning rules (bench/sparsity_rules.py)", "markdown": table,
        "figure": "sparsity_rules.png", "note": f"{command.strip()}; {args.epochs} epochs; {machine()}"}))
    print(table)
    print(f"\n{len(done)} runs, {payload['wall_s']:.0f} s wall, {payload['cpu_s_runs']:.0f} s summed run time")


if __name__ == "__main__":
    main()
