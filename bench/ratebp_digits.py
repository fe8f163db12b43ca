"""Rate-BP against BPTT on the bundled digits set: test accuracy over seeds, for each T (figures only).

    python bench/ratebp_digits.py                                  # the default job (mlp, lif), T 4 and 8, seeds 0-2
    python bench/ratebp_digits.py neuron=ratebp_lif --T 4          # any config override

Each run is the default digits job (30 epochs) with method=bptt or method=rate_bp (the same seed gives the same
initial weights and data order); printed: final test accuracy per seed, mean and sample standard deviation, and
the rate-BP minus BPTT difference of the means.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--T", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["bptt", "rate_bp"])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    import logging

    from snn_methods import compose, run

    logging.basicConfig(level=logging.WARNING)
    acc: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for T in args.T:
            for method in args.methods:
                for seed in args.seeds:
                    cfg = compose(["logger=none", "hardware.num_threads=1", f"method={method}", f"T={T}",
                                   f"seed={seed}", *args.overrides])
                    res = run(cfg, run_dir=Path(tmp) / f"{method}_T{T}_s{seed}")
                    acc.setdefault(f"{method} T={T}", []).append(100 * res["final"]["test_acc"])
                    print(f"  {method} T={T} seed {seed}: {acc[f'{method} T={T}'][-1]:.2f}", file=sys.stderr,
                          flush=True)
    print(f"digits, final test accuracy (%), seeds {args.seeds}, overrides {args.overrides or 'none'}")
    print("| method | T | per seed | mean | std |")
    print("|---|---|---|---|---|")
    for key, values in acc.items():
        method, T = key.split(" T=")
        print(f"| {method} | {T} | {' / '.join(f'{v:.2f}' for v in values)} | {statistics.mean(values):.2f} | "
              f"{statistics.stdev(values) if len(values) > 1 else 0:.2f} |")
    for T in args.T:
        if f"rate_bp T={T}" in acc and f"bptt T={T}" in acc:
            gap = statistics.mean(acc[f"rate_bp T={T}"]) - statistics.mean(acc[f"bptt T={T}"])
            print(f"T={T}: rate_bp - bptt = {gap:+.2f} points (target: within 1.5)")
    if args.json:
        args.json.write_text(json.dumps(acc, indent=2))
    return acc


if __name__ == "__main__":
    main()
