"""The figures of the comparison report (matplotlib, rendered to PNG bytes; no display needed)."""
from __future__ import annotations

import io
from typing import Callable, Sequence

from snn_methods.report.collect import Group

ACC = "test accuracy (%)"


def _figure(title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    ax.set_title(title, fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    return fig, ax


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _series(groups: Sequence[Group], x: Callable[[Group], float | None], line: Callable[[Group], str]):
    """line label -> sorted [(x, mean acc %, std acc %)] for the groups that have an x value and an accuracy."""
    lines: dict[str, list[tuple[float, float, float]]] = {}
    for g in groups:
        xv, acc = x(g), g.mean("test_acc")
        if xv is None or acc is None:
            continue
        lines.setdefault(line(g), []).append((xv, 100 * acc, 100 * (g.std("test_acc") or 0.0)))
    return {k: sorted(v) for k, v in sorted(lines.items())}


def _line_plot(title: str, xlabel: str, lines: dict, log_x: bool = False, ticks_at_data: bool = False) -> bytes:
    fig, ax = _figure(title)
    for label, points in lines.items():
        xs, ys, es = zip(*points)
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label)
    if log_x:
        ax.set_xscale("log")
    if ticks_at_data:   # T = 1, 2, 4, 8 or widths 0.5 ... 10: label the values themselves, not powers of ten
        from matplotlib.ticker import NullFormatter, NullLocator

        values = sorted({p[0] for pts in lines.values() for p in pts})
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(values, [f"{v:g}" for v in values])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ACC)
    ax.legend(fontsize=7)
    return _png(fig)


def _with_several_points(lines: dict) -> dict:
    """Lines along a swept axis: a setting measured at one value of it only says nothing about the trend."""
    return {label: points for label, points in lines.items() if len({p[0] for p in points}) > 1}


def _others(g: Group, drop: str) -> str:
    """The group's label without the plotted variable (what distinguishes its line)."""
    return " ".join(p for p in g.label.split(" ") if not p.startswith(drop + "=")) or g.method


def accuracy_vs_connectivity(title: str, groups: Sequence[Group]) -> bytes | None:
    """One line per method (log x: connectivity spans decades under pruning)."""
    lines = _series(groups, lambda g: g.mean("connectivity"), lambda g: f"{g.method} T={g.T}")
    if len({p[0] for pts in lines.values() for p in pts}) < 2:
        return None
    return _line_plot(title, "connectivity (fraction of non-zero weights, log)", lines, log_x=True)


def accuracy_vs_timesteps(title: str, groups: Sequence[Group]) -> bytes | None:
    lines = _with_several_points(_series(groups, lambda g: g.T, lambda g: _others(g, "T")))
    if not lines:
        return None
    return _line_plot(title, "time steps T (log scale)", lines, log_x=True, ticks_at_data=True)


def accuracy_vs_surrogate_width(title: str, groups: Sequence[Group]) -> bytes | None:
    def others(g: Group) -> str:   # the width's own knobs are what the x axis shows
        return " ".join(p for p in g.label.split(" ") if not p.startswith(("width=", "alpha=")))
    lines = _with_several_points(_series(groups, lambda g: g.surrogate_width, others))
    if not lines:
        return None
    return _line_plot(title, "surrogate width (neuron.width, or 1 / neuron.surrogate.alpha; log scale)", lines,
                      log_x=True, ticks_at_data=True)


def training_curves(title: str, groups: Sequence[Group], key: str = "val_acc", most: int = 12) -> bytes | None:
    """Validation accuracy per epoch, mean over the seeds (band: +- std); the `most` best settings."""
    curves = [(g, *g.curve(key)) for g in groups]
    curves = [c for c in curves if len(c[1]) > 1]
    if not curves:
        return None
    curves.sort(key=lambda c: -(c[2][-1]))
    fig, ax = _figure(title)
    fig.set_size_inches(8.6, 4.2)
    for i, (g, epochs, means, stds) in enumerate(curves[:most]):
        ys = [100 * m for m in means]
        ax.plot(epochs, ys, label=g.label, linestyle=("-", "--")[i // 10 % 2])   # 10 colours, then dashed
        ax.fill_between(epochs, [y - 100 * s for y, s in zip(ys, stds)], [y + 100 * s for y, s in zip(ys, stds)],
                        alpha=0.15)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{key.replace('_acc', '')} accuracy (%)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _png(fig)


def leaderboard_bars(title: str, rows: Sequence[tuple[str, float, float, float, float]]) -> bytes | None:
    """Per method: the val-selected test accuracy beside the test-max one (mean +- std over the final seeds)."""
    if not rows:
        return None
    fig, ax = _figure(title)
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r[1] for r in rows], 0.4, yerr=[r[2] for r in rows], capsize=3,
           label="selected on validation")
    ax.bar([x + 0.2 for x in xs], [r[3] for r in rows], 0.4, yerr=[r[4] for r in rows], capsize=3,
           label="max over epochs (test-selected)", alpha=0.6)
    ax.set_xticks(list(xs), [r[0] for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ACC)
    lo = min(min(r[1], r[3]) for r in rows)
    ax.set_ylim(max(0.0, lo - 10), 100)
    ax.legend(fontsize=7)
    return _png(fig)


def tuning_progress(title: str, lines: dict[str, list[float]]) -> bytes | None:
    """Best objective so far against the trial number, one line per study."""
    lines = {k: v for k, v in lines.items() if any(x == x for x in v)}
    if not lines:
        return None
    fig, ax = _figure(title)
    for label, values in sorted(lines.items()):
        ax.plot(range(1, len(values) + 1), [100 * v for v in values], marker=".", label=label)
    ax.set_xlabel("trial")
    ax.set_ylabel("best validation accuracy so far (%)")
    ax.legend(fontsize=7)
    return _png(fig)
