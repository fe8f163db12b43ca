"""Runs and their groups: every results.json under the given directories, with the config beside it.

A *group* is one setting of one (dataset, model): the method, T and every config value that differs between
the runs except the seed; its runs (the seeds) are aggregated as mean +- standard deviation.
"""
from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path
from typing import Any, Iterable, Iterator

from snn_methods.results import read
from snn_methods.values import is_finite_number

# config keys that say where / how a run ran or was reported, not what it is
NOISE = ("seed", "resume", "paths", "hardware", "launcher", "logger", "train.progress", "objective", "callbacks")

METRICS = {   # column -> where it is in results.json
    "test_acc": ("final", "test_acc"),
    "test_acc_at_best_val": ("best", "test_acc_at_best_val"),
    "test_acc_max": ("best", "test_acc_max"),      # the seeds' convention (max test accuracy over epochs)
    "connectivity": ("final", "connectivity"),
    "firing_rate": ("final", "firing_rate"),
    "synops_per_sample": ("final", "synops_per_sample"),
    "energy_pj_per_sample": ("final", "energy_pj_per_sample"),
    "wall_time_s": ("wall_time_s",),
}


@dataclasses.dataclass
class Run:
    path: Path                     # the run directory
    results: dict
    config: dict                   # flattened resolved config ("a.b.c" -> value); {} if config.yaml is missing

    def metric(self, name: str) -> float | None:
        node: Any = self.results
        for part in METRICS[name]:
            node = node.get(part) if isinstance(node, dict) else None
        return node

    @property
    def table(self) -> tuple[str, str]:
        return self.results["dataset"], self.results["model"]

    @property
    def surrogate_width(self) -> float | None:
        """The width of the surrogate gradient: `neuron.width` (ASGL's), else 1 / `neuron.surrogate.alpha`
        (SpikingJelly's alpha is a sharpness: its sigmoid with alpha = 1/w is the plain-SG baseline of width w)."""
        if isinstance(self.config.get("neuron.width"), (int, float)):
            return float(self.config["neuron.width"])
        alpha = self.config.get("neuron.surrogate.alpha")
        return 1.0 / alpha if isinstance(alpha, (int, float)) and alpha > 0 else None


@dataclasses.dataclass
class Group:
    dataset: str
    model: str
    method: str
    T: int
    settings: tuple[tuple[str, Any], ...]     # the other config values that distinguish it, as (key, value)
    runs: list[Run]

    @property
    def label(self) -> str:
        names = [_name(k) for k, _ in self.settings]
        short = [n.split(".")[-1] if [m.split(".")[-1] for m in names].count(n.split(".")[-1]) == 1 else n
                 for n in names]
        return " ".join([self.method, f"T={self.T}"] + [f"{n}={_fmt(v)}" for n, (_, v) in zip(short, self.settings)
                                                         if v is not None])

    def values(self, name: str) -> list[float]:
        return [v for v in (r.metric(name) for r in self.runs) if is_finite_number(v)]

    def mean(self, name: str) -> float | None:
        values = self.values(name)
        return statistics.fmean(values) if values else None

    def std(self, name: str) -> float | None:
        values = self.values(name)
        return statistics.stdev(values) if len(values) > 1 else None

    @property
    def seeds(self) -> list[int]:
        return sorted(r.results["seed"] for r in self.runs)

    @property
    def surrogate_width(self) -> float | None:
        return self.runs[0].surrogate_width

    def curve(self, key: str = "val_acc") -> tuple[list[int], list[float], list[float]]:
        """Per-epoch mean and std over the seeds of a history value (epochs that every seed has)."""
        histories = [r.results.get("history") or [] for r in self.runs]
        n = min(len(h) for h in histories) if histories else 0
        epochs, means, stds = [], [], []
        for e in range(n):
            vals = [h[e].get(key) for h in histories if isinstance(h[e].get(key), (int, float))]
            if vals:
                epochs.append(e + 1)
                means.append(statistics.fmean(vals))
                stds.append(statistics.stdev(vals) if len(vals) > 1 else 0.0)
        return epochs, means, stds


def _name(key: str) -> str:
    """A setting's display name: `neuron.surrogate._target_` is the choice `neuron.surrogate`."""
    return key[: -len("._target_")] if key.endswith("._target_") else key


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str) and "." in value and "/" not in value:   # a _target_: its class name
        return value.rsplit(".", 1)[-1]
    return str(value)


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(node, list):   # e.g. hidden sizes: one value
        out[prefix] = tuple(node) if all(not isinstance(v, (dict, list)) for v in node) else repr(node)
    else:
        out[prefix] = node
    return out


def files_named(dirs: Iterable[str | Path], name: str) -> Iterator[Path]:
    """Every file called `name` under `dirs`, each once (overlapping directories name a file once)."""
    seen = set()
    for d in dirs:
        for path in sorted(Path(d).rglob(name)):
            if path.resolve() not in seen:
                seen.add(path.resolve())
                yield path


def find_runs(dirs: Iterable[str | Path]) -> list[Run]:
    """Every complete results.json under `dirs` (partial or unfinished runs are left out)."""
    import yaml

    runs = []
    for path in files_named(dirs, "results.json"):
        results = read(path)
        if results is None:
            continue
        cfg_path = path.parent / "config.yaml"
        config = flatten(yaml.safe_load(cfg_path.read_text()) or {}) if cfg_path.is_file() else {}
        runs.append(Run(path.parent, results, config))
    return runs


def _noise(key: str) -> bool:
    return any(key == n or key.startswith(n + ".") for n in NOISE)


def _determined_by(runs: list[Run], key: str, by: Any) -> bool:
    """True when the value of `key` is the same for all runs that share by(run)."""
    seen: dict[Any, Any] = {}
    for r in runs:
        k, v = by(r), r.config.get(key)
        if seen.setdefault(k, v) != v:
            return False
    return True


def setting_keys(runs: list[Run]) -> list[str]:
    """Config keys that distinguish runs of one table beyond (method, T, seed): the swept knobs."""
    keys = sorted({k for r in runs for k in r.config if not _noise(k)})
    varying = [k for k in keys if len({repr(r.config.get(k)) for r in runs}) > 1]
    return [k for k in varying
            if not _determined_by(runs, k, lambda r: (r.results["method"], r.results["T"]))]


def group_runs(runs: list[Run]) -> dict[tuple[str, str], list[Group]]:
    """(dataset, model) -> its groups, ordered by method, then T, then the settings."""
    tables: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        tables.setdefault(r.table, []).append(r)
    out: dict[tuple[str, str], list[Group]] = {}
    for (dataset, model), members in sorted(tables.items()):
        keys = setting_keys(members)
        groups: dict[tuple, Group] = {}
        for r in members:
            settings = tuple((k, r.config.get(k)) for k in keys)
            ident = (r.results["method"], r.results["T"], repr(settings))
            groups.setdefault(ident, Group(dataset, model, r.results["method"], r.results["T"], settings, [])).runs.append(r)
        out[(dataset, model)] = sorted(groups.values(), key=lambda g: (g.method, g.T, repr(g.settings)))
    return out
