"""Test accuracy of several configs over several seeds: mean, standard deviation, min and max per config.

    python bench/accuracy_seeds.py [--seeds 5] [--threads 1] [--json out.json] "OVERRIDES A" "OVERRIDES B" ...
    python bench/accuracy_seeds.py --seeds 5 "T=5" "method=dsr model=dsr_mlp T=5" "model=dsr_mlp T=5"

Every config string is a space-separated list of launch.py overrides; each runs once per seed (seed=0..N-1) with
no loggers, in a temporary directory. Figures only: nothing here asserts an accuracy.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from snn_methods import compose, run  # noqa: E402


def accuracies(overrides: list[str], seeds: int) -> list[float]:
    out = []
    for seed in range(seeds):
        with tempfile.TemporaryDirectory() as tmp:
            out.append(run(compose(["logger=none", "train.progress=false", f"seed={seed}", *overrides]), run_dir=tmp)
                       ["final"]["test_acc"])
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", help="one quoted string of overrides per config")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    figures = {}
    print(f"{'config':60s}{'mean %':>8s}{'std':>7s}{'min':>7s}{'max':>7s}{'s/run':>7s}")
    for config in args.configs:
        started = time.perf_counter()
        accs = [100 * a for a in accuracies(config.split(), args.seeds)]
        per_run = (time.perf_counter() - started) / args.seeds
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        figures[config] = {"test_acc_percent": accs, "mean": statistics.mean(accs), "std": sd}
        print(f"{config:60s}{statistics.mean(accs):8.2f}{sd:7.2f}{min(accs):7.1f}{max(accs):7.1f}{per_run:7.1f}",
              flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
