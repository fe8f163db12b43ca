"""Report sections beyond the per-setting tables: the rule x pruning table of a composition sweep
(sweeps/composition.yaml: accuracy / connectivity per cell, or "refused: why" from a job's refused.json), and the
sections bench scripts leave as report_section.json (a title, a Markdown table, a figure next to it)."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Iterable

from snn_methods.results import read


def _job(hydra_yaml: Path) -> tuple[str, str, str] | None:
    """(rule label, pruning label, cell text) of one launch.py job directory, or None while it is unfinished."""
    import yaml

    node = (yaml.safe_load(hydra_yaml.read_text()) or {}).get("hydra", {})
    choices = node.get("runtime", {}).get("choices", {}) or {}
    task = node.get("overrides", {}).get("task", []) or []
    job = hydra_yaml.parent.parent
    rule = " ".join([str(choices.get("method"))] + [o for o in task if o.startswith(("method.step_mode=", "neuron="))])
    pruning = str(choices.get("pruning"))
    results = read(job / "results.json")
    if results is not None:
        final = results["final"]
        return rule, pruning, f"{100 * final['test_acc']:.1f} % / {final['connectivity']:.3f}"
    refused = job / "refused.json"
    if refused.is_file():
        return rule, pruning, "refused: " + json.loads(refused.read_text()).get("reason", "?")
    return None


def matrix(dirs: Iterable[str | Path]) -> dict[tuple[str, str], str]:
    cells = {}
    for d in dirs:
        for path in sorted(Path(d).rglob(".hydra/hydra.yaml")):
            cell = _job(path)
            if cell is not None:
                cells[cell[:2]] = cell[2]
    return cells


def matrix_html(cells: dict[tuple[str, str], str]) -> str:
    rows = sorted({r for r, _ in cells})
    cols = sorted({c for _, c in cells}, key=lambda c: (c != "none", c))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr><td class='l'>" + html.escape(r) + "</td>" +
                   "".join(f"<td class='{'l' if cells.get((r, c), '').startswith('refused') else ''}'>"
                           f"{html.escape(cells.get((r, c), '-'))}</td>" for c in cols) + "</tr>" for r in rows)
    return (f"<h2>Composition: gradient rule x pruning</h2><p class='note'>Each cell: final test accuracy / "
            f"connectivity, or the one-line reason the combination was refused (docs/composition.md).</p>"
            f"<div class='wide'><table><tr><th class='l'>rule</th>{head}</tr>{body}</table></div>")


def markdown_table_html(text: str) -> str:
    rows = [ln.strip().strip("|").split("|") for ln in text.splitlines() if ln.strip().startswith("|")]
    rows = [r for r in rows if not all(set(c.strip()) <= set("-:") for c in r)]
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(c.strip())}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<div class='wide'><table><tr>{head}</tr>{body}</table></div>"


def bench_sections(dirs: Iterable[str | Path]) -> list[str]:
    parts = []
    for d in dirs:
        for path in sorted(Path(d).rglob("report_section.json")):
            spec = json.loads(path.read_text())
            part = [f"<h2>{html.escape(spec.get('title', path.parent.name))}</h2>",
                    markdown_table_html(spec.get("markdown", ""))]
            figure = path.parent / spec.get("figure", "")
            if spec.get("figure") and figure.is_file():
                part.append(f"<div class='figs'><img alt='{html.escape(spec['figure'])}' src='data:image/png;base64,"
                            f"{base64.b64encode(figure.read_bytes()).decode()}'></div>")
            if spec.get("note"):
                part.append(f"<p class='note'>{html.escape(spec['note'])}</p>")
            parts.append("".join(part))
    return parts


def sections(dirs: Iterable[str | Path]) -> list[str]:
    """HTML sections for the report page: the composition matrix (when the sweeps hold more than one launch.py job)
    and every bench section found."""
    dirs = list(dirs)
    cells = matrix(dirs)
    extra = [matrix_html(cells)] if len(cells) > 1 else []
    return extra + bench_sections(dirs)
