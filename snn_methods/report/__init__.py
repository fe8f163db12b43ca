"""The comparison report: `python -m snn_methods.report DIR [DIR ...]` reads every results.json under the
directories (one or more sweeps), groups the runs by (dataset, model) and setting, aggregates the seeds, and
writes report.html (self-contained: tables and figures inline), summary.csv (one row per setting) and
runs.csv (one row per run). Tuning studies under the directories (study.json) add the leaderboard: a table at the
top of the page, leaderboard.md and leaderboard.csv (their trial runs are summed up there, not listed).
`--wandb-report` also builds the same comparison as a W&B Report (online only)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from snn_methods.report.collect import Group, Run, find_runs, group_runs
from snn_methods.report.dedupe import dedupe

log = logging.getLogger(__name__)

__all__ = ["Group", "Run", "find_runs", "group_runs", "make_report"]


def make_report(dirs: Sequence[str | Path], out: str | Path | None = None) -> dict:
    """Write the report files for the runs under `dirs`; return {'html', 'summary', 'runs'} paths and the data."""
    from snn_methods.errors import UserError
    from snn_methods.report import composition, leaderboard, page

    studies = leaderboard.find_studies(dirs)
    trials = leaderboard.trial_dirs(studies)
    runs = [r for r in find_runs(dirs) if r.path.resolve() not in trials]
    runs, duplicates = dedupe(runs)   # overlapping sweeps: one run per (config, seed), said below
    if not runs:
        raise UserError(f"no finished run (complete results.json) under {', '.join(map(str, dirs))}")
    for dropped, same in duplicates:
        log.warning("left out %s: the same config and seed as %s", dropped.path, same.path)
    tables = group_runs(runs)
    out = Path(out) if out else Path(dirs[0])
    files = page.write(out, tables, runs, [str(d) for d in dirs], studies, extra=composition.sections(dirs))
    if studies:
        files.update(leaderboard.write(out, studies))
    return {**files, "tables": tables, "run_list": runs, "studies": studies,
            "duplicates": [(d.path, s.path) for d, s in duplicates]}
