"""Starting the SNN from the ANN (spec dsr_asgl.md A.6, stage 3): calibrated thresholds, then the ANN's weights."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
from omegaconf import OmegaConf

from snn_methods.engine.callbacks import Callback
from snn_methods.errors import CheckpointError
from snn_methods.neurons import spiking_neurons
from snn_methods.ann2snn.convert import read_thresholds
from snn_methods.reuse.loading import match
from snn_methods.reuse.source import read

if TYPE_CHECKING:
    from snn_methods.api import Experiment

log = logging.getLogger(__name__)
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

    def on_train_start(self, exp: "Experiment", epoch: int) -> None:
        if epoch > 0:
            return
        model_cfg = OmegaConf.to_container(exp.cfg.model, resolve=True)
        assigned = assign_thresholds(exp.model, self.record, model_cfg, str(self.thresholds_path))
        load_ann_weights(exp.model, self.ann_checkpoint, model_cfg)
        log.info("SNN initialised: %d thresholds from %s, weights from %s", len(assigned), self.thresholds_path,
                 self.ann_checkpoint)
