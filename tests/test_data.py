"""Data sets, splits and encoders."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from snn_methods.data import LoaderSettings
from snn_methods.data.digits import digits
from snn_methods.data.encoders import DirectEncoder, PoissonEncoder
from snn_methods.data.synthetic import synthetic
from snn_methods.data.vision import torchvision_dataset
from snn_methods.errors import ConfigError, DataError


def _labels(loader) -> torch.Tensor:
    return torch.cat([y for _, y in loader])


def test_digits_split_is_fixed_stratified_and_disjoint():
    a, b = digits(loader=LoaderSettings(seed=0)), digits(loader=LoaderSettings(seed=7))
    assert a.info["sizes"] == {"train": 1077, "val": 360, "test": 360}
    for part in ("val", "test"):   # the split does not depend on the run's seed
        assert torch.equal(_labels(getattr(a, part)), _labels(getattr(b, part)))
    counts = torch.bincount(_labels(a.test), minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37      # stratified: ~36 per class
    xs = {tuple(x.flatten().tolist()) for part in (a.train, a.val, a.test) for xb, _ in part for x in xb}
    assert len(xs) >= 1790                                  # disjoint (digits has a few exact duplicates)


def test_train_order_depends_on_seed_and_epoch_only():
    def order(seed, epoch):
        loader = digits(loader=LoaderSettings(seed=seed)).train
        loader.set_epoch(epoch)
        return _labels(loader)
    assert torch.equal(order(0, 3), order(0, 3))
    assert not torch.equal(order(0, 3), order(0, 4))
    assert not torch.equal(order(0, 3), order(1, 3))


def test_missing_torchvision_set_says_where_and_how(tmp_path):
    with pytest.raises(DataError) as info:
        torchvision_dataset(name="mnist", root=str(tmp_path / "nowhere"))
    msg = str(info.value)
    assert str(tmp_path / "nowhere" / "MNIST") in msg and "dataset.download=true" in msg and "dataset.root=" in msg
    assert "\n" not in msg
    assert not (tmp_path / "nowhere").exists()              # nothing half-made left behind


def test_tests_cannot_reach_the_network():
    """conftest's no_network guard: what keeps every test below (downloads included) off the internet."""
    import socket

    with socket.socket() as sock, pytest.raises(OSError, match="tests must not use the network"):
        sock.connect(("93.184.216.34", 80))
    with socket.socket() as server:                    # this machine stays reachable (SLURM, DDP, W&B service)
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            pass


def test_interrupted_download_leaves_nothing_behind(tmp_path, monkeypatch):
    """No network (and none reachable: conftest's no_network): torchvision's own download step is replaced by one
    that writes part of the archive and fails, as a dropped connection would."""
    import torchvision.datasets as tvd

    def interrupted(self):
        (Path(self.root) / "cifar-10-python.tar.gz").write_bytes(b"half an archive")
        raise OSError("connection reset (test)")
    monkeypatch.setattr(tvd.CIFAR10, "download", interrupted)
    with pytest.raises(DataError, match="nothing was kept"):
        torchvision_dataset(name="cifar10", root=str(tmp_path), download=True)
    assert list(tmp_path.iterdir()) == []


def test_finished_download_moves_both_splits_into_the_root(tmp_path):
    from snn_methods.data.vision import _download

    class FakeSet:   # what a torchvision class does with download=True: files under its root
        def __init__(self, root, train, download):
            folder = Path(root) / "fake-batches"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / ("train" if train else "test")).write_text("data")

    (tmp_path / "fake-batches").mkdir()
    (tmp_path / "fake-batches" / "stale").write_text("old")          # an earlier, unfinished copy is replaced
    _download(FakeSet, tmp_path, "fake")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake-batches"]
    assert sorted(p.name for p in (tmp_path / "fake-batches").iterdir()) == ["test", "train"]


def test_synthetic_static_and_temporal_shapes():
    s = synthetic(shape=(2, 6, 6), num_classes=3, train_size=8, val_size=4, test_size=4)
    x, y = next(iter(s.train))
    assert x.shape[1:] == (2, 6, 6) and int(y.max()) < 3 and not s.temporal
    t = synthetic(shape=(2, 6, 6), temporal=True, frames=5, train_size=8, val_size=4, test_size=4)
    x, _ = next(iter(t.train))
    assert x.shape[1:] == (5, 2, 6, 6) and t.temporal and set(x.unique().tolist()) <= {0.0, 1.0}


def test_direct_encoder_broadcasts_static_and_transposes_frames():
    x = torch.randn(3, 1, 4, 4)
    enc = DirectEncoder(T=5)(x)
    assert enc.shape == (5, 3, 1, 4, 4) and enc.stride(0) == 0 and torch.equal(enc[4], x)
    frames = torch.randn(3, 5, 2, 4, 4)
    assert torch.equal(DirectEncoder(T=5, temporal=True)(frames), frames.transpose(0, 1))
    with pytest.raises(ConfigError, match="frames"):
        DirectEncoder(T=4, temporal=True)(frames)


def test_poisson_encoder_rates_follow_intensity():
    torch.manual_seed(0)
    x = torch.tensor([[0.0, 0.25, 1.0]]).expand(2000, 3)
    spikes = PoissonEncoder(T=4)(x)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    rates = spikes.mean(dim=(0, 1))
    assert rates[0] == 0 and rates[2] == 1 and abs(float(rates[1]) - 0.25) < 0.02
