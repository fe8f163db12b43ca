"""Training-step time and memory of an SNN config, and of its dense ANN twin run T times.

    python bench/step_time.py [OVERRIDES...] [--steps 20] [--warmup 3] [--threads N] [--json out.json]
    python bench/step_time.py model=spiking_vgg11 dataset=synthetic T=4 batch_size=16
    python bench/step_time.py --compile [--compile-mode M] --backend inductor [OVERRIDES...]   (eager vs compiled vs backend)

The ANN twin is the same model built with ReLU in place of every spiking neuron, fed one time step.
Printed: median wall and CPU time per step, activation memory (bytes autograd saves for backward, counted
once per storage), peak memory (CUDA allocator peak on a GPU; process peak RSS on the CPU), and the ratio
SNN step / (T x ANN step); with --compile / --backend the same for the compiled SNN and for the SNN with that
neuron backend, and the compile time (spent in the warm-up steps, apart from the timed ones). Figures only: nothing
here asserts a speed.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from snn_methods import build, compose  # noqa: E402
from snn_methods.api import _instantiate  # noqa: E402
from snn_methods.data.encoders import DirectEncoder  # noqa: E402
from snn_methods.metrics import peak_memory_mb, reset_peak_memory  # noqa: E402


class SavedBytes:
    """Counts the bytes autograd keeps for backward (each storage once); storages of `exclude` (e.g. the model's
    parameters, to count activations only) are not counted."""

    def __init__(self, exclude=()):
        self.bytes, self._seen = 0, {(t.untyped_storage().data_ptr(), t.device) for t in exclude}

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        key = (t.untyped_storage().data_ptr(), t.device)
        if key not in self._seen:
            self._seen.add(key)
            self.bytes += t.untyped_storage().nbytes()
        return t

    @staticmethod
    def unpack(t: torch.Tensor) -> torch.Tensor:
        return t


def time_training_steps(model, optimizer, rule, loss_fn, precision, x, y, device, steps: int, warmup: int,
                        exclude_parameters: bool = False) -> dict:
    from spikingjelly.activation_based import functional

    wall, cpu = [], []
    saved = SavedBytes(model.parameters() if exclude_parameters else ())
    reset_peak_memory(device)
    for i in range(warmup + steps):
        functional.reset_net(model)
        optimizer.zero_grad(set_to_none=True)
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        if i == warmup:
            with torch.autograd.graph.saved_tensors_hooks(saved.pack, saved.unpack):
                rule.step(model, x, y, loss_fn, precision)
        else:
            rule.step(model, x, y, loss_fn, precision)
        precision.step(optimizer, model.parameters(), None)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            wall.append(time.perf_counter() - t_wall)
            cpu.append(time.process_time() - t_cpu)
    functional.reset_net(model)
    return {"wall_ms": 1e3 * statistics.median(wall), "cpu_ms": 1e3 * statistics.median(cpu),
            "saved_mb": saved.bytes / 2**20, "peak_mb": peak_memory_mb(device)["mb"]}


def _time_snn(overrides: list[str], steps: int, warmup: int):
    from snn_methods.engine.compile import compile_seconds

    cfg = compose(["logger=none", *overrides])
    exp = build(cfg)
    x, y = next(iter(exp.data.train))
    x, y = x.to(exp.device), y.to(exp.device)
    compiling = compile_seconds()
    r = time_training_steps(exp.model, exp.optimizer, exp.rule, exp.loss_fn, exp.precision, exp.encoder(x), y,
                            exp.device, steps, warmup)
    r["compile_s"] = compile_seconds() - compiling   # in the warm-up steps, not in the timed ones
    return cfg, exp, x, y, r


def measure(overrides: list[str], steps: int = 20, warmup: int = 3, compile_mode: str | None = None,
            backend: str | None = None) -> dict:
    """The SNN eager (`snn`), its ANN twin (`ann`), and the variants asked for: compiled (hardware.compile with
    `compile_mode`) and / or another neuron backend, each with its SNN / (T x ANN) ratios."""
    cfg, exp, x, y, snn = _time_snn(overrides, steps, warmup)
    ann = _instantiate(cfg.model, neuron=lambda **_: nn.ReLU(), num_classes=exp.data.num_classes,
                       input_shape=list(exp.data.input_shape)).to(exp.device)
    ann_opt = _instantiate(cfg.optimizer)(ann.parameters())
    ann_x = DirectEncoder(T=1, temporal=False)(x) if not exp.data.temporal else exp.encoder(x)[:1]
    ann_res = time_training_steps(ann, ann_opt, exp.rule, exp.loss_fn, exp.precision, ann_x, y, exp.device, steps, warmup)
    T = cfg.T
    variants = {}
    if compile_mode:
        variants[f"compiled ({compile_mode})"] = _time_snn(
            [*overrides, "hardware.compile=true", f"hardware.compile_mode={compile_mode}"], steps, warmup)[-1]
    if backend:
        variants[f"backend {backend}"] = _time_snn([*overrides, f"neuron.backend={backend}"], steps, warmup)[-1]
    for v in variants.values():
        v.update(ratio_wall=v["wall_ms"] / (T * ann_res["wall_ms"]), ratio_cpu=v["cpu_ms"] / (T * ann_res["cpu_ms"]),
                 vs_eager_wall=v["wall_ms"] / snn["wall_ms"])
    return {"config": {"model": cfg.model.name, "neuron": cfg.neuron._target_.rsplit(".", 1)[1], "T": T,
                       "batch_size": cfg.batch_size, "dataset": cfg.dataset.name, "method": cfg.method.name,
                       "device": str(exp.device), "threads": torch.get_num_threads()},
            "snn": snn, "ann": ann_res, "variants": variants,
            "ratio_wall": snn["wall_ms"] / (T * ann_res["wall_ms"]), "ratio_cpu": snn["cpu_ms"] / (T * ann_res["cpu_ms"])}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="config overrides, as for launch.py")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 gives steadier CPU figures)")
    parser.add_argument("--compile", action="store_true", help="also time the compiled SNN (hardware.compile)")
    parser.add_argument("--compile-mode", default="default", help="default, reduce-overhead or max-autotune")
    parser.add_argument("--backend", default=None, help="also time the SNN with this neuron.backend (e.g. inductor)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    r = measure(args.overrides, args.steps, args.warmup, args.compile_mode if args.compile else None, args.backend)
    c = r["config"]
    print(f"{c['model']} / {c['neuron']} / {c['method']}  T={c['T']}  batch={c['batch_size']}  "
          f"{c['dataset']}  on {c['device']} ({c['threads']} threads)")
    peak = "GPU peak MB" if c["device"].startswith("cuda") else "proc RSS MB"   # on the CPU: the whole process
    print(f"{'':24s}{'wall ms':>10s}{'cpu ms':>10s}{'saved MB':>11s}{peak:>14s}{'compile s':>11s}{'/ (T x ANN)':>13s}")
    rows = [("SNN eager", r["snn"], r["ratio_wall"]), ("ANN", r["ann"], None),
            *((f"SNN {name}", v, v["ratio_wall"]) for name, v in r["variants"].items())]
    for name, m, ratio in rows:
        print(f"{name:24s}{m['wall_ms']:10.2f}{m['cpu_ms']:10.2f}{m['saved_mb']:11.2f}{m['peak_mb']:14.1f}"
              f"{m.get('compile_s', 0.0):11.1f}{'' if ratio is None else f'{ratio:13.2f}'}")
    print(f"SNN step / (T x ANN step): wall {r['ratio_wall']:.2f}, cpu {r['ratio_cpu']:.2f}")
    for name, v in r["variants"].items():
        print(f"SNN {name} / eager: wall {v['vs_eager_wall']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2))
    return r


if __name__ == "__main__":
    main()
