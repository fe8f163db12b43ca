"""Each paper's headline claim, shown (or not) on the bundled digits set: one small experiment per claim, 3 seeds,
one verdict line per comparison with the numbers behind it (docs/claims.md discusses each).

    python bench/claims.py                          # all five claims, seeds 0 1 2, runs under runs/claims
    python bench/claims.py --claims 1,3 --seeds 0 1 2 3
    python bench/claims.py --quick --out /tmp/c     # a tiny budget (1 epoch, 2 batches): checks the driver, not claims

  1  Grad R >= (soft) Deep R at equal connectivity            (experiment=digits_pruning, strengths swept)
  2  STDS >= Grad R at equal connectivity                      (the same runs)
  3  ASGL holds at surrogate widths 2.5-10 where SG collapses (asgl_resnet18 8..64 channels, T 2, 20 epochs;
                                                             width lr 3e-3, widths 2.5 and 10, SG at 1)
  4  DSR ~ BPTT at low T (5, 10, 20)                            (model=dsr_mlp, DSR LIF and IF)
  5  rate-BP ~ BPTT accuracy, with memory flat in T             (default job T 4, 8; bench/ratebp_vs_bptt.py)

Every training run is a normal run directory under OUT/runs (resume=auto), so a re-run, also after an interruption,
reuses the finished runs and only trains what is missing. Results: OUT/claims.json and OUT/claims.md.

Matching by connectivity (claims 1, 2): each method is run at several strengths; per seed, its final test accuracy
is interpolated linearly in log(connectivity) between the two runs that bracket the target connectivity (never
extrapolated: a target outside a seed's range counts as not reached). Connectivity is the fraction of Conv/Linear
weights that are not pruned after the last epoch, as each run logs it (Grad R / soft Deep R: |w| > 1e-10; STDS:
not exactly zero).

Verdict rules (fixed before the runs; n = seeds; se = sqrt(sd_a^2 / n_a + sd_b^2 / n_b)):
  ">=" holds when mean_a - mean_b >= -2 se (not lower beyond seed noise); "better" when > +2 se;
  "~"  holds when mean_a - mean_b >= -max(1 point, 2 se) (not lower by more than a point or the noise).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import pruning_digits  # noqa: E402

COMMON = ["logger=none", "train.progress=false", "hardware.num_threads=1"]
QUICK = ["epochs=1", "train.limit_train_batches=2", "train.limit_eval_batches=2"]
TARGETS = [0.10, 0.05, 0.02]          # connectivity targets of claims 1 and 2
FLOOR = 1e-4                          # connectivity floor for the log (a collapsed net: 0 connections)

# claims 1-2: strengths from bench/pruning_digits.py's table (the README's pruning figures; the same run directories)
# plus one weaker strength for Grad R and soft Deep R, so that every method has runs on both sides of 10 %, 5 % and
# 2 %. Hard Deep R is not run: with temperature 0 soft Deep R is numerically identical to hard Deep R without
# rewiring (spec pruning.md 3.3), and hard Deep R's rewiring is cosmetic (its +1e-8 weights are zeroed again before
# they can learn, 3.2), so at equal functional connectivity the two are the same method (README table: l1 0.9,
# 2.03 % functional, 76.11 vs 75.93 %). The collapsed strengths (Grad R 1.0, soft Deep R 1.1, STDS 1.5) are the
# runs below 2 %.
PRUNING_STRENGTHS = {"grad_rewire": ("pruning.alpha", [0.2, 0.3, 0.8, 0.9, 1.0]),
                     "soft_deep_rewire": ("pruning.l1", [0.2, 0.3, 0.8, 0.9, 1.1]),
                     "stds": ("pruning.flat_width", [0.25, 0.4, 0.7, 1.1, 1.5])}
PRUNING_NAMES = {"grad_rewire": "Grad R", "soft_deep_rewire": "soft Deep R", "stds": "STDS"}

# claim 3: the README's ResNet digits setting, with the width optimizer's lr raised (the step-budget reason)
ASGL_BASE = ["scheduler=cosine", "model=asgl_resnet18", "model.widths=[8,16,32,64]", "T=2", "epochs=20",
             "optimizer.neuron.lr=0.003"]
ASGL_WIDTHS = [2.5, 10.0]             # the ends of the range (width 5 left out for the 2-core budget)
ASGL_CONTROL_WIDTH = 1.0              # SG at width 1: shows the budget trains this net at all

DSR_T = [5, 10, 20]
DSR_CONFIGS = {"BPTT": ["model=dsr_mlp"], "DSR LIF": ["method=dsr", "neuron=dsr_lif", "model=dsr_mlp"],
               "DSR IF": ["method=dsr", "neuron=dsr_if", "model=dsr_mlp"]}
RATEBP_T = [4, 8]
RATEBP_MEMORY = {"full": ["--T", "2", "4", "8", "--batch", "8", "--steps", "2", "--threads", "1"],
                 "quick": ["--T", "2", "4", "--batch", "2", "--steps", "1", "--warmup", "0", "--threads", "1",
                           "model=mlp"]}


# ------------------------------------------------------------------------------------------------- statistics
def accuracy_at(points: list[tuple[float, float]], target: float) -> float | None:
    """Accuracy at `target` connectivity from (connectivity, accuracy) points: linear in log(connectivity) between
    the two points that bracket it (points sorted by connectivity), None when no pair brackets it."""
    pts = sorted(points)
    for (c0, a0), (c1, a1) in zip(pts, pts[1:]):
        if c0 <= target <= c1:
            l0, l1, lt = (math.log(max(c, FLOOR)) for c in (c0, c1, target))
            return a0 if l1 == l0 else a0 + (a1 - a0) * (lt - l0) / (l1 - l0)
    return next((a for c, a in pts if c == target), None)


def summary(values: list[float]) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "n": 0, "values": []}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values), "values": values}


def fmt(s: dict) -> str:
    return "not reached" if s["n"] == 0 else f"{s['mean']:.2f} +- {s['std']:.2f} (n={s['n']})"


def compare(a: dict, b: dict, kind: str) -> tuple[str, float | None]:
    """('holds' | 'better' | 'does NOT hold' | 'undecided', difference of the means) under the rules above."""
    if a["n"] == 0 or b["n"] == 0:
        return "undecided (a target not reached)", None
    diff = a["mean"] - b["mean"]
    se = math.sqrt(a["std"] ** 2 / a["n"] + b["std"] ** 2 / b["n"])
    margin = 2 * se if kind == ">=" else max(1.0, 2 * se)
    if kind == ">=" and diff > 2 * se:
        return f"holds (better: {diff:+.2f} > 2 se {2 * se:.2f})", diff
    if diff >= -margin:
        return f"holds ({diff:+.2f}, margin {margin:.2f})", diff
    return f"does NOT hold ({diff:+.2f}, margin {margin:.2f})", diff


# ------------------------------------------------------------------------------------------------- runs
class Runner:
    def __init__(self, out: Path, quick: bool):
        self.out, self.quick, self.trained, self.bench_s = out, quick, 0, 0.0
        self.walls: dict = {}         # run directory -> its training wall time (each run counted once)

    @property
    def wall_s(self) -> float:
        return sum(self.walls.values()) + self.bench_s

    def run(self, group: str, name: str, overrides: list[str], seed: int) -> dict:
        """One run (reused when finished); its results.json as a dict."""
        from snn_methods import compose, run

        run_dir = self.out / "runs" / group / f"{name}_seed{seed}"
        fresh = not (run_dir / "results.json").exists()
        res = run(compose([*COMMON, *overrides, f"seed={seed}", *(QUICK if self.quick else [])]), run_dir=run_dir)
        self._count(res, fresh)
        return res

    def pruning(self, overrides: list[str], seed: int) -> dict:
        """A pruning run in bench/pruning_digits.py's layout (shared with it): results + functional_connectivity."""
        root, overrides = self.out / "runs" / "pruning", [*overrides, *(QUICK if self.quick else [])]
        fresh = not (root / ("_".join(o.split("=")[-1] for o in overrides) + f"_seed{seed}") / "results.json").exists()
        res = pruning_digits.one_run(overrides, seed, root, 1)
        self._count(res, fresh)
        return res

    def _count(self, res: dict, fresh: bool) -> None:
        if res.get("run_dir") not in self.walls:
            self.trained += fresh
        self.walls[res.get("run_dir")] = res.get("wall_time_s", 0.0)


