"""The equal-budget leaderboard: one row per tuning study (a `study.json` that the study sweeper writes,
hydra_plugins/snn_methods_sweeper/tune.py), from the final runs of its best configuration (final/seed=S).

The headline number is the val-selected test accuracy (`best.test_acc_at_best_val`: the test accuracy at the
epoch of best validation accuracy, a configuration chosen on validation only). Beside it: the test-max number
(`best.test_acc_max`, the best test accuracy over the epochs, what four of the five original repositories report)
and the gap between the two, per seed, then mean +- std: the honest-evaluation audit."""
from __future__ import annotations

import csv
import dataclasses
import html
import json
import math
import statistics
from pathlib import Path
from typing import Any, Iterable

from snn_methods.report.collect import files_named
from snn_methods.results import read


@dataclasses.dataclass
class Row:
    dir: Path
    study: dict
    finals: list[dict]            # results.json of the final runs that finished

    @property
    def method(self) -> str:
        return self.study.get("method") or (self.finals[0]["method"] if self.finals else self.dir.name)

    def values(self, *path: str) -> list[float]:
        out = []
        for r in self.finals:
            node: Any = r
            for p in path:
                node = node.get(p) if isinstance(node, dict) else None
            if isinstance(node, (int, float)) and math.isfinite(node):
                out.append(float(node))
        return out

    def gaps(self) -> list[float]:
        """test-max minus val-selected, per seed (>= 0: the max over epochs includes the selected epoch)."""
        return [r["best"]["test_acc_max"] - r["best"]["test_acc_at_best_val"] for r in self.finals
                if isinstance(r["best"].get("test_acc_max"), (int, float))
                and isinstance(r["best"].get("test_acc_at_best_val"), (int, float))]

    @property
    def trials(self) -> list[dict]:
        return self.study.get("trials") or []

    def tuning_time_s(self) -> float:
        return sum(t.get("wall_time_s") or 0.0 for t in self.trials)

    def best_config(self) -> str:
        best = self.study.get("best") or {}
        text = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in (best.get("params") or {}).items())
        if best.get("feasible") is False:   # no trial met the constraint: the closest one, said so
            c = self.study.get("constraint") or {}
            text += f" (no trial met {c.get('key', 'the constraint')} <= {c.get('max')}: the closest)"
        return text

    def progress(self) -> list[float]:
        """Best objective so far after each trial (NaN before the first complete one)."""
        best, out = -math.inf, []
        sign = 1 if self.study.get("direction", "maximize") == "maximize" else -1
        for t in sorted(self.trials, key=lambda t: t["number"]):
            if t["state"] == "COMPLETE" and t["value"] is not None and t.get("feasible", True):
                best = max(best, sign * t["value"])
            out.append(sign * best if math.isfinite(best) else math.nan)
        return out


def find_studies(dirs: Iterable[str | Path]) -> list[Row]:
    rows = []
    for path in files_named(dirs, "study.json"):
        try:
            study = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        finals = [r for r in (read(path.parent / f / "results.json") for f in study.get("final_dirs") or [])
                  if r is not None]
        rows.append(Row(path.parent, study, finals))
    return sorted(rows, key=lambda r: -(_mean(r.values("best", "test_acc_at_best_val")) or -1.0))


def trial_dirs(rows: Iterable[Row]) -> set[Path]:
    """The studies' trial run directories (the leaderboard sums them up; the run tables leave them out)."""
    return {(r.dir / t["dir"]).resolve() for r in rows for t in r.trials if t.get("dir")}


def _mean(v: list[float]) -> float | None:
    return statistics.fmean(v) if v else None


def _std(v: list[float]) -> float | None:
    return statistics.stdev(v) if len(v) > 1 else None


def _pct(v: list[float], pm: str = " ± ") -> str:
    m, s = _mean(v), _std(v)
    return "-" if m is None else f"{100 * m:.2f}" + (f"{pm}{100 * s:.2f}" if s is not None else "")


def _g(v: list[float], scale: float = 1.0, digits: int = 3) -> str:
    m = _mean(v)
    return "-" if m is None else f"{m / scale:.{digits}g}"


HEAD = ["method", "best config (val-selected)", "trials", "seeds", "test acc, val-selected (%)",
        "test acc max over epochs (%)", "gap (pp)", "connectivity", "firing rate", "SynOps / sample (M)",
        "train time / run (s)", "tuning time (s)"]


