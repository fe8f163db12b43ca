"""The comparison report as files: a self-contained HTML page (tables + PNG figures inlined) and two CSVs."""
from __future__ import annotations

import base64
import csv
import html
import time
from pathlib import Path
from typing import Any, Sequence

from snn_methods.report import plots
from snn_methods.report.collect import METRICS, Group, Run, _fmt, _name

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; white-space: nowrap; }
th { white-space: normal; vertical-align: bottom; } .wide { overflow-x: auto; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
tr:nth-child(even) td { background: #fafafa; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; } .figs img { max-width: 100%; height: 380px; }
.note { color: #666; font-size: 0.85em; }
"""


def _pct(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "-"
    return f"{100 * mean:.2f}" + (f" &plusmn; {100 * std:.2f}" if std is not None else "")


def _num(value: float | None, scale: float = 1.0, digits: int = 3) -> str:
    return "-" if value is None else f"{value / scale:.{digits}g}"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def table_html(groups: Sequence[Group]) -> str:
    setting_names = [_name(k) for k, _ in groups[0].settings] if groups else []
    head = (["method", "T"] + setting_names +
            ["seeds", "test acc (%)", "test acc at best val (%)", "test acc max over epochs (%)", "connectivity", "firing rate",
             "SynOps / sample (M)", "energy / sample (&micro;J)", "wall time (s)"])
    rows = []
    for g in groups:
        cells = [f'<td class="l">{html.escape(g.method)}</td>', f"<td>{g.T}</td>"]
        cells += [f'<td class="l">{"-" if v is None else html.escape(_fmt(v))}</td>' for _, v in g.settings]
        cells += [f"<td>{len(g.runs)}</td>",
                  f"<td>{_pct(g.mean('test_acc'), g.std('test_acc'))}</td>",
                  f"<td>{_pct(g.mean('test_acc_at_best_val'), g.std('test_acc_at_best_val'))}</td>",
                  f"<td>{_pct(g.mean('test_acc_max'), g.std('test_acc_max'))}</td>",
                  f"<td>{_num(g.mean('connectivity'), digits=4)}</td>",
                  f"<td>{_num(g.mean('firing_rate'))}</td>",
                  f"<td>{_num(g.mean('synops_per_sample'), 1e6)}</td>",
                  f"<td>{_num(g.mean('energy_pj_per_sample'), 1e6)}</td>",
                  f"<td>{_num(g.mean('wall_time_s'))}</td>"]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f'<th class="{"l" if i < 2 + len(setting_names) else ""}">{h}</th>' for i, h in enumerate(head))
    return f"<div class='wide'><table><tr>{header}</tr>{''.join(rows)}</table></div>"


def figures(title: str, groups: Sequence[Group]) -> list[tuple[str, bytes]]:
    made = [("accuracy vs connectivity", plots.accuracy_vs_connectivity(f"{title}: accuracy vs connectivity", groups)),
            ("accuracy vs T", plots.accuracy_vs_timesteps(f"{title}: accuracy vs time steps", groups)),
            ("accuracy vs surrogate width",
             plots.accuracy_vs_surrogate_width(f"{title}: accuracy vs surrogate width", groups)),
            ("training curves", plots.training_curves(f"{title}: validation accuracy per epoch", groups))]
    return [(name, png) for name, png in made if png is not None]


def write_html(path: Path, tables: dict[tuple[str, str], list[Group]], sources: Sequence[str], n_runs: int,
               studies: Sequence[Any] = (), extra: Sequence[str] = ()) -> None:
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>snn-methods comparison</title>"
             f"<style>{CSS}</style></head><body>",
             "<h1>snn-methods comparison report</h1>",
             f"<p class='note'>{n_runs} finished runs from {html.escape(', '.join(sources))}; "
             f"generated {time.strftime('%Y-%m-%d %H:%M')}. Accuracy: final-epoch test accuracy, mean &plusmn; "
             f"standard deviation over the seeds (the <em>at best val</em> column selects the epoch on the validation "
             f"split). SynOps and energy: per test sample (energy = 4.6 pJ per MAC + 0.9 pJ per AC, 45 nm). "
             f"Error bars: &plusmn; std over the seeds. Numbers in summary.csv / runs.csv.</p>"]
    if studies:
        from snn_methods.report import leaderboard

        parts.append(leaderboard.table_html(list(studies)))
        figs = leaderboard.figures(list(studies))
        if figs:
            parts.append("<div class='figs'>" + "".join(_img(png, name) for name, png in figs) + "</div>")
    for (dataset, model), groups in tables.items():
        title = f"{dataset} / {model}"
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(table_html(groups))
        figs = figures(title, groups)
        if figs:
            parts.append("<div class='figs'>" + "".join(_img(png, f"{title}: {name}") for name, png in figs) + "</div>")
    parts.extend(extra)        # sections of report/composition.py: the rule x pruning matrix, bench results
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")


def _setting_columns(tables: dict[tuple[str, str], list[Group]]) -> list[str]:
    return sorted({_name(k) for groups in tables.values() for g in groups for k, _ in g.settings})


def write_summary_csv(path: Path, tables: dict[tuple[str, str], list[Group]]) -> None:
    settings = _setting_columns(tables)
    metric_cols = [f"{m}_{s}" for m in METRICS for s in ("mean", "std")]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "model", "method", "T", *settings, "n_seeds", "seeds", *metric_cols, "run_dirs"])
        for groups in tables.values():
            for g in groups:
                values = {_name(k): _csv(v) for k, v in g.settings}
                w.writerow([g.dataset, g.model, g.method, g.T, *(values.get(s, "") for s in settings), len(g.runs),
                            " ".join(map(str, g.seeds)),
                            *(_csv(getattr(g, s)(m)) for m in METRICS for s in ("mean", "std")),
                            " ".join(str(r.path) for r in g.runs)])


def write_runs_csv(path: Path, tables: dict[tuple[str, str], list[Group]]) -> None:
    settings = _setting_columns(tables)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "model", "method", "T", "seed", *settings, *METRICS, "epochs", "run_dir"])
        for groups in tables.values():
            for g in groups:
                values = {_name(k): _csv(v) for k, v in g.settings}
                for r in sorted(g.runs, key=lambda r: r.results["seed"]):
                    w.writerow([g.dataset, g.model, g.method, g.T, r.results["seed"],
                                *(values.get(s, "") for s in settings), *(_csv(r.metric(m)) for m in METRICS),
                                r.results.get("epochs"), str(r.path)])


def _csv(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return _fmt(value) if isinstance(value, str) else value


def write(out: Path, tables: dict[tuple[str, str], list[Group]], runs: list[Run], sources: Sequence[str],
          studies: Sequence[Any] = (), extra: Sequence[str] = ()) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    files = {"html": out / "report.html", "summary": out / "summary.csv", "runs": out / "runs.csv"}
    write_html(files["html"], tables, sources, len(runs), studies, extra)
    write_summary_csv(files["summary"], tables)
    write_runs_csv(files["runs"], tables)
    return files
