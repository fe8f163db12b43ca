"""The same comparison as a W&B Report (`python -m snn_methods.report DIR --wandb-report`).

UNTESTED against the W&B service: it needs a login and network, which the machines this suite is developed
on do not have. What is tested offline is that the Report object is built (tests/test_report.py). It
  1. uploads the runs' offline W&B directories (`wandb sync`; compute nodes log offline by default),
  2. builds a Report: the summary table as Markdown, and panels over the sweeps' runs (the W&B group of a
     sweep is its hydra.sweep.dir as given at launch, e.g. multirun/sparsity): accuracy vs connectivity
     (log x), accuracy vs T, validation accuracy per epoch grouped by method, and a run comparer,
  3. saves it and prints its URL.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Sequence

from snn_methods.errors import UserError
from snn_methods.report.collect import Group, Run, _fmt, _name


def markdown_table(tables: dict[tuple[str, str], list[Group]]) -> str:
    lines = []
    for (dataset, model), groups in tables.items():
        names = [_name(k) for k, _ in groups[0].settings] if groups else []
        lines += [f"### {dataset} / {model}", "",
                  "| " + " | ".join(["method", "T", *names, "seeds", "test acc (%)", "connectivity",
                                      "SynOps / sample (M)", "energy / sample (uJ)", "wall time (s)"]) + " |",
                  "|" + "---|" * (9 + len(names))]
        for g in groups:
            acc, std = g.mean("test_acc"), g.std("test_acc")
            cells = [g.method, str(g.T), *(_fmt(v) for _, v in g.settings), str(len(g.runs)),
                     "-" if acc is None else f"{100 * acc:.2f}" + (f" ± {100 * std:.2f}" if std is not None else ""),
                     *(("-" if v is None else f"{v / scale:.4g}") for v, scale in (
                         (g.mean("connectivity"), 1), (g.mean("synops_per_sample"), 1e6),
                         (g.mean("energy_pj_per_sample"), 1e6), (g.mean("wall_time_s"), 1)))]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def build(tables: dict[tuple[str, str], list[Group]], entity: str | None, project: str, groups: Sequence[str],
          title: str):
    """The wandb_workspaces Report object (constructible offline; saving needs a login)."""
    try:
        import wandb_workspaces.reports.v2 as wr
    except ImportError:
        raise UserError("--wandb-report needs wandb-workspaces: pip install 'snn-methods[report]'") from None
    runset = wr.Runset(entity=entity or "", project=project, name="sweeps",
                       filters=f"Metric('Group') in {list(groups)!r}" if groups else "")
    panels = [
        wr.ScatterPlot(title="test accuracy vs connectivity", x=wr.SummaryMetric("final/connectivity"),
                       y=wr.SummaryMetric("final/test_acc"), log_x=True),
        wr.ScatterPlot(title="test accuracy vs T", x=wr.Config("T"), y=wr.SummaryMetric("final/test_acc"), log_x=True),
        wr.LinePlot(title="validation accuracy per epoch", x="Step", y=["val_acc"], groupby=wr.Config("method.name"),
                    groupby_aggfunc="mean", groupby_rangefunc="stddev"),
        wr.RunComparer(diff_only=True),
    ]
    return wr.Report(project=project, entity=entity or "", title=title,
                     description="Made by python -m snn_methods.report from the sweeps' results.json files.",
                     blocks=[wr.MarkdownBlock(text=markdown_table(tables)),
                             wr.PanelGrid(runsets=[runset], panels=panels)])


def publish(runs: Sequence[Run], tables: dict[tuple[str, str], list[Group]], entity: str | None, project: str,
            groups: Sequence[str], title: str, sync: bool = True) -> str:
    from snn_methods.loggers.wandb import logged_in

    if not logged_in():
        raise UserError("--wandb-report needs a W&B login (`wandb login` or WANDB_API_KEY) and network; the HTML "
                        "report and the CSVs were written")
    offline = sorted(str(p) for r in runs for p in Path(r.path).glob("wandb/offline-run-*"))
    if sync and offline:
        cmd = [sys.executable, "-m", "wandb", "sync", "--project", project, *(["--entity", entity] if entity else []),
               *offline]
        done = subprocess.run(cmd, timeout=60 + 10 * len(offline))
        if done.returncode:
            raise UserError(f"`wandb sync` of {len(offline)} offline runs failed (exit {done.returncode})")
    report = build(tables, entity, project, groups, title)
    report.save()
    return report.url
