"""Every method's CIFAR10-DVS preset composes with the event data set and trains a debug epoch on generated
AEDAT recordings (no download): the preset's split, frame pipeline and model fit together."""
from __future__ import annotations

import shutil

import pytest

from snn_methods.api import run
from snn_methods.data.event_files import make_cifar10_dvs

# preset -> (split rule, pipeline) it must select
PRESETS = {
    "dsr_cifar10dvs_lif": ("first900", "dsr"),
    "dsr_cifar10dvs_if": ("first900", "dsr"),
}


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar10_dvs")
    make_cifar10_dvs(root, per_class=10, events=120)
    return root / "extract"


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_dvs_preset_trains_on_generated_recordings(preset, extract, tiny, tmp_path, one_thread):
    root = tmp_path / "CIFAR10DVS"
    shutil.copytree(extract, root / "extract")
    cfg = tiny(f"experiment={preset}", f"dataset.root={root}", "dataset.num_workers=0", "epochs=1",
               "train.limit_train_batches=1", "train.limit_eval_batches=1", "batch_size=8",
               "dataset.train_files_per_class=8")   # first900 on 10 recordings per class: 8 train, 2 test
    split, pipeline = PRESETS[preset]
    assert (cfg.dataset.name, cfg.dataset.split, cfg.dataset.pipeline) == ("cifar10_dvs", split, pipeline)
    res = run(cfg, run_dir=tmp_path / "run")
    assert res["data"]["split_rule"] == split and res["data"]["pipeline"] == pipeline
    assert res["data"]["frames"] == cfg.T == 2
    assert 0 <= res["final"]["test_acc"] <= 1
