"""CPU time of one mode=test evaluation, and accuracy against T (T-robustness), for one checkpoint.

    python bench/eval_time.py runs/dense [--repeat 5] [--threads 1] [--T 1 2 4 8 16]

For every T: `evaluate_checkpoint(ckpt, ["logger=none", "T=..."])` is run `--repeat` times (the first call of
the script, which pays for imports, is an untimed warm-up); printed: the median CPU time (time.process_time)
and wall time of one whole evaluation (rebuild + data + evaluation + eval.json), the split's accuracy, firing
rate and SynOps per sample. Figures only: nothing here asserts a speed.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from snn_methods.reuse import evaluate_checkpoint  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ckpt", help="a run directory, a best.pt / last.pt, or a state_dict file")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--T", type=int, nargs="*", default=[], help="time steps to evaluate at (default: the trained T)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)
    hw = [f"hardware.num_threads={args.threads}"]
    with tempfile.TemporaryDirectory() as tmp:
        evaluate_checkpoint(args.ckpt, ["logger=none", *hw], run_dir=Path(tmp) / "warmup")
        print("| T at test | acc % | firing rate | SynOps / sample | CPU s / evaluation | wall s |")
        print("|---|---|---|---|---|---|")
        for T in args.T or [None]:
            overrides = ["logger=none", *hw] + ([f"T={T}"] if T is not None else [])
            cpu, wall = [], []
            for i in range(args.repeat):
                c0, w0 = time.process_time(), time.perf_counter()
                r = evaluate_checkpoint(args.ckpt, overrides, run_dir=Path(tmp) / f"T{T}-{i}")
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - w0)
            f = r["final"]
            trained = " (trained)" if r["trained"] and r["T"] == r["trained"]["T"] else ""
            print(f"| {r['T']}{trained} | {100 * f['acc']:.2f} | {f['firing_rate']:.3f} | "
                  f"{f['synops_per_sample']:.0f} | {statistics.median(cpu):.3f} | {statistics.median(wall):.3f} |")


if __name__ == "__main__":
    main()
