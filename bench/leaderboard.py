"""The equal-budget leaderboard as one command: for every method, an Optuna study with the same number of trials,
epochs, model and T (sweeps/tune_<method>.yaml through `launch.py -m`, selected on validation accuracy), then its
best configuration trained with the final seeds; then the report (leaderboard.md / .csv, report.html).

    python bench/leaderboard.py dataset=digits                                # every sweeps/tune_*.yaml
    python bench/leaderboard.py --trials 8 --epochs 10 --methods bptt,stds dataset=digits
    python bench/leaderboard.py --max-connectivity 0.1 dataset=digits         # pruning methods capped
    python bench/leaderboard.py --parallel 2 dataset=digits                   # two studies at a time
    python bench/leaderboard.py dataset=cifar10 model=... launcher=slurm_1gpu hardware=gpu --n-jobs 8   # on a cluster

Any other argument is a launch.py override given to every study (the launcher is chosen there: hardware=...).
Killed, the same command continues: each study resumes from its study.db, finished final runs are kept.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SWEEPS = ROOT / "sweeps"


def methods() -> list[str]:
    return sorted(p.stem[len("tune_"):] for p in SWEEPS.glob("tune_*.yaml"))


def has_constraint(method: str) -> bool:
    spec = yaml.safe_load((SWEEPS / f"tune_{method}.yaml").read_text())
    return bool(((spec.get("hydra") or {}).get("sweeper") or {}).get("study", {}).get("constraint"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--methods", default=",".join(methods()), help="comma-separated (default: every tune_*.yaml)")
    ap.add_argument("--trials", type=int, default=20, help="trials per study (the same for every method)")
    ap.add_argument("--epochs", type=int, default=20, help="epochs of every trial and final run")
    ap.add_argument("--T", type=int, default=4, help="time steps (fixed, never searched)")
    ap.add_argument("--seeds", default="1,2,3", help="seeds of the final runs of each best configuration")
    ap.add_argument("--n-jobs", type=int, default=1, help="trials launched together (one SLURM array)")
    ap.add_argument("--parallel", type=int, default=1, help="studies run at once (each one process)")
    ap.add_argument("--max-connectivity", type=float, default=None,
                    help="pruning methods: maximise val accuracy subject to final connectivity <= this")
    ap.add_argument("--out", default="multirun/leaderboard", help="one study directory per method goes here")
    ap.add_argument("overrides", nargs="*", help="launch.py overrides for every study (dataset=..., hardware=...)")
    args = ap.parse_args(argv)
    wanted = [m for m in args.methods.split(",") if m]
    unknown = [m for m in wanted if m not in methods()]
    if unknown:
        print(f"error: no sweeps/tune_{unknown[0]}.yaml; choose from {', '.join(methods())}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    record = {"command": " ".join(["python", "bench/leaderboard.py", *(argv if argv is not None else sys.argv[1:])]),
              "budget": {"trials": args.trials, "epochs": args.epochs, "T": args.T, "seeds": args.seeds, "parallel": args.parallel,
                         "max_connectivity": args.max_connectivity, "overrides": args.overrides},
              "machine": {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform()}, "studies": {}}
    tic, failed, running = time.time(), [], {}
    todo = list(wanted)
    while todo or running:
        while todo and len(running) < args.parallel:    # start the next study
            m = todo.pop(0)
            cmd = [sys.executable, str(ROOT / "launch.py"), "-m", f"sweep=tune_{m}", f"hydra.sweep.dir={out / m}",
                   f"hydra.sweeper.study.n_trials={args.trials}", f"hydra.sweeper.study.n_jobs={args.n_jobs}",
                   f"hydra.sweeper.study.final_seeds=[{args.seeds}]", f"epochs={args.epochs}", f"T={args.T}",
                   *args.overrides]
            if args.max_connectivity is not None and has_constraint(m):
                cmd.append(f"hydra.sweeper.study.constraint.max={args.max_connectivity}")
            print(f"[leaderboard] {m}: {' '.join(cmd[1:])}", flush=True)
            with (out / f"{m}.log").open("a") as log:
                running[m] = (subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), time.time())
        time.sleep(0.5)
        for m, (proc, t0) in list(running.items()):
            rc = proc.poll()
            if rc is None:
                continue
            del running[m]
            record["studies"][m] = {"returncode": rc, "wall_time_s": round(time.time() - t0, 1)}
            print(f"[leaderboard] {m}: {'done' if rc == 0 else f'FAILED (exit {rc}, see {out / m}.log)'} in "
                  f"{time.time() - t0:.0f} s", flush=True)
            if rc:
                failed.append(m)
    record["wall_time_s"] = round(time.time() - tic, 1)
    (out / "leaderboard_run.json").write_text(json.dumps(record, indent=2))
    from snn_methods.errors import UserError
    from snn_methods.report import make_report

    try:
        made = make_report([out])
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(made["leaderboard_md"].read_text())
    print(f"[leaderboard] {len(wanted)} studies in {record['wall_time_s']:.0f} s; report: {made['html']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
