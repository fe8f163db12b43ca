"""The training loop end to end on tiny configs: outputs, checkpoints, resume, determinism, failures."""
from __future__ import annotations

import json

import pytest
import torch

from snn_methods import build, run
from snn_methods.engine import checkpoints, loop
from snn_methods.errors import CheckpointError, TrainingDiverged
from snn_methods.results import FINAL_KEYS, is_complete


def test_tiny_run_writes_results_checkpoints_and_config(tiny, tmp_path):
    results = run(tiny(), run_dir=tmp_path)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert is_complete(on_disk) and on_disk["final"]["test_acc"] == results["final"]["test_acc"]
    assert (on_disk["method"], on_disk["model"], on_disk["dataset"], on_disk["T"]) == ("bptt", "mlp", "digits", 2)
    for key in FINAL_KEYS:
        assert on_disk["final"][key] is not None, key
    assert 0 <= on_disk["final"]["test_acc"] <= 1 and on_disk["final"]["connectivity"] == 1.0
    assert len(on_disk["history"]) == 2 and on_disk["versions"]["torch"]
    assert {"last.pt", "best.pt", "config.yaml"} <= {p.name for p in tmp_path.iterdir()}
    assert not list(tmp_path.glob("*.tmp"))
    ck = checkpoints.load(tmp_path / "last.pt")        # weights_only=True: plain data only
    assert ck["epoch"] == 2 and ck["config"]["T"] == 2 and "model" in ck and "rng" in ck


def test_build_gives_the_documented_pieces(tiny):
    exp = build(tiny())
    assert callable(exp.neuron) and exp.neuron().step_mode == "m"
    assert isinstance(exp.optimizer, torch.optim.Adam) and exp.rule.__class__.__name__ == "BPTT"
    assert exp.pruning.name == "none" and len(exp.data.train) > 0
    x, _ = next(iter(exp.data.train))
    assert exp.model(exp.encoder(x)).shape == (exp.cfg.T, x.shape[0], 10)


def _history(results):
    return [{k: v for k, v in h.items() if k not in ("epoch_time_s", "samples_per_s")} for h in results["history"]]


