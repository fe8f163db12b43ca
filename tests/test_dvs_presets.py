"""Every method's CIFAR10-DVS preset composes with the event data set and trains a debug epoch on generated
AEDAT recordings (no download): the preset's split, frame pipeline and model fit together."""
from __future__ import annotations

import shutil

import pytest
import torch

from snn_methods.api import run
from snn_methods.data.event_files import make_cifar10_dvs

# preset -> (split rule, pipeline) it must select
PRESETS = {
    "dsr_cifar10dvs_lif": ("first900", "dsr"),
    "dsr_cifar10dvs_if": ("first900", "dsr"),
    "ratebp_cifar10dvs_vggsnn": ("folders", "ratebp"),
    "asgl_cifar10dvs_vggsnn2": ("folders", "asgl"),
    "asgl_cifar10dvs_vggsnn2_sg": ("folders", "asgl"),
    "ratebp_cifar10dvs_vggsnn_bptt": ("folders", "ratebp"),
}


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar10_dvs")
    make_cifar10_dvs(root, per_class=10, events=120)
    return root / "extract"


def _pre_framed(pt_root, frames: int) -> None:
    """The folders layout (rate-BP / ASGL / TET): {train,test}/<i>.pt holding (frames [T, 2, H, W], label)."""
    gen = torch.Generator().manual_seed(0)
    for part, n in (("train", 20), ("test", 10)):
        (pt_root / part).mkdir(parents=True)
        for i in range(n):
            torch.save([torch.randint(0, 3, (frames, 2, 32, 32), generator=gen).float(), torch.tensor([float(i % 10)])],
                       pt_root / part / f"{i}.pt")


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_dvs_preset_trains_on_generated_recordings(preset, extract, tiny, tmp_path, one_thread):
    root = tmp_path / "CIFAR10DVS"
    shutil.copytree(extract, root / "extract")
    cfg = tiny(f"experiment={preset}", f"dataset.root={root}", "dataset.num_workers=0", "epochs=1",
               "train.limit_train_batches=1", "train.limit_eval_batches=1", "batch_size=8",
               "dataset.train_files_per_class=8",   # first900 on 10 recordings per class: 8 train, 2 test
               "hardware=cpu")
    split, pipeline = PRESETS[preset]
    if split == "folders":
        _pre_framed(root / "events_pt", frames=cfg.T)
    assert (cfg.dataset.name, cfg.dataset.split, cfg.dataset.pipeline) == ("cifar10_dvs", split, pipeline)
    res = run(cfg, run_dir=tmp_path / "run")
    assert res["data"]["split_rule"] == split and res["data"]["pipeline"] == pipeline
    assert res["data"]["frames"] == cfg.T == 2
    assert 0 <= res["final"]["test_acc"] <= 1
