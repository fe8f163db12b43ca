"""Threshold calibration of the ANN -> SNN pipeline (spec dsr_asgl.md A.6, stage 2).

The trained ANN runs in eval mode (BatchNorm on its running statistics) without gradients on the first
`num_samples` images of a split, unshuffled; every activation site (each ReLU of the model, i.e. each future
spiking neuron) records its post-ReLU output, zeros included. The statistic per site is the original's order
statistic: the value at ascending index floor(q * n) of all n recorded values (q = 0.999). The original draws it
from a random subsample of at most 1e6 values of a 1e7 reservoir; here it is exact, and memory-bounded: only the
largest n_max - floor(q * n_max) values of each site are kept while streaming (n_max = the site's values for all
samples), which always contain the one asked for.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Subset

from snn_methods.engine.checkpoints import atomic_write_bytes
from snn_methods.errors import CheckpointError

log = logging.getLogger(__name__)

THRESHOLDS_FILE = "thresholds.json"
KIND = "snn_methods.activation_percentiles"
FORMAT = 1
REQUIRED_KEYS = ("format", "kind", "percentile", "model", "sites")


class OrderStatistic:
    """The value at ascending index floor(q * n) of a stream of n values (n unknown up front, at most
    values-per-sample x `num_samples`), keeping only the largest values that can still be that one."""

    def __init__(self, q: float, num_samples: int):
        self.q, self.num_samples = float(q), int(num_samples)
        self.n, self.keep, self.top = 0, None, None

    def add(self, values: torch.Tensor, batch_size: int) -> None:
        flat = values.detach().flatten().float()
        if self.keep is None:
            n_max = flat.numel() // batch_size * self.num_samples
            self.keep = max(1, n_max - int(self.q * n_max))
        self.n += flat.numel()
        pool = flat if self.top is None else torch.cat([self.top, flat])
        self.top = pool.topk(self.keep, sorted=False).values if pool.numel() > self.keep else pool

    def value(self) -> float:
        if self.n == 0:
            raise ValueError("no values were recorded")
        index = min(int(self.q * self.n), self.n - 1)      # ascending index among all n values
        rank = self.n - 1 - index                           # the same element, counted from the largest
        if rank >= self.top.numel():
            raise ValueError("more values were recorded than announced (num_samples)")
        return float(self.top.sort(descending=True).values[rank])


def _split(data: Any, split: str) -> Any:
    return {"train": data.train, "val": data.val, "test": data.test}[split]


def activation_percentiles(model: torch.nn.Module, encoder: Any, loader: DataLoader, q: float, num_samples: int,
                           device: torch.device) -> dict[str, float]:
    """Per activation site (the model's neurons, here ReLUs), the q order statistic of its outputs."""
    from spikingjelly.activation_based import functional

    from snn_methods.neurons import spiking_neurons

    stats = {name: OrderStatistic(q, num_samples) for name, _ in spiking_neurons(model)}
    handles = [module.register_forward_hook(lambda m, i, out, name=name: stats[name].add(out, out.shape[1]))
               for name, module in spiking_neurons(model)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for x, _ in loader:
                functional.reset_net(model)
                model(encoder(x.to(device)))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {name: s.value() for name, s in stats.items()}


def calibrate(cfg: DictConfig, settings: DictConfig, ann_checkpoint: Path, run_dir: Path) -> dict:
    """Stage `calibrate`: build the ANN of `cfg`, load its trained weights, write RUN/thresholds.json."""
    from snn_methods.api import build
    from snn_methods.ann2snn.ann_to_snn import load_ann_weights
    from snn_methods.results import FINAL_KEYS

    exp = build(cfg)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    load_ann_weights(exp.model, ann_checkpoint, model_cfg)
    dataset = _split(exp.data, settings.split).dataset
    n = min(int(settings.num_samples), len(dataset))
    loader = DataLoader(Subset(dataset, range(n)), batch_size=int(settings.batch_size), shuffle=False,
                        num_workers=_split(exp.data, settings.split).num_workers)
    sites = activation_percentiles(exp.model, exp.encoder, loader, settings.percentile, n, exp.device)
    record = {"format": FORMAT, "kind": KIND, "percentile": float(settings.percentile), "split": settings.split,
              "num_samples": n, "dataset": cfg.dataset.name, "model": model_cfg,
              "ann_checkpoint": str(ann_checkpoint), "sites": sites}
    path = Path(run_dir) / THRESHOLDS_FILE
    if exp.dist.is_main:   # every rank measured the same images; one writes, the others wait until it is there
        text = json.dumps(record, indent=2)
        atomic_write_bytes(path, lambda f: f.write(text.encode()))
    exp.dist.broadcast(None)
    log.info("calibrated %d sites on %d %s images -> %s", len(sites), n, settings.split, path)
    return {"stage": "calibrate", "thresholds": str(path), "sites": sites, "final": dict.fromkeys(FINAL_KEYS)}


def read_thresholds(path: str | Path) -> dict:
    """A calibration file, checked for the keys the SNN stage needs (CheckpointError otherwise)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"thresholds file {path} does not exist: give the thresholds.json of a stage=calibrate run")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"thresholds file {path} cannot be read ({type(e).__name__}): "
                              f"give the thresholds.json of a stage=calibrate run") from None
    missing = [k for k in REQUIRED_KEYS if not isinstance(record, dict) or k not in record]
    if missing or record.get("kind") != KIND:
        raise CheckpointError(f"{path} is not a thresholds file of stage=calibrate (missing {', '.join(missing) or 'kind'}): "
                              f"give the thresholds.json of a stage=calibrate run")
    return record