def test_resumed_run_equals_uninterrupted(tiny, tmp_path, monkeypatch):
    # Poisson coding draws from the global RNG every batch: resuming must restore it exactly
    overrides = ["epochs=4", "encoder=poisson", "dataset.normalize=false", "scheduler=cosine"]
    whole = run(tiny(*overrides), run_dir=tmp_path / "whole")

    real_train_epoch, calls = loop.train_epoch, {"n": 0}

    def killed_after_two_epochs(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated kill")
        return real_train_epoch(*args, **kwargs)
    monkeypatch.setattr(loop, "train_epoch", killed_after_two_epochs)
    with pytest.raises(KeyboardInterrupt):
        run(tiny(*overrides), run_dir=tmp_path / "cut")
    assert checkpoints.load(tmp_path / "cut" / "last.pt")["epoch"] == 2
    monkeypatch.setattr(loop, "train_epoch", real_train_epoch)
    resumed = run(tiny(*overrides, "resume=auto"), run_dir=tmp_path / "cut")

    assert _history(resumed) == _history(whole)
    assert resumed["final"]["test_acc"] == whole["final"]["test_acc"] and resumed["steps"] == whole["steps"]
    a, b = (checkpoints.load(tmp_path / d / "last.pt")["model"] for d in ("whole", "cut"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_two_runs_with_one_seed_are_identical_and_seeds_differ(tiny, tmp_path):
    a = run(tiny("seed=3"), run_dir=tmp_path / "a")
    b = run(tiny("seed=3"), run_dir=tmp_path / "b")
    c = run(tiny("seed=4"), run_dir=tmp_path / "c")
    assert _history(a) == _history(b)
    assert _history(a) != _history(c)


def test_finished_run_is_not_trained_again(tiny, tmp_path, monkeypatch):
    first = run(tiny(), run_dir=tmp_path)
    monkeypatch.setattr(loop, "train_epoch", lambda *a, **k: pytest.fail("a finished run was retrained"))
    again = run(tiny("resume=auto"), run_dir=tmp_path)
    assert again["final"] == first["final"]


def test_resuming_a_directory_of_another_config_is_refused(tiny, tmp_path):
    run(tiny(), run_dir=tmp_path)
    with pytest.raises(CheckpointError, match=r"optimizer.lr: 0.001 there, 0.005 now"):
        run(tiny("optimizer.lr=0.005"), run_dir=tmp_path)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tiny, tmp_path, monkeypatch):
    from snn_methods import losses

    real, calls = losses.RateCrossEntropy.__call__, {"n": 0}

    def nan_in_second_epoch(self, out, target):
        calls["n"] += 1
        loss = real(self, out, target)
        return loss * float("nan") if calls["n"] > 4 else loss
    monkeypatch.setattr(losses.RateCrossEntropy, "__call__", nan_in_second_epoch)
    with pytest.raises(TrainingDiverged) as info:
        run(tiny("epochs=3", "train.limit_train_batches=3"), run_dir=tmp_path)
    msg = str(info.value)
    assert "nan" in msg and "epoch 2" in msg and str(tmp_path / "last.pt") in msg and "optimizer.lr" in msg
    assert checkpoints.load(tmp_path / "last.pt")["epoch"] == 1
    assert not (tmp_path / "results.json").exists()


def test_truncated_checkpoint_is_reported_not_unpickled(tmp_path):
    path = tmp_path / "last.pt"
    checkpoints.save(path, {"a": torch.zeros(100)})
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="truncated"):
        checkpoints.load(path)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    checkpoints.save(path, {"v": torch.ones(3)})

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated)")
    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        checkpoints.save(path, {"v": torch.zeros(3)})
    assert torch.equal(checkpoints.load(path)["v"], torch.ones(3))     # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]         # no temporary file left


def test_loggers_write_tensorboard_and_offline_wandb(tiny, tmp_path):
    run(tiny("logger=many"), run_dir=tmp_path)
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


def test_loggers_are_closed_when_training_fails(tiny, tmp_path, monkeypatch):
    from snn_methods.loggers import tensorboard

    closed = []
    real_close = tensorboard.TensorBoardLogger.close
    monkeypatch.setattr(tensorboard.TensorBoardLogger, "close", lambda self, ok: (closed.append(ok), real_close(self, ok)))
    monkeypatch.setattr(loop, "train_epoch", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        run(tiny("logger=tensorboard"), run_dir=tmp_path)
    assert closed == [False]


class CountingCallback:
    """Records the hooks the loop calls; its state survives a checkpoint."""
    instances: list = []

    def __init__(self):
        self.calls, self.steps = [], 0
        CountingCallback.instances.append(self)

    def on_train_start(self, exp, epoch):
        self.calls.append(("start", epoch))

    def on_epoch_start(self, exp, epoch):
        self.calls.append(("epoch_start", epoch))

    def on_step_end(self, exp, step):
        self.steps = step

    def on_epoch_end(self, exp, epoch, record):
        record["callback_steps"] = self.steps
        self.calls.append(("epoch_end", epoch))

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state.get("steps", 0)


def test_callbacks_are_called_and_checkpointed(tiny, tmp_path):
    CountingCallback.instances.clear()
    res = run(tiny("+callbacks.count._target_=test_engine.CountingCallback"), run_dir=tmp_path)
    cb = CountingCallback.instances[-1]
    assert cb.calls == [("start", 0), ("epoch_start", 0), ("epoch_end", 0), ("epoch_start", 1), ("epoch_end", 1)]
    assert [h["callback_steps"] for h in res["history"]] == [3, 6]
    assert checkpoints.load(tmp_path / "last.pt")["callbacks"] == {"count": {"steps": 6}}