def slug(overrides: list[str]) -> str:
    return "_".join(o.split("=")[-1].replace("[", "").replace("]", "").replace(",", "-") for o in overrides)


# ------------------------------------------------------------------------------------------------- claims
def pruning_curves(r: Runner, seeds: list[int], methods: list[str]) -> dict:
    """{method: {"points": {seed: [(connectivity, acc %)]}, "runs": [...], "at": {target: summary}}}; seeds are
    the outer loop, so that an interrupted invocation leaves whole seeds behind."""
    curves = {m: {"points": {s: [] for s in seeds}, "runs": []} for m in methods}
    grid = [(m, [f"method={method}", f"{key}={v}"]) for method, (key, values) in PRUNING_STRENGTHS.items()
            for m in [PRUNING_NAMES[method]] if m in methods for v in values]
    for s in seeds:
        for m, overrides in grid:
            res = r.pruning(overrides, s)
            conn, acc = res["functional_connectivity"], 100 * res["final"]["test_acc"]
            curves[m]["points"][s].append((conn, acc))
            curves[m]["runs"].append({"overrides": overrides, "seed": s, "connectivity": conn, "test_acc": acc,
                                      "run_dir": res.get("run_dir")})
    for entry in curves.values():
        entry["at"] = {f"{t:g}": summary([accuracy_at(entry["points"][s], t) for s in seeds]) for t in TARGETS}
    return curves


