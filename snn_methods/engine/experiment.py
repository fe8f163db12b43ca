"""What a run is made of: `build` turns a config into an `Experiment`, every piece instantiated (seeded, on the
configured device) and nothing trained yet. `snn_methods.api.build` is this function."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch
import torch.nn as nn
from hydra.errors import InstantiationException
from hydra.utils import instantiate as hydra_instantiate
from omegaconf import DictConfig, OmegaConf

from snn_methods import results as results_io
from snn_methods.config import validate
from snn_methods.data import DataBundle, LoaderSettings
from snn_methods.engine import distributed, hardware
from snn_methods.engine.checkpoints import load_and_prepare
from snn_methods.engine.compile import compile_model
from snn_methods.engine.distributed import Distributed
from snn_methods.errors import UserError
from snn_methods.neurons import NeuronFactory
from snn_methods.neurons.backends import apply_backend
from snn_methods.precision import Precision


@dataclasses.dataclass
class Experiment:
    """Everything a run needs, instantiated but not trained."""

    cfg: DictConfig
    device: torch.device
    data: DataBundle
    neuron: NeuronFactory
    model: nn.Module
    pruning: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    rule: Any
    encoder: Callable[[torch.Tensor], torch.Tensor]
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    precision: Precision
    versions: dict
    callbacks: dict = dataclasses.field(default_factory=dict)   # name -> engine Callback
    dist: Distributed = dataclasses.field(default_factory=Distributed)   # rank / world size (DDP), or one process
    train_model: nn.Module | None = None     # what the gradient rule calls: DDP around `model` (None: `model`)
    init_source: dict | None = None          # init_from: the provenance of the starting weights (results.json)

    def config_dict(self) -> dict:
        return OmegaConf.to_container(self.cfg, resolve=True)


def instantiate(node: DictConfig, **kwargs: Any) -> Any:
    """hydra.utils.instantiate with plain Python containers, and our own errors re-raised as they are."""
    try:
        return hydra_instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        while cause is not None and not isinstance(cause, UserError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise


def build(cfg: DictConfig) -> Experiment:
    """Validate the config and instantiate every piece (seeded, on the configured device)."""
    validate(cfg)
    hw = cfg.hardware
    device = hardware.resolve_device(hw.device)
    dist, device = distributed.setup(hw, device)
    hardware.configure(device, deterministic=cfg.deterministic, cudnn_benchmark=hw.cudnn_benchmark,
                       num_threads=hw.num_threads)
    hardware.seed_everything(cfg.seed)
    pin = device.type == "cuda" if hw.pin_memory == "auto" else bool(hw.pin_memory)
    data = instantiate(cfg.dataset, _partial_=True)(
        loader=LoaderSettings(batch_size=distributed.per_process_batch(cfg.batch_size, dist), seed=cfg.seed,
                              pin_memory=pin, rank=dist.rank, world_size=dist.world_size))
    neuron = NeuronFactory(cfg.neuron)
    model = instantiate(cfg.model, neuron=neuron, num_classes=data.num_classes, input_shape=list(data.input_shape))
    model.to(device)
    apply_backend(cfg.neuron.get("backend", "auto"), model, device)
    pruning = instantiate(cfg.pruning)
    loaded = load_and_prepare(model, pruning, cfg)   # init_from's weights, then pruning.prepare_model (checkpoints.py)
    optimizer = pruning.make_optimizer(model, instantiate(cfg.optimizer))
    limit = cfg.train.limit_train_batches
    steps_per_epoch = len(data.train) if limit is None else min(limit, len(data.train))
    pruning.plan(epochs=cfg.epochs, steps_per_epoch=steps_per_epoch)
    scheduler = instantiate(cfg.scheduler)(optimizer, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch)
    exp = Experiment(cfg=cfg, device=device, data=data, neuron=neuron, model=model, pruning=pruning,
                     optimizer=optimizer, scheduler=scheduler, rule=instantiate(cfg.method.rule),
                     encoder=instantiate(cfg.encoder, temporal=data.temporal), loss_fn=instantiate(cfg.loss),
                     precision=Precision(device, hw.amp, hw.amp_dtype), versions=results_io.versions(),
                     callbacks={name: instantiate(node) for name, node in (cfg.get("callbacks") or {}).items()},
                     dist=dist, train_model=dist.wrap(model, device, hw.get("find_unused_parameters", False)),
                     init_source=loaded.source if loaded else None)
    if hw.get("compile"):
        compile_model(model, exp.rule, hw.get("compile_mode", "default"), hw.get("compile_backend", "inductor"))
    return exp
