"""What the SLURM launcher costs: time from `python launch.py -m launcher=slurm ...` to the first job training,
per-job overhead (job run time minus training time), and whether N queued jobs all finish.

    python bench/slurm_launch.py --jobs 20 [--partition debug] [OVERRIDES ...]

Needs a reachable SLURM cluster (`sudo bash scripts/slurm-local.sh start`). Runs N tiny digits jobs
(debug=tiny, seeds 0..N-1) as one job array in a fresh sweep directory and prints the figures.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def _stamp(line: str) -> float | None:
    m = STAMP.match(line)
    return dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() if m else None


def _first_training(sweep: Path, pattern: str = "*/launch.log") -> float | None:
    """When the first job of the sweep (or, with pattern="launch.log", the run in `sweep`) started training."""
    times = [_stamp(line) for log in sweep.glob(pattern) for line in log.read_text().splitlines()
             if "training epochs" in line]
    return min((t for t in times if t), default=None)


def _sacct(array_id: str) -> dict[str, dict]:
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,State,Submit,Start,End", "-j", array_id],
                         capture_output=True, text=True, check=True).stdout
    jobs = {}
    for line in out.strip().splitlines():
        job, state, *times = line.split("|")
        submit, start, end = (dt.datetime.fromisoformat(t).timestamp() for t in times)
        jobs[job] = {"state": state, "submit": submit, "start": start, "end": end}
    return jobs


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--partition", default=None)
    ap.add_argument("--dir", default=None, help="sweep directory (default: a fresh temporary one)")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    sweep = Path(args.dir or tempfile.mkdtemp(prefix="slurm-bench-")).resolve() / "sweep"
    sweep.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(ROOT / "launch.py"), "-m", "launcher=slurm", "debug=tiny", "logger=none",
           f"seed=range(0,{args.jobs})", f"hydra.sweep.dir={sweep}", "hydra.launcher.cpus_per_task=1",
           "hydra.launcher.mem_gb=1", "hardware.num_threads=1", *args.overrides]
    if args.partition:
        cmd.append(f"hydra.launcher.partition={args.partition}")
    t0 = time.time()
    output = sweep.parent / "launch.out"
    proc = subprocess.Popen(cmd, stdout=output.open("w"), stderr=subprocess.STDOUT, text=True, cwd=sweep.parent)
    first = None
    while proc.poll() is None:
        if first is None:
            first = _first_training(sweep)
        time.sleep(0.2)
    out = output.read_text()
    total = time.time() - t0
    first = first or _first_training(sweep)
    if proc.returncode != 0:
        print(out[-3000:])
        raise SystemExit(f"launch.py failed (exit {proc.returncode})")
    from snn_methods.results import read

    results = {p.parent.name: read(p) for p in sweep.glob("*/results.json")}
    complete = sum(r is not None for r in results.values())
    array_id = next(p.name for p in (sweep / ".submitit").iterdir() if p.is_dir()).split("_")[0]
    jobs = _sacct(array_id)
    by_seed = {r["seed"]: r for r in results.values() if r}
    overhead, queue, train, startup, teardown = [], [], [], [], []
    for name, job in jobs.items():
        task = int(name.split("_")[1]) if "_" in name else 0
        res = by_seed.get(task)
        if res is None:
            continue
        queue.append(job["start"] - job["submit"])
        train.append(res["wall_time_s"])
        overhead.append(job["end"] - job["start"] - res["wall_time_s"])
        stamps = [t for t in map(_stamp, (Path(res["run_dir"]) / "launch.log").read_text().splitlines()) if t]
        started = _first_training(Path(res["run_dir"]), "launch.log")   # job start -> training: interpreter, imports, build
        if started and stamps:
            startup.append(started - job["start"])
            teardown.append(job["end"] - stamps[-1])         # results written -> SLURM marks the job ended
    figures = {
        "jobs": args.jobs, "complete_results": complete, "states": sorted({j["state"] for j in jobs.values()}),
        "launch_to_first_training_s": None if first is None else first - t0,
        "launch_to_all_done_s": total,
        "per_job_overhead_s_median": statistics.median(overhead),
        "per_job_overhead_s_min_max": (min(overhead), max(overhead)),
        "per_job_training_s_median": statistics.median(train),
        "per_job_queue_wait_s_median": statistics.median(queue),
        "per_job_startup_s_median": statistics.median(startup) if startup else None,
        "per_job_teardown_s_median": statistics.median(teardown) if teardown else None,
        "first_submit_s": min(j["submit"] for j in jobs.values()) - t0,
    }
    print(f"{args.jobs} jobs as one array ({array_id}): {complete} complete results.json, SLURM states {figures['states']}")
    print(f"launch -> first job training : {figures['launch_to_first_training_s']:.1f} s")
    print(f"launch -> all {args.jobs} done        : {total:.1f} s")
    print(f"per job: overhead (run time - training) median {figures['per_job_overhead_s_median']:.1f} s "
          f"(min {min(overhead):.1f}, max {max(overhead):.1f}); training median {statistics.median(train):.2f} s; "
          f"queue wait median {statistics.median(queue):.0f} s (sacct, 1 s resolution)")
    if startup:
        print(f"  overhead = job start -> training (interpreter, imports, unpickling, build) median "
              f"{statistics.median(startup):.1f} s + results written -> SLURM job end median "
              f"{statistics.median(teardown):.1f} s; launch -> array submitted {figures['first_submit_s']:.1f} s "
              f"(composing every job first)")
    (sweep.parent / "figures.json").write_text(json.dumps(figures, indent=1))
    return figures


if __name__ == "__main__":
    main()