def pruning_claim(r: Runner, seeds: list[int], winner: str, others: list[str], number: int) -> dict:
    curves = pruning_curves(r, seeds, [winner, *others])
    lines = []
    for other in others:
        for t in TARGETS:
            a, b = curves[winner]["at"][f"{t:g}"], curves[other]["at"][f"{t:g}"]
            word, _ = compare(a, b, ">=")
            lines.append(f"claim {number}: {winner} >= {other} at {100 * t:g} % connectivity: {word}; "
                         f"test acc {fmt(a)} vs {fmt(b)}")
    table = ["| method | " + " | ".join(f"acc at {100 * t:g} % conn." for t in TARGETS) + " |",
             "|---|" + "---|" * len(TARGETS)]
    for m in [winner, *others]:
        table.append(f"| {m} | " + " | ".join(fmt(curves[m]["at"][f"{t:g}"]) for t in TARGETS) + " |")
    table += ["", "Runs (connectivity %, final test acc %, mean over seeds):", "",
              "| method | overrides | connectivity (%) | test acc (%) |", "|---|---|---|---|"]
    for m in [winner, *others]:
        by_cfg: dict = {}
        for run in curves[m]["runs"]:
            by_cfg.setdefault(" ".join(run["overrides"]), []).append(run)
        for cfg, runs in by_cfg.items():
            table.append(f"| {m} | `{cfg}` | {fmt(summary([100 * x['connectivity'] for x in runs]))} "
                         f"| {fmt(summary([x['test_acc'] for x in runs]))} |")
    return {"verdicts": lines, "table": table,
            "data": {m: {"at": curves[m]["at"], "runs": curves[m]["runs"]} for m in [winner, *others]}}


def claim1(r: Runner, seeds: list[int]) -> dict:
    return pruning_claim(r, seeds, "Grad R", ["soft Deep R"], 1)


def claim2(r: Runner, seeds: list[int]) -> dict:
    return pruning_claim(r, seeds, "STDS", ["Grad R"], 2)


def claim3(r: Runner, seeds: list[int]) -> dict:
    cells = [("SG", ASGL_CONTROL_WIDTH)] + [(m, w) for w in ASGL_WIDTHS for m in ("SG", "ASGL")]
    values: dict = {f"{m} {w:g}": [] for m, w in cells}
    for s in seeds:                   # seeds outer: an interrupted invocation leaves whole seeds behind
        for method, width in cells:
            ov = [f"method={'asgl_sg' if method == 'SG' else 'asgl'}", *ASGL_BASE, f"neuron.width={width}"]
            res = r.run("asgl", slug(ov[:1] + ov[-1:]), ov, s)
            values[f"{method} {width:g}"].append(100 * res["final"]["test_acc"])
    acc = {cell: summary(v) for cell, v in values.items()}
    control = acc[f"SG {ASGL_CONTROL_WIDTH:g}"]
    lines = []
    for w in ASGL_WIDTHS:
        sg, asgl = acc[f"SG {w:g}"], acc[f"ASGL {w:g}"]
        collapsed = sg["mean"] < control["mean"] - 20
        holds = asgl["mean"] >= control["mean"] - 5
        word = ("holds" if holds and collapsed else
                "does NOT hold" if collapsed else "not shown (SG does not collapse here)")
        lines.append(f"claim 3: width {w:g}: {word}; ASGL {fmt(asgl)} vs SG {fmt(sg)} (SG at width "
                     f"{ASGL_CONTROL_WIDTH:g}: {control['mean']:.2f}; collapse = SG < that - 20, "
                     f"holds = ASGL >= that - 5)")
    table = ["| width | SG | ASGL |", "|---|---|---|",
             f"| {ASGL_CONTROL_WIDTH:g} (control) | {fmt(control)} | - |"]
    table += [f"| {w:g} | {fmt(acc[f'SG {w:g}'])} | {fmt(acc[f'ASGL {w:g}'])} |" for w in ASGL_WIDTHS]
    return {"verdicts": lines, "table": table, "data": acc}


