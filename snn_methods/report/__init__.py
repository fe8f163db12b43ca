"""The comparison report: `python -m snn_methods.report DIR [DIR ...]` reads every results.json under the
directories (one or more sweeps), groups the runs by (dataset, model) and setting, aggregates the seeds, and
writes report.html (self-contained: tables and figures inline), summary.csv (one row per setting) and
runs.csv (one row per run). `--wandb-report` also builds the same comparison as a W&B Report (online only)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from snn_methods.report.collect import Group, Run, find_runs, group_runs

__all__ = ["Group", "Run", "find_runs", "group_runs", "make_report"]


def make_report(dirs: Sequence[str | Path], out: str | Path | None = None) -> dict:
    """Write the report files for the runs under `dirs`; return {'html', 'summary', 'runs'} paths and the data."""
    from snn_methods.errors import UserError
    from snn_methods.report import composition, page

    runs = find_runs(dirs)
    if not runs:
        raise UserError(f"no finished run (complete results.json) under {', '.join(map(str, dirs))}")
    tables = group_runs(runs)
    files = page.write(Path(out) if out else Path(dirs[0]), tables, runs, [str(d) for d in dirs],
                       extra=composition.sections(dirs))
    return {**files, "tables": tables, "run_list": runs}
