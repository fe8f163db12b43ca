"""Every preset (conf/experiment/*.yaml): its composed config is pinned, and it trains one step.

The pin (tests/fixtures/presets/<preset>.json, written by `python tests/preset_configs.py --write`) keeps the
presets deltas-only without changing what they run: a value may move from a preset into a group default, or a
shared base, only if every composed config stays the same. The smoke test is lightning-hydra-template's
`experiment=glob(*)` test: each preset, on synthetic data of its data set's shape and class count, for one
training step and one evaluation batch on the CPU, so a preset whose pieces do not fit together fails here.
"""
from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf, open_dict

from preset_configs import FIXTURES, composed, dump, presets
from snn_methods import compose, run

PRESETS = presets()

# data set option -> (per-sample shape, classes, temporal); event sets take their frame side from dataset.size.
# ImageNet's images are 64x64 here instead of 224x224 (every ImageNet model pools adaptively before its head):
# the same layers and channels at a twelfth of the cost.
SHAPES = {
    "digits": ((1, 8, 8), 10, False), "mnist": ((1, 28, 28), 10, False), "fashion_mnist": ((1, 28, 28), 10, False),
    "cifar10": ((3, 32, 32), 10, False), "cifar100": ((3, 32, 32), 100, False),
    "imagenet": ((3, 64, 64), 1000, False), "cifar10_dvs": ((2, None, None), 10, True),
    "dvs128_gesture": ((2, None, None), 11, True),
}
# narrower layers where a model has a width option (the structure stays the preset's)
NARROW = {"channels": 8, "fc_hidden": 32, "base_width": 8, "hidden": 16}
# presets that leave a value open on purpose (the original leaves it open): the values their headers suggest
OPEN_VALUES = {"gradr_imagenet_sew18": ["pruning.flat_width=0.1", "pruning.alpha_gr=1e-4"],
               "stds_gradr_cifar10": ["pruning.flat_width=0.05", "pruning.alpha_gr=1.0"]}


def test_every_preset_is_pinned():
    pinned = sorted(p.stem for p in FIXTURES.glob("*.json"))
    assert pinned == PRESETS, "run `python tests/preset_configs.py --write` for a new preset (and read the diff)"


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_composes_to_its_pinned_config(preset):
    want = json.loads((FIXTURES / f"{preset}.json").read_text())
    got = json.loads(dump(composed(preset)))
    assert got == want, f"experiment={preset} composes differently from tests/fixtures/presets/{preset}.json"


def _synthetic(cfg) -> None:
    """Replace the preset's data set by synthetic data of the same shape, class count and kind (static / frames)."""
    shape, classes, temporal = SHAPES[cfg.dataset.name]
    if temporal:
        side = cfg.dataset.get("size") or 128
        shape = (shape[0], side, side)
    data = compose(["dataset=synthetic"]).dataset
    data.update(shape=list(shape), num_classes=classes, temporal=temporal, train_size=4, val_size=2, test_size=2,
                frames="${T}")
    with open_dict(cfg):
        cfg.dataset = data


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_trains_one_step(preset, tiny, tmp_path, one_thread):
    cfg = tiny(f"experiment={preset}", "hardware=cpu", "epochs=1", "batch_size=2", "train.limit_train_batches=1",
               "train.limit_eval_batches=1", "train.synops_final=false", *OPEN_VALUES.get(preset, []))
    _synthetic(cfg)
    with open_dict(cfg):
        for key, value in NARROW.items():
            if isinstance(cfg.model.get(key), int):
                cfg.model[key] = value
        if "widths" in cfg.model:            # ASGL's ResNets: one width per stage
            cfg.model.widths = [8 * 2 ** i for i in range(len(cfg.model.widths))]
    if cfg.get("pipeline") is not None:      # a multi-stage recipe: the same budget in every stage
        for stage in ("ann", "calibrate", "snn"):
            node = cfg.pipeline.get(stage)
            if node is None:
                continue
            with open_dict(node):
                for key, value in (("epochs", 1), ("batch_size", 2), ("num_samples", 2), ("T", None)):
                    if key in node and value is not None:
                        node[key] = value
    res = run(cfg, run_dir=tmp_path / "run")
    assert res["steps"] >= 1 and 0 <= res["final"]["test_acc"] <= 1
    assert res["model"] == OmegaConf.select(cfg, "model.name")
