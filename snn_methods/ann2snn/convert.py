"""ANN -> SNN conversion of DSR's ImageNet recipe (spec dsr_asgl.md A.6): stage 2, threshold calibration of the
trained ANN, and stage 3's start, the SNN's thresholds from that calibration and its weights from the ANN.

Calibration: the trained ANN runs in eval mode (BatchNorm on its running statistics) without gradients on the first
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
import torch.nn as nn
from omegaconf import DictConfig, OmegaConf
from spikingjelly.activation_based import functional
from torch.utils.data import DataLoader, Subset

from snn_methods import results as results_io
from snn_methods.engine.callbacks import Callback
from snn_methods.engine.checkpoints import atomic_write_bytes, match, read
from snn_methods.engine.experiment import Experiment, build
from snn_methods.errors import CheckpointError
from snn_methods.neurons import spiking_neurons

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
    return results_io.calibration(str(path), sites)


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


# ----------------------------------------------------------- stage 3's start: the SNN from the calibration and the ANN
THRESHOLD = "v_threshold"


def _first(items: list, n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def read_ann_weights(path: str | Path) -> tuple[dict, dict | None]:
    """(state dict, the model config it was trained with, or None) from a suite checkpoint or a plain state_dict
    file such as the original's {"state_dict": ...} (wrapper prefixes dropped): the suite's one reader."""
    source = read(path, what="pipeline.ann_checkpoint")
    return source.state, (source.config or {}).get("model")


def load_ann_weights(model: nn.Module, path: str | Path, model_cfg: dict) -> None:
    """Load the ANN's weights (convs, BN with running statistics, fc) into `model`, an ANN or an SNN of the same
    architecture; the SNN's thresholds are not in it and keep their values. Anything else that does not fit is
    a CheckpointError naming the first offending keys."""
    state, trained_as = read_ann_weights(path)
    if trained_as is not None and trained_as != model_cfg:
        raise CheckpointError(f"{path} was trained as model {trained_as} but this run builds {model_cfg}: "
                              f"give the checkpoint of the same architecture")
    spiking = [k for k in state if k.rsplit(".", 1)[-1] == THRESHOLD]
    if spiking:
        raise CheckpointError(f"{path} holds spiking thresholds ({_first(spiking)}): it is an SNN checkpoint, "
                              f"not the ANN's")
    found = match(model, state)
    missing = [k for k in found.missing if k.rsplit(".", 1)[-1] != THRESHOLD]   # the SNN's own thresholds stay
    resized = [f"{k} {a} vs {b}" for k, a, b in found.mismatched]
    if missing or found.unexpected or resized:
        problems = [f"{what}: {_first(keys)}" for what, keys in
                    (("missing", missing), ("unexpected", found.unexpected), ("other shapes", resized)) if keys]
        raise CheckpointError(f"{path} does not fit model {model_cfg.get('name')} ({'; '.join(problems)}): "
                              f"it comes from another architecture")
    model.load_state_dict({k: state[k] for k in found.loaded}, strict=False)


def assign_thresholds(model: nn.Module, record: dict, model_cfg: dict, source: str = "thresholds") -> dict[str, float]:
    """Every neuron's threshold from a calibration record: V = percentile x 1.0 x the neuron's scale (1 for IF,
    delta_t for LIF: `threshold_from_activation`). The record must come from the same architecture."""
    if record["model"] != model_cfg:
        raise CheckpointError(f"{source} was calibrated on model {record['model']} but this run builds {model_cfg}: "
                              f"calibrate the ANN of this architecture")
    neurons = dict(spiking_neurons(model))
    sites = record["sites"]
    if set(sites) != set(neurons):
        raise CheckpointError(f"{source} has other activation sites than this model (in the file only: "
                              f"{_first(sorted(set(sites) - set(neurons)))}; in the model only: "
                              f"{_first(sorted(set(neurons) - set(sites)))}): it comes from another architecture")
    assigned = {}
    for name, neuron in neurons.items():
        if not isinstance(getattr(neuron, THRESHOLD, None), torch.Tensor) or not hasattr(neuron, "threshold_from_activation"):
            raise CheckpointError(f"neuron {name} ({type(neuron).__name__}) has no {THRESHOLD} to calibrate: "
                                  f"use neuron=dsr_if or neuron=dsr_lif")
        value = neuron.threshold_from_activation(sites[name])
        with torch.no_grad():
            getattr(neuron, THRESHOLD).fill_(value)
        assigned[name] = value
    return assigned


class InitFromANN(Callback):
    """Before the first epoch of a fresh run (not after a resume): thresholds from the calibration, then the ANN's
    weights loaded around them -- the original's order (its ANN state dict has no thresholds, so they stay)."""

    def __init__(self, ann_checkpoint: str, thresholds: str):
        if not ann_checkpoint or not Path(ann_checkpoint).is_file():
            raise CheckpointError(f"ANN checkpoint {ann_checkpoint} does not exist: give the last.pt of a stage=ann run")
        self.ann_checkpoint, self.thresholds_path = Path(ann_checkpoint), Path(thresholds)
        self.record = read_thresholds(thresholds)

    def on_train_start(self, exp: Experiment, epoch: int) -> None:
        if epoch > 0:
            return
        model_cfg = OmegaConf.to_container(exp.cfg.model, resolve=True)
        assigned = assign_thresholds(exp.model, self.record, model_cfg, str(self.thresholds_path))
        load_ann_weights(exp.model, self.ann_checkpoint, model_cfg)
        log.info("SNN initialised: %d thresholds from %s, weights from %s", len(assigned), self.thresholds_path,
                 self.ann_checkpoint)
