"""DSR's ImageNet hybrid pipeline (spec dsr_asgl.md A.6): ANN -> calibration -> SNN, on a tiny ImageFolder tree."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from omegaconf import OmegaConf

from snn_methods import build, compose
from snn_methods.errors import CheckpointError, ConfigError
from snn_methods.neurons import spiking_neurons
from snn_methods.ann2snn import run_stages, stage_config
from snn_methods.ann2snn.convert import (InitFromANN, OrderStatistic, activation_percentiles, load_ann_weights,
                                         read_thresholds)

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parent.parent


def write_image_folder(root: Path, per_class: dict[str, int]) -> Path:
    """root/{train,val}/{cat,dog}/*.png: two classes of 40x40 images, dark and bright."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in per_class.items():
        for c, name in enumerate(("cat", "dog")):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = (rng.random((40, 40, 3)) * 120 + 120 * c).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def tiny_overrides(images: Path, experiment: str = "dsr_imagenet_if") -> list[str]:
    """The preset shrunk: 32x32 images, base width 8, T=2, a few steps per stage, one thread."""
    return [f"experiment={experiment}", f"dataset.root={images}", "dataset.val_size=2", "dataset.image_size=32",
            "dataset.resize=36", "dataset.num_workers=0", "model.base_width=8", "T=2", "epochs=1", "batch_size=4",
            "pipeline.ann.epochs=4", "pipeline.ann.batch_size=2", "pipeline.calibrate.num_samples=4",
            "pipeline.calibrate.batch_size=3", "scheduler.warmup_iters=2", "logger=none", "hardware.num_threads=1",
            "train.synops_final=false"]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """`python launch.py experiment=dsr_imagenet_if ...` (stage=all), run once for the module."""
    base = tmp_path_factory.mktemp("chain")
    images = write_image_folder(base / "imagenet", {"train": 6, "val": 3})
    run_dir = base / "run"
    proc = subprocess.run([sys.executable, str(ROOT / "launch.py"), *tiny_overrides(images), f"hydra.run.dir={run_dir}"],
                          cwd=base, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"images": images, "run": run_dir}


# ------------------------------------------------------------------------------------------------ the chain
@pytest.mark.slow
def test_chained_command_runs_three_stages_in_one_run_directory(chain):
    run = chain["run"]
    for path in ("ann/last.pt", "ann/results.json", "calibrate/thresholds.json", "snn/last.pt", "snn/results.json",
                 "results.json", "config.yaml"):
        assert (run / path).is_file(), path
    ann, snn = (json.loads((run / s / "results.json").read_text()) for s in ("ann", "snn"))
    assert (ann["method"], ann["T"], snn["method"], snn["T"]) == ("ann", 1, "dsr", 2)
    top = json.loads((run / "results.json").read_text())
    assert top["final"] == snn["final"] and top["pipeline"]["ann"]["run_dir"] == str(run / "ann")
    # each stage read the previous stage's artefact by path
    snn_cfg = OmegaConf.load(run / "snn" / "config.yaml")
    assert snn_cfg.callbacks.ann_init.ann_checkpoint == str(run / "ann" / "last.pt")
    assert snn_cfg.callbacks.ann_init.thresholds == str(run / "calibrate" / "thresholds.json")
    record = read_thresholds(run / "calibrate" / "thresholds.json")
    assert record["ann_checkpoint"] == str(run / "ann" / "last.pt") and record["num_samples"] == 4
    assert len(record["sites"]) == 20 and all(v >= 0 for v in record["sites"].values())
    assert all(math.isfinite(v) for v in torch.load(run / "snn" / "last.pt", weights_only=True)["model"]["relu1.v_threshold"].flatten().tolist())


@pytest.mark.slow
@pytest.mark.parametrize("experiment,scale", [("dsr_imagenet_if", 1.0), ("dsr_imagenet_lif", 0.05)])
def test_snn_starts_from_the_calibrated_thresholds_and_the_ann_weights(chain, experiment, scale):
    run = chain["run"]
    cfg = stage_config(compose(tiny_overrides(chain["images"], experiment) + [
        f"pipeline.ann_checkpoint={run / 'ann' / 'last.pt'}", f"pipeline.thresholds={run / 'calibrate' / 'thresholds.json'}"]),
        "snn")
    exp = build(cfg)
    exp.callbacks["ann_init"].on_train_start(exp, 0)
    sites = read_thresholds(run / "calibrate" / "thresholds.json")["sites"]
    for name, neuron in spiking_neurons(exp.model):
        assert float(neuron.v_threshold.detach()) == pytest.approx(sites[name] * scale, rel=1e-6)   # x delta_t for LIF
    ann = torch.load(run / "ann" / "last.pt", weights_only=True)["model"]
    state = exp.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in ann.items())         # BN running statistics included
    # a resumed run keeps its trained values: nothing is loaded after epoch 0
    with torch.no_grad():
        exp.model.relu1.v_threshold.fill_(123.0)
    exp.callbacks["ann_init"].on_train_start(exp, 1)
    assert float(exp.model.relu1.v_threshold.detach()) == 123.0


@pytest.mark.slow
def test_a_stage_run_by_itself_reads_the_artefact_given_by_path(chain, tmp_path):
    run = chain["run"]
    cfg = compose(tiny_overrides(chain["images"]) + ["stage=calibrate", f"pipeline.ann_checkpoint={run / 'ann' / 'last.pt'}"])
    res = run_stages(cfg, tmp_path / "cal")
    assert res["sites"] == read_thresholds(run / "calibrate" / "thresholds.json")["sites"]   # deterministic, same input


# ------------------------------------------------------------------------------------------------ errors
def test_stage_without_its_input_artefact_is_one_clear_line(launch, tmp_path):
    proc = launch("experiment=dsr_imagenet_if", "stage=calibrate", "logger=none")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pipeline.ann_checkpoint=PATH" in lines[0] and "stage=ann" in lines[0], proc.stderr


@pytest.mark.parametrize("overrides,error,message", [
    (["stage=snn", "pipeline.ann_checkpoint=/no/ann.pt"], CheckpointError, r"pipeline.ann_checkpoint=/no/ann.pt does not exist"),
    (["stage=snn", f"pipeline.ann_checkpoint={ROOT / 'README.md'}"], ConfigError,
     r"stage=snn reads the thresholds.json .*pipeline.thresholds=PATH"),
    (["stage=all", "pipeline.thresholds=x.json"], ConfigError, r"stage=all makes its own artefacts"),
    (["stage=both"], ConfigError, r"stage='both' is invalid"),
])
def test_stage_errors(overrides, error, message, tmp_path):
    cfg = compose(["experiment=dsr_imagenet_if", "logger=none", *overrides])
    with pytest.raises(error, match=message) as info:
        run_stages(cfg, tmp_path)
    assert "\n" not in str(info.value)


def test_stage_without_a_multi_stage_preset_is_one_clear_line(tiny):
    with pytest.raises(ConfigError, match=r"^stage=ann applies to multi-stage presets only") as info:
        build(tiny("stage=ann"))                       # `stage` is a root key (null), so Hydra accepts the override
    assert "\n" not in str(info.value)


def _ann_checkpoint(tmp_path: Path, base_width: int, neuron: str = "relu") -> tuple[Path, dict]:
    from snn_methods.engine import checkpoints
    from snn_methods.models import create_model
    from snn_methods.neurons import NeuronFactory

    model_cfg = {"_target_": "snn_methods.models.create_model", "name": "dsr_preact_resnet18_imagenet", "base_width": base_width}
    model = create_model("dsr_preact_resnet18_imagenet", neuron=NeuronFactory(compose([f"neuron={neuron}"]).neuron),
                         num_classes=2, input_shape=(3, 32, 32), base_width=base_width)
    path = tmp_path / f"w{base_width}_{neuron}.pt"
    checkpoints.save(path, {"model": model.state_dict(), "config": {"model": model_cfg}})
    return path, model_cfg


def _snn(base_width: int):
    from snn_methods.models import create_model
    from snn_methods.neurons import NeuronFactory

    return create_model("dsr_preact_resnet18_imagenet", neuron=NeuronFactory(compose(["neuron=dsr_if"]).neuron),
                        num_classes=2, input_shape=(3, 32, 32), base_width=base_width)


def test_ann_checkpoint_of_another_architecture_is_refused(tmp_path):
    path, cfg8 = _ann_checkpoint(tmp_path, 8)
    load_ann_weights(_snn(8), path, cfg8)                                 # the right one loads
    cfg16 = {**cfg8, "base_width": 16}
    with pytest.raises(CheckpointError, match=r"was trained as model .* but this run builds"):
        load_ann_weights(_snn(16), path, cfg16)
    bare = tmp_path / "bare.pt"                                           # no config to compare: keys and shapes decide
    torch.save({"state_dict": {f"module.{k}": v for k, v in torch.load(path, weights_only=True)["model"].items()}}, bare)
    load_ann_weights(_snn(8), bare, cfg8)
    with pytest.raises(CheckpointError, match=r"does not fit model dsr_preact_resnet18_imagenet \(other shapes: conv1.weight"):
        load_ann_weights(_snn(16), bare, cfg16)
    snn_path, _ = _ann_checkpoint(tmp_path, 8, neuron="dsr_if")
    with pytest.raises(CheckpointError, match=r"holds spiking thresholds .*it is an SNN checkpoint"):
        load_ann_weights(_snn(8), snn_path, cfg8)


def _thresholds_file(tmp_path: Path, **changes) -> Path:
    names = [n for n, _ in spiking_neurons(_snn(8))]
    record = {"format": 1, "kind": "snn_methods.activation_percentiles", "percentile": 0.999,
              "model": {"_target_": "snn_methods.models.create_model", "name": "dsr_preact_resnet18_imagenet", "base_width": 8},
              "sites": {n: 1.0 + i for i, n in enumerate(names)}}
    record.update(changes)
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps(record))
    return path


class _Exp:
    def __init__(self, model, model_cfg):
        self.model, self.cfg = model, OmegaConf.create({"model": model_cfg})


def test_calibration_file_of_another_architecture_is_refused(tmp_path):
    ann, cfg8 = _ann_checkpoint(tmp_path, 8)
    InitFromANN(str(ann), str(_thresholds_file(tmp_path))).on_train_start(_Exp(_snn(8), cfg8), 0)   # fits
    cfg16 = {**cfg8, "base_width": 16}
    with pytest.raises(CheckpointError, match=r"was calibrated on model .*base_width': 8.* but this run builds"):
        InitFromANN(str(ann), str(_thresholds_file(tmp_path))).on_train_start(_Exp(_snn(16), cfg16), 0)
    other_sites = _thresholds_file(tmp_path, sites={"features.0": 1.0})
    with pytest.raises(CheckpointError, match=r"other activation sites than this model \(in the file only: features.0"):
        InitFromANN(str(ann), str(other_sites)).on_train_start(_Exp(_snn(8), cfg8), 0)


@pytest.mark.parametrize("content,message", [
    ('{"format": 1, "kind": "snn_methods.activation_percentiles", "percentile": 0.999}', r"missing model, sites"),
    ('{"weights": 1}', r"is not a thresholds file of stage=calibrate"),
    ("not json", r"cannot be read"),
])
def test_thresholds_file_with_missing_keys_is_refused(tmp_path, content, message):
    path = tmp_path / "t.json"
    path.write_text(content)
    with pytest.raises(CheckpointError, match=message):
        read_thresholds(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_thresholds(tmp_path / "none.json")


# ------------------------------------------------------------------------------------------------ calibration
@pytest.mark.parametrize("q", [0.999, 0.5, 1.0])
def test_order_statistic_is_exact_and_keeps_only_the_top_values(q):
    torch.manual_seed(0)
    batches = [torch.relu(torch.randn(4, 3, 50, 7)) for _ in range(5)]     # [T=4, N=3, ...], zeros included
    stat = OrderStatistic(q, num_samples=15)
    for b in batches:
        stat.add(b, batch_size=3)
    everything = torch.cat([b.flatten() for b in batches])
    n = everything.numel()
    assert stat.value() == float(everything.sort().values[min(int(q * n), n - 1)])
    assert stat.top.numel() <= n - int(q * n) + 1 < n


def test_calibration_uses_eval_mode_post_relu_outputs_zeros_included():
    from snn_methods.models import create_model
    from snn_methods.neurons import NeuronFactory

    torch.manual_seed(0)
    model = create_model("dsr_preact_resnet18_imagenet", neuron=NeuronFactory({"_target_": "torch.nn.ReLU"}),
                         num_classes=3, input_shape=(3, 32, 32), base_width=8)
    for m in model.modules():                      # running statistics unlike any batch's: eval mode must matter
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    images = [(torch.randn(3, 3, 32, 32), torch.zeros(3)) for _ in range(3)]
    encoder = lambda x: x.unsqueeze(0)             # noqa: E731  (T = 1)
    got = activation_percentiles(model, encoder, images, 0.999, num_samples=9, device=torch.device("cpu"))
    model.eval()
    seen: dict = {}
    for name, m in spiking_neurons(model):
        m.register_forward_hook(lambda mod, i, o, name=name: seen.setdefault(name, []).append(o.flatten()))
    with torch.no_grad():
        for x, _ in images:
            model(encoder(x))
    for name, outs in seen.items():
        v = torch.cat(outs)
        assert got[name] == float(v.sort().values[int(0.999 * v.numel())]), name
    assert model.training is False and len(got) == 20


# ------------------------------------------------------------------------------------------------ configs
def test_stage_configs_follow_the_original_recipes():
    cfg = compose(["experiment=dsr_imagenet_if"])
    ann, snn = stage_config(cfg, "ann"), stage_config(cfg, "snn")
    assert "pipeline" not in ann and "stage" not in snn
    assert (ann.neuron._target_, ann.T, ann.encoder.T, ann.batch_size, ann.epochs, ann.method.name) == (
        "torch.nn.ReLU", 1, 1, 256, 90, "ann")
    assert (ann.optimizer._target_, ann.optimizer.lr, ann.optimizer.momentum, ann.optimizer.weight_decay) == (
        "torch.optim.SGD", 0.1, 0.9, 1e-4)
    for stage in (ann, snn):   # per-epoch cosine, 5000-iteration warm-up within epoch 0
        assert (stage.scheduler.warmup_iters, stage.scheduler.warmup_first_epoch_only) == (5000, True)
    assert (snn.optimizer._target_, snn.optimizer.lr, snn.optimizer.weight_decay, snn.T, snn.encoder.T, snn.batch_size) == (
        "torch.optim.Adam", 1e-3, 0.0, 50, 50, 144)
    assert (snn.neuron.alpha, snn.neuron.v_threshold_bound, snn.neuron.v_threshold_grad_scale) == (0.5, 0.01, 0.001)
    assert snn.model == ann.model and snn.callbacks.ann_init._target_.endswith("InitFromANN")
    assert dict(cfg.pipeline.calibrate) == {"split": "test", "num_samples": 720, "batch_size": 144, "percentile": 0.999}
    lif = stage_config(compose(["experiment=dsr_imagenet_lif"]), "snn")
    assert (lif.neuron.v_threshold_grad_scale, lif.neuron.tau, lif.neuron.delta_t) == (1.0, 1.0, 0.05)


CIFAR = {"lr": 0.1, "T": 20, "epochs": 200, "batch_size": 128}
LIF = {"v_threshold": 0.3, "alpha": 0.3, "v_threshold_bound": 0.0005, "tau": 1.0, "delta_t": 0.05}
IF = {"v_threshold": 6.0, "alpha": 0.5, "v_threshold_bound": 0.01}


@pytest.mark.parametrize("preset,dataset,neuron,recipe,values", [
    ("dsr_cifar10_lif", "cifar10", "DSRLIFNode", CIFAR, LIF),
    ("dsr_cifar10_if", "cifar10", "DSRIFNode", CIFAR, IF),
    ("dsr_cifar100_lif", "cifar100", "DSRLIFNode", CIFAR, LIF),
    ("dsr_cifar100_if", "cifar100", "DSRIFNode", CIFAR, IF),
    ("dsr_cifar10_lif_t5", "cifar10", "DSRLIFNode", {**CIFAR, "T": 5, "lr": 0.05},
     {**LIF, "v_threshold": 0.6, "alpha": 0.5, "v_threshold_bound": 0.001, "delta_t": 0.1}),
    ("dsr_cifar10_if_t5", "cifar10", "DSRIFNode", {**CIFAR, "T": 5, "lr": 0.05}, IF),
])
def test_cifar_presets_are_the_readme_commands(preset, dataset, neuron, recipe, values):
    cfg = compose([f"experiment={preset}"])
    assert (cfg.method.name, cfg.model.name, cfg.dataset.name, cfg.neuron._target_.rsplit(".", 1)[1]) == (
        "dsr", "dsr_preact_resnet18", dataset, neuron)
    assert (cfg.optimizer.lr, cfg.T, cfg.epochs, cfg.batch_size) == (recipe["lr"], recipe["T"], recipe["epochs"],
                                                                     recipe["batch_size"])
    assert (cfg.optimizer._target_, cfg.optimizer.momentum, cfg.optimizer.weight_decay) == ("torch.optim.SGD", 0.9, 5e-4)
    assert (cfg.scheduler.warmup_iters, cfg.scheduler.warmup_first_epoch_only, cfg.loss._target_.rsplit(".", 1)[1]) == (
        400, False, "RateCrossEntropy")
    assert {k: cfg.neuron[k] for k in values} == values and cfg.neuron.v_threshold_grad_scale == 1.0
    if dataset == "cifar100":
        assert list(cfg.dataset.mean) == [0.5071, 0.4867, 0.4408] and list(cfg.dataset.std) == [0.2675, 0.2565, 0.2761]
    header = (ROOT / "conf" / "experiment" / f"{preset}.yaml").read_text()
    assert "python -u cifar/main_single_gpu.py" in header and "Reported" in header
