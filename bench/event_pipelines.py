"""CPU cost of the event-frame pipelines (per sample, what a DataLoader worker pays) and of building the caches.

    python bench/event_pipelines.py [--frames 10] [--size 48] [--rate 0.6] [--repeats 50] [--threads 1]

Frames are [T, 2, 128, 128] Poisson counts with mean `rate` per pixel and frame (a CIFAR10-DVS recording has
roughly 2e5 events: 0.6 per pixel at T = 10). Printed: median CPU time (time.process_time) per sample of each
pipeline's evaluation and training transform, then the time to turn generated AEDAT recordings into
events_np and frames. Figures only: nothing here asserts a speed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from snn_methods.data.event_transforms import PIPELINES, frame_transforms  # noqa: E402


def median_cpu_ms(fn, x: torch.Tensor, repeats: int) -> float:
    fn(x)
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn(x)
        times.append(time.process_time() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--rate", type=float, default=0.6)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--recordings", type=int, default=20, help="per class, for the cache-building figure")
    parser.add_argument("--events", type=int, default=200_000, help="per recording, for the cache-building figure")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.poisson(torch.full((args.frames, 2, 128, 128), args.rate))
    print(f"frames [{args.frames}, 2, 128, 128] -> {args.size}x{args.size}, {args.threads} thread(s), "
          f"median CPU ms per sample over {args.repeats}")
    print("| pipeline | eval transform | train transform |")
    print("|---|---|---|")
    for name in PIPELINES:
        train, evaluate = frame_transforms(name, 128, args.size)
        print(f"| {name} | {median_cpu_ms(evaluate, x, args.repeats):.2f} | {median_cpu_ms(train, x, args.repeats):.2f} |")

    from snn_methods.data.event_files import make_cifar10_dvs
    from snn_methods.data.event_prep import CIFAR10_DVS, prepare_frames

    with tempfile.TemporaryDirectory() as tmp:
        make_cifar10_dvs(tmp, per_class=args.recordings, events=args.events)
        import spikingjelly.datasets.cifar10_dvs  # noqa: F401  (imported before timing)

        n = 10 * args.recordings
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        prepare_frames(CIFAR10_DVS, Path(tmp), args.frames, "number", threads=args.threads)
        cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    print(f"cache build (AEDAT -> events_np -> frames, {args.events} events per recording, {args.threads} "
          f"thread(s)): {1000 * cpu / n:.1f} ms CPU / {1000 * wall / n:.1f} ms wall per recording")


if __name__ == "__main__":
    main()