def cells(row: Row, pm: str = " ± ") -> list[str]:
    done = sum(t["state"] == "COMPLETE" for t in row.trials)
    return [row.method, row.best_config() or "-", f"{done}/{row.study.get('n_trials', len(row.trials))}",
            str(len(row.finals)), _pct(row.values("best", "test_acc_at_best_val"), pm),
            _pct(row.values("best", "test_acc_max"), pm), _pct(row.gaps(), pm),
            _g(row.values("final", "connectivity"), digits=3), _g(row.values("final", "firing_rate")),
            _g(row.values("final", "synops_per_sample"), 1e6), _g(row.values("wall_time_s")),
            f"{row.tuning_time_s():.0f}"]


def budget(rows: list[Row]) -> str:
    """The protocol as the studies recorded it (a mix of budgets is said, not hidden)."""
    keys = ("dataset", "model", "T", "epochs", "n_trials", "objective")
    parts = []
    for k in keys:
        values = sorted({str(r.study.get(k)) for r in rows})
        parts.append(f"{k} {'/'.join(values)}" + (" (NOT EQUAL)" if len(values) > 1 and k != "model" else ""))
    seeds = sorted({str(r.study.get("final_seeds")) for r in rows})
    caps = sorted({f"{c['key']} <= {c['max']}" for r in rows if (c := r.study.get("constraint"))})
    return ", ".join(parts) + f", final seeds {'/'.join(seeds)}" + \
        (f", constraint {'/'.join(caps)} (the studies that declare one)" if caps else "")


def markdown(rows: list[Row]) -> str:
    lines = [f"Protocol: {budget(rows)}.", "",
             "| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_csv(path: Path, rows: list[Row]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "best_config", "n_trials", "n_seeds", "test_acc_at_best_val_mean",
                    "test_acc_at_best_val_std", "test_acc_max_mean", "test_acc_max_std", "gap_mean", "gap_std",
                    "connectivity", "firing_rate", "synops_per_sample", "wall_time_s", "tuning_time_s", "study_dir"])
        for r in rows:
            v, m, g = r.values("best", "test_acc_at_best_val"), r.values("best", "test_acc_max"), r.gaps()
            w.writerow([r.method, r.best_config(), r.study.get("n_trials"), len(r.finals),
                        *(("" if x is None else f"{x:.6g}") for x in (
                            _mean(v), _std(v), _mean(m), _std(m), _mean(g), _std(g),
                            _mean(r.values("final", "connectivity")), _mean(r.values("final", "firing_rate")),
                            _mean(r.values("final", "synops_per_sample")), _mean(r.values("wall_time_s")),
                            r.tuning_time_s())), str(r.dir)])


def table_html(rows: list[Row]) -> str:
    head = "".join(f'<th class="{"l" if i < 2 else ""}">{html.escape(h)}</th>' for i, h in enumerate(HEAD))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < 2 else ""}">{html.escape(c)}</td>'
                                    for i, c in enumerate(cells(r))) + "</tr>" for r in rows)
    return (f"<h2>Leaderboard: equal-budget tuning, selected on validation</h2>"
            f"<p class='note'>{html.escape(budget(rows))}. Test accuracy val-selected: at the epoch of best validation "
            f"accuracy of each final seed (mean &plusmn; std). Test max: the best test accuracy over the epochs, "
            f"the convention of most original repositories; gap: the difference, per seed. Times: wall clock on "
            f"the machine that ran them.</p><div class='wide'><table><tr>{head}</tr>{body}</table></div>")


def figures(rows: list[Row]) -> list[tuple[str, bytes]]:
    from snn_methods.report import plots

    made = [("val-selected vs test-max", plots.leaderboard_bars(
                "test accuracy: selected on validation vs max over epochs",
                [(r.method, 100 * (_mean(r.values("best", "test_acc_at_best_val")) or math.nan),
                  100 * (_std(r.values("best", "test_acc_at_best_val")) or 0.0),
                  100 * (_mean(r.values("best", "test_acc_max")) or math.nan),
                  100 * (_std(r.values("best", "test_acc_max")) or 0.0)) for r in rows if r.finals])),
            ("tuning progress", plots.tuning_progress("best validation accuracy so far per trial",
                                                      {r.method: r.progress() for r in rows}))]
    return [(n, png) for n, png in made if png is not None]


def write(out: Path, rows: list[Row]) -> dict:
    files = {"leaderboard_md": out / "leaderboard.md", "leaderboard_csv": out / "leaderboard.csv"}
    files["leaderboard_md"].write_text(markdown(rows), encoding="utf-8")
    write_csv(files["leaderboard_csv"], rows)
    return files
