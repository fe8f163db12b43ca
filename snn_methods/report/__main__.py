"""python -m snn_methods.report DIR [DIR ...] [--out OUT] [--wandb-report --project P [--entity E]]"""
from __future__ import annotations

import argparse
import sys

from snn_methods.errors import UserError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m snn_methods.report",
                                 description="Compare the finished runs (results.json) of one or more sweeps: "
                                             "a self-contained HTML page and CSV files.")
    ap.add_argument("dirs", nargs="+", help="sweep or run directories (searched recursively for results.json)")
    ap.add_argument("--out", help="where report.html, summary.csv and runs.csv go (default: the first DIR)")
    ap.add_argument("--wandb-report", action="store_true",
                    help="also create the comparison as a W&B Report (needs a W&B login and network; untested here)")
    ap.add_argument("--project", default="snn-methods", help="W&B project of the runs (logger.loggers.wandb.project)")
    ap.add_argument("--entity", default=None, help="W&B entity (default: yours)")
    ap.add_argument("--group", action="append", default=None,
                    help="W&B group(s) to compare (default: each DIR as given: a sweep's group is its hydra.sweep.dir)")
    ap.add_argument("--no-sync", action="store_true", help="do not `wandb sync` the runs' offline directories first")
    args = ap.parse_args(argv)
    from snn_methods.report import make_report

    try:
        made = make_report(args.dirs, args.out)
        print(f"{len(made['run_list'])} runs in {sum(len(g) for g in made['tables'].values())} settings: "
              f"{made['html']}, {made['summary']}, {made['runs']}")
        if made["duplicates"]:
            print(f"left out {len(made['duplicates'])} duplicate run(s) (the same config and seed as another): "
                  + "; ".join(f"{d} (= {same})" for d, same in made["duplicates"]))
        if made["studies"]:
            print(f"leaderboard of {len(made['studies'])} studies: {made['leaderboard_md']}, {made['leaderboard_csv']}")
        if args.wandb_report:
            from snn_methods.report import wandb_report

            url = wandb_report.publish(made["run_list"], made["tables"], args.entity, args.project,
                                       args.group or [str(d).rstrip("/") for d in args.dirs],
                                       f"snn-methods: {', '.join(args.dirs)}", sync=not args.no_sync)
            print(f"W&B report: {url}")
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