def versus(r: Runner, seeds: list[int], group: str, configs: dict, Ts: list[int], reference: str,
           number: int) -> tuple[list[str], list[str], dict]:
    """Final test accuracy of each config at each T; each non-reference config compared with the reference ('~')."""
    values: dict = {f"{label} T={T}": [] for T in Ts for label in configs}
    for s in seeds:                   # seeds outer: an interrupted invocation leaves whole seeds behind
        for T in Ts:
            for label, ov in configs.items():
                values[f"{label} T={T}"].append(
                    100 * r.run(group, f"{slug(ov)}_T{T}", [*ov, f"T={T}"], s)["final"]["test_acc"])
    acc = {cell: summary(v) for cell, v in values.items()}
    lines = []
    for T in Ts:
        for label in configs:
            if label != reference:
                a, b = acc[f"{label} T={T}"], acc[f"{reference} T={T}"]
                lines.append(f"claim {number}: {label} ~ {reference} at T={T}: {compare(a, b, '~')[0]}; "
                             f"test acc {fmt(a)} vs {fmt(b)}")
    table = ["| T | " + " | ".join(configs) + " |", "|---|" + "---|" * len(configs)]
    table += [f"| {T} | " + " | ".join(fmt(acc[f'{label} T={T}']) for label in configs) + " |" for T in Ts]
    return lines, table, acc


def claim4(r: Runner, seeds: list[int]) -> dict:
    lines, table, acc = versus(r, seeds, "dsr", DSR_CONFIGS, DSR_T, "BPTT", 4)
    return {"verdicts": lines, "table": table, "data": acc}


def claim5(r: Runner, seeds: list[int]) -> dict:
    lines, table, acc = versus(r, seeds, "ratebp", {"BPTT": ["method=bptt"], "rate-BP": ["method=rate_bp"]},
                               RATEBP_T, "BPTT", 5)
    rows = ratebp_memory(r)
    get = {(x["method"], x["step_mode"], x["T"]): x for x in rows}
    t0, t1 = min(x["T"] for x in rows), max(x["T"] for x in rows)
    for mode in ("m", "s"):
        for key, what in (("saved_mb", "saved activations"), ("step_peak_mb", "step peak memory")):
            rate0, rate1, bptt0, bptt1 = (get[(m, mode, T)][key] for m, T in
                                          (("rate_bp", t0), ("rate_bp", t1), ("bptt", t0), ("bptt", t1)))
            flat = rate1 / max(rate0, 1e-9) - 1
            word = "holds" if abs(flat) <= 0.15 else "does NOT hold"
            lines.append(f"claim 5: rate-BP '{mode}' {what} flat in T: {word}"
                         f" (T {t0} -> {t1}: rate-BP {rate0:.1f} -> {rate1:.1f} MB, {flat:+.1%}, bar 15 %; "
                         f"BPTT {bptt0:.1f} -> {bptt1:.1f} MB, {bptt1 / max(bptt0, 1e-9) - 1:+.1%})")
    from ratebp_vs_bptt import table as memory_table

    return {"verdicts": lines, "table": [*table, "", *memory_table(rows).splitlines()],
            "data": {"accuracy": acc, "memory": rows}}


def ratebp_memory(r: Runner) -> list[dict]:
    """bench/ratebp_vs_bptt.py's rows (one fresh process per configuration), kept in OUT/runs/ratebp_memory.json."""
    path = r.out / "runs" / ("ratebp_memory_quick.json" if r.quick else "ratebp_memory.json")
    if not path.exists():
        import contextlib
        import io

        import ratebp_vs_bptt

        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            rows = ratebp_vs_bptt.main([*RATEBP_MEMORY["quick" if r.quick else "full"], "--json", str(path)])
        r.bench_s += time.perf_counter() - started
        return rows
    return json.loads(path.read_text())


