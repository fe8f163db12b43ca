"""The ASGL README's width table from a finished width sweep (sweeps/asgl_width.yaml): test accuracy per method
(SG, ASGL) and surrogate width, mean +- sample standard deviation over the seeds found, and the learned widths.

    python launch.py -m sweep=asgl_width seed=0,1,2 scheduler=cosine hydra.sweep.dir=multirun/asgl_width
    python bench/asgl_width_table.py multirun/asgl_width [MORE_SWEEP_DIRS] [--key final.test_acc]
"""
from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from omegaconf import OmegaConf


def lookup(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d[part]
    return d


def collect(roots: list[Path], key: str) -> tuple[dict, dict]:
    """{(method, width): [values over seeds]}, {(method, width): [mean learned width at the end, per seed]}."""
    acc, learned = defaultdict(list), defaultdict(list)
    for path in sorted(p for root in roots for p in root.glob("**/results.json")):
        res = json.loads(path.read_text())
        cfg = OmegaConf.load(path.parent / "config.yaml")
        width = OmegaConf.select(cfg, "neuron.width", default=None)   # neuron=asgl_lif, else neuron/surrogate=mns_*
        cell = (res["method"], float(width if width is not None else cfg.neuron.surrogate.width))
        acc[cell].append(100.0 * lookup(res, key))
        widths = (res["history"][-1].get("asgl") or {}).get("width", {})
        if widths:
            learned[cell].append(statistics.fmean(widths.values()))
    return acc, learned


def spread(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.2f} +- {sd:.2f} (n={len(values)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep_dirs", type=Path, nargs="+", help="one or more sweep directories (e.g. one per seed set)")
    ap.add_argument("--key", default="final.test_acc", help="dotted key of results.json (an accuracy in [0, 1])")
    args = ap.parse_args()
    acc, learned = collect(args.sweep_dirs, args.key)
    methods = sorted({m for m, _ in acc}, key=lambda m: (m != "asgl_sg", m))
    widths = sorted({w for _, w in acc})
    print(f"{args.key} (%), mean +- std over seeds; learned width at the end in brackets (mean over layers, seeds)")
    print("| width | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for w in widths:
        cells = []
        for m in methods:
            values = acc.get((m, w))
            text = spread(values) if values else "-"
            if learned.get((m, w)) and m != "asgl_sg":
                text += f" [{statistics.fmean(learned[(m, w)]):.3g}]"
            cells.append(text)
        print(f"| {w:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
