"""`python -m snn_methods.inspect PATH [--json]`: what a checkpoint holds, without building a model or loading data.

PATH is a run directory (its last.pt), a best.pt / last.pt, or a plain state_dict file. Printed: method, model,
neuron, pruning, data set identity, epochs, the metrics recorded at that epoch, per-layer connectivity and
firing rate, library versions and the suite's commit. A plain state_dict has no record of any of these: its
weight tensors (two or more dimensions) are listed with their non-zero fraction instead.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from snn_methods.errors import UserError
from snn_methods.engine.checkpoints import Source, read


def summary(source: Source) -> dict:
    """Plain data describing the checkpoint (what --json prints)."""
    out: dict[str, Any] = {"path": str(source.path), "kind": source.kind, "bytes": source.path.stat().st_size,
                           "tensors": len(source.state), "parameters": int(sum(t.numel() for t in source.state.values()))}
    if source.kind == "checkpoint":
        p, cfg = source.payload, source.config or {}
        node = lambda key: cfg.get(key) or {}  # noqa: E731
        metrics = p.get("metrics") or {}
        layers = metrics.get("layers") or {}
        out.update(
            method=node("method").get("name"), model=node("model").get("name"),
            neuron=node("neuron").get("_target_"), pruning=node("pruning").get("_target_"),
            T=cfg.get("T"), seed=cfg.get("seed"), epoch=p.get("epoch"), epochs=cfg.get("epochs"), step=p.get("step"),
            data=p.get("data"), versions=p.get("versions"), best=p.get("best"), wall_time_s=p.get("wall_time_s"),
            metrics={k: v for k, v in metrics.items() if not isinstance(v, (dict, list))},
            layers={"connectivity": layers.get("connectivity") or {}, "firing_rate": layers.get("firing_rate") or {}},
            init_from=cfg.get("init_from"))
        best_file = source.path.with_name("best.pt")
        if source.path.name == "last.pt" and best_file.is_file():
            out["best_file"] = str(best_file)
    else:
        out["layers"] = {"nonzero_fraction": {k: float((t != 0).float().mean()) for k, t in source.state.items()
                                              if t.dim() >= 2 and t.is_floating_point()}}
    return out


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _table(title: str, name: str, column: str, values: dict[str, float]) -> list[str]:
    if not values:
        return []
    width = max(len(name), *(len(n) for n in values))
    return ([f"{title.ljust(12)}{name.ljust(width)}  {column}"]
            + [f"{'':12}{n.ljust(width)}  {v:.4f}" for n, v in values.items()])


def render(s: dict) -> str:
    kind = "a checkpoint of this suite" if s["kind"] == "checkpoint" else "a plain state_dict"
    lines = [f"checkpoint  {s['path']}  ({kind}, {s['bytes'] / 2**20:.2f} MiB, {s['tensors']} tensors, "
             f"{s['parameters']:,} numbers)"]
    if s["kind"] == "checkpoint":
        data = s.get("data") or {}
        sizes = " / ".join(f"{k} {v}" for k, v in (data.get("sizes") or {}).items())
        lines += [f"method      {s['method']}   model {s['model']}   neuron {s['neuron']}   pruning {s['pruning']}",
                  f"data        {data.get('name')}  ({data.get('split')}; {sizes})",
                  f"training    epoch {s['epoch']} of {s['epochs']}, {s['step']} steps, T {s['T']}, seed {s['seed']}, "
                  f"{s.get('wall_time_s') or 0:.1f} s of training"
                  + (f", initialised from {s['init_from']}" if s.get("init_from") else "")]
        m = s["metrics"]
        keys = ("train_acc", "val_acc", "test_acc", "connectivity", "connectivity_with_bn", "firing_rate", "lr")
        lines.append("metrics     " + "   ".join(f"{k} {_fmt(m[k])}" for k in keys if m.get(k) is not None))
        b = s.get("best") or {}
        if b.get("epoch") is not None:
            lines.append(f"best        val_acc {_fmt(b.get('val_acc'))} at epoch {b['epoch'] + 1} (test_acc "
                         f"{_fmt(b.get('test_acc_at_best_val'))}); max test_acc {_fmt(b.get('test_acc_max'))}"
                         + (f"; saved in {s['best_file']}" if s.get("best_file") else ""))
        v = s.get("versions") or {}
        lines.append("versions    " + ", ".join(f"{k} {v[k]}" for k in v if k != "git_commit")
                     + f"; suite commit {v.get('git_commit')}")
        lines += _table("layers", "layer", "connectivity", s["layers"]["connectivity"])
        lines += _table("neurons", "layer", "firing rate", s["layers"]["firing_rate"])
    else:
        lines.append("no config, versions or metrics (a plain state_dict); evaluate it with "
                     "`launch.py mode=test ckpt=PATH` plus the overrides that describe its model")
        lines += _table("tensors", "weight (2+ dims)", "non-zero fraction", s["layers"]["nonzero_fraction"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snn_methods.inspect", description=__doc__.splitlines()[0])
    parser.add_argument("path", help="a run directory, a best.pt / last.pt, or a state_dict file")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    try:
        s = summary(read(args.path, "path"))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(s, indent=2) if args.json else render(s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