CLAIMS = {1: ("Grad R >= Deep R / soft Deep R at equal connectivity (soft Deep R = hard Deep R here)", claim1),
          2: ("STDS >= Grad R at equal connectivity", claim2),
          3: ("ASGL holds at surrogate widths 2.5-10 where SG collapses", claim3),
          4: ("DSR ~ BPTT at low T (5, 10, 20)", claim4),
          5: ("rate-BP ~ BPTT accuracy, with memory flat in T", claim5)}


# ------------------------------------------------------------------------------------------------- main
def environment() -> dict:
    import spikingjelly
    import torch

    try:
        from importlib.metadata import version
        sj = version("spikingjelly")
    except Exception:   # noqa: BLE001 - a version is informative only
        sj = getattr(spikingjelly, "__version__", "?")
    return {"python": platform.python_version(), "torch": torch.__version__, "spikingjelly": sj,
            "cpu_count": os.cpu_count(), "torch_threads": 1, "machine": platform.machine(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}


def parse_claims(text: str) -> list[int]:
    try:
        numbers = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        numbers = []
    if not numbers or any(n not in CLAIMS for n in numbers):
        raise argparse.ArgumentTypeError(f"--claims takes numbers from {sorted(CLAIMS)} separated by commas, "
                                         f"got {text!r}")
    return numbers


def markdown(report: dict) -> str:
    env = report["environment"]
    out = [f"# Claims on digits ({'QUICK budget: not a result' if report['quick'] else 'full budget'})", "",
           f"torch {env['torch']}, spikingjelly {env['spikingjelly']}, Python "
           f"{env['python']}, {env['torch_threads']} torch thread per run, {env['cpu_count']} cores; training wall "
           f"time of the runs used by the last invocation {report['train_wall_s'] / 60:.1f} min (runs it trained: "
           f"{report['runs_trained']}; its own wall time {report['wall_s'] / 60:.1f} min).", ""]
    for number, c in report["claims"].items():
        out += [f"## Claim {number}: {c['title']}", "", f"seeds {c.get('seeds')}", "",
                *[f"- {v}" for v in c["verdicts"]], "", *c["table"], ""]
    return "\n".join(out)


def write(out: Path, report: dict) -> None:
    """OUT/claims.json and claims.md; the claims of an earlier invocation on the same budget that this one did not
    run are kept (each claim records its seeds)."""
    path, merged = out / "claims.json", dict(report)
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("quick") == report["quick"]:
            claims = {int(k): v for k, v in old["claims"].items()}
            claims.update(report["claims"])
            merged["claims"] = dict(sorted(claims.items()))
    path.write_text(json.dumps(merged, indent=2))
    (out / "claims.md").write_text(markdown(merged))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--claims", type=parse_claims, default=sorted(CLAIMS), help="e.g. 1,3 (default: all)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--quick", action="store_true", help="1 epoch of 2 batches per run: tests the driver only")
    ap.add_argument("--out", type=Path, default=None, help="default runs/claims (runs/claims_quick with --quick)")
    args = ap.parse_args(argv)
    out = args.out or Path("runs/claims_quick" if args.quick else "runs/claims")
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    runner = Runner(out, args.quick)
    report = {"quick": args.quick, "seeds": args.seeds, "environment": environment(), "claims": {}}
    out.mkdir(parents=True, exist_ok=True)
    pruning = [m for n, ms in ((1, ["Grad R", "soft Deep R"]), (2, ["STDS", "Grad R"])) if n in args.claims for m in ms]
    if pruning:                       # train claims 1 and 2's runs together, seed by seed (whole seeds first)
        pruning_curves(runner, args.seeds, list(dict.fromkeys(pruning)))
    for number in args.claims:
        title, fn = CLAIMS[number]
        t0 = time.perf_counter()
        result = fn(runner, args.seeds)
        report["claims"][number] = {"title": title, **result, "seeds": args.seeds,
                                    "wall_s": time.perf_counter() - t0}
        for line in result["verdicts"]:
            print(line, flush=True)
    report.update(wall_s=time.perf_counter() - started, train_wall_s=runner.wall_s, runs_trained=runner.trained)
    write(out, report)
    print(f"wrote {out / 'claims.json'} and {out / 'claims.md'} ({report['wall_s'] / 60:.1f} min, "
          f"{runner.trained} runs trained)")
    return report


if __name__ == "__main__":
    main()
