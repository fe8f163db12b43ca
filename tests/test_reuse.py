"""Evaluating and reusing trained models: mode=test (eval.json), init_from, checkpoint provenance, inspect, errors."""
from __future__ import annotations

import json
import logging
import os
import pickle
import shutil

import pytest
import torch
import torch.nn as nn
import torch.nn.utils.parametrize as parametrize
from omegaconf import OmegaConf

import snn_methods.pruning
from snn_methods import build, compose, run
from snn_methods.engine import checkpoints
from snn_methods.engine.checkpoints import read
from snn_methods.engine.loop import evaluate
from snn_methods.errors import CheckpointError, ConfigError, UserError
from snn_methods.reuse import evaluate_checkpoint

# a dense digits model worth fine-tuning (~90% test accuracy after 3 epochs, about a second of training)
DENSE = ["debug=tiny", "logger=none", "epochs=3", "train.limit_train_batches=null", "train.limit_eval_batches=null"]
NO_LOG = ["logger=none"]


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    """(run directory, its results) of a dense BPTT run, trained once for the whole module."""
    run_dir = tmp_path_factory.mktemp("dense") / "run"
    results = run(compose(DENSE), run_dir=run_dir)
    assert results["final"]["test_acc"] > 0.8, results["final"]   # the fine-tuning tests need a trained model
    return run_dir, results


def _eval(ckpt, tmp_path, *overrides, name="eval"):
    return evaluate_checkpoint(ckpt, [*NO_LOG, *overrides], run_dir=tmp_path / name)


# ---------------------------------------------------------------------------------------------- mode=test
def test_mode_test_reproduces_the_runs_final_evaluation(dense, tmp_path):
    run_dir, trained = dense
    result = _eval(run_dir, tmp_path)
    final, before = result["final"], trained["final"]
    assert final["acc"] == final["test_acc"] == before["test_acc"]       # exactly the run's own final evaluation
    for key in ("test_loss", "connectivity", "connectivity_with_bn", "firing_rate", "synops_per_sample",
                "energy_pj_per_sample", "dense_ops_per_sample"):
        assert final[key] == pytest.approx(before[key], rel=1e-6), key
    assert final["layers"]["firing_rate"] == pytest.approx(before["layers"]["firing_rate"])
    for layer, ops in before["layers"]["synops"].items():
        assert final["layers"]["synops"][layer] == pytest.approx(ops), layer
    assert set(before) <= set(final)                                     # results.json's schema, and more
    on_disk = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert on_disk["final"]["acc"] == final["acc"] and (tmp_path / "eval" / "config.yaml").exists()
    assert not (tmp_path / "eval" / "results.json").exists() and not (tmp_path / "eval" / "last.pt").exists()
    matrix = torch.tensor(final["confusion_matrix"])
    assert matrix.shape == (10, 10) and int(matrix.sum()) == final["n"] == trained["data"]["sizes"]["test"]
    assert int(matrix.trace()) / final["n"] == pytest.approx(final["acc"])
    per_class = torch.tensor(final["per_class_acc"])
    assert torch.allclose(per_class, matrix.diag() / matrix.sum(1), atol=1e-12)
    assert result["trained"]["T"] == result["T"] == 2 and result["trained"]["test_acc"] == before["test_acc"]
    assert result["checkpoint"]["kind"] == "checkpoint" and result["checkpoint"]["path"].endswith("last.pt")
    assert result["warnings"] == []                                      # same libraries, commit and data


def test_mode_test_counts_connectivity_with_the_prunings_zero_threshold(tmp_path):
    """One pruned checkpoint, one connectivity: eval.json counts |w| <= pruning.zero_threshold as zero, as training
    did for results.json (a threshold this large makes the two counts differ, so the test can fail)."""
    from snn_methods.metrics import connectivity

    cfg = compose([*DENSE, "method=grad_rewire", "pruning.zero_threshold=0.05", "epochs=1", "train.synops_final=false"])
    trained = run(cfg, run_dir=tmp_path / "run")["final"]
    final = _eval(tmp_path / "run", tmp_path)["final"]
    for key in ("connectivity", "connectivity_with_bn"):
        assert final[key] == trained[key], key
    assert final["layers"]["connectivity"] == trained["layers"]["connectivity"]
    model = build(cfg).model
    model.load_state_dict(read(tmp_path / "run").state)
    exact_zeros, thresholded = connectivity(model)["total"], connectivity(model, zero_threshold=0.05)["total"]
    assert thresholded == trained["connectivity"] < exact_zeros   # the threshold changes the count


def test_best_checkpoint_val_split_and_batch_size(dense, tmp_path):
    run_dir, trained = dense
    best = _eval(run_dir / "best.pt", tmp_path, name="best")
    assert best["final"]["test_acc"] == trained["best"]["test_acc_at_best_val"]
    val = _eval(run_dir, tmp_path, "eval_split=val", "batch_size=7", name="val")
    assert val["split"] == "val" and val["final"]["val_acc"] == trained["final"]["val_acc"]
    assert val["final"]["test_acc"] is None and val["final"]["n"] == trained["data"]["sizes"]["val"]
    assert "batch_size=7" in val["overrides"]


def test_evaluating_at_another_T(dense, tmp_path):
    run_dir, trained = dense
    results = {T: _eval(run_dir, tmp_path, f"T={T}", name=f"T{T}") for T in (1, 4)}
    for T, r in results.items():
        assert r["T"] == T and r["trained"]["T"] == 2 and 0.1 < r["final"]["acc"] <= 1 and r["overrides"] == ["logger=none", f"T={T}"]
        cfg = OmegaConf.load(tmp_path / f"T{T}" / "config.yaml")
        assert cfg.T == T and cfg.encoder.T == T        # encoder.T followed the override (it was ${T})
        assert not any("encoder.T" in w for w in r["warnings"])
    # the first layer runs once per sample (direct encoding), the second once per step: more steps, more ops
    assert results[4]["final"]["dense_ops_per_sample"] > trained["final"]["dense_ops_per_sample"]
    assert results[1]["final"]["dense_ops_per_sample"] < trained["final"]["dense_ops_per_sample"]


def test_old_checkpoint_without_unresolved_config_still_follows_T(dense, tmp_path):
    run_dir, _ = dense
    payload = checkpoints.load(run_dir / "last.pt")
    del payload["config_unresolved"]
    for key in ("mode", "ckpt", "eval_split", "init_from", "init_strict"):   # keys this issue added
        del payload["config"][key]
    del payload["config"]["train"]["synops_final"]
    checkpoints.save(tmp_path / "old.pt", payload)
    r = _eval(tmp_path / "old.pt", tmp_path, "T=3")
    cfg = OmegaConf.load(tmp_path / "eval" / "config.yaml")
    assert r["T"] == 3 and cfg.encoder.T == 3 and cfg.mode == "test" and cfg.train.synops_final is True
    assert r["warnings"] == ["keys the checkpoint's config lacks, taken from the current config: train.synops_final"]


def test_a_multirun_directory_name_is_quoted(dense, tmp_path):
    run_dir, trained = dense
    odd = tmp_path / "0_T=2,seed=0"
    shutil.copytree(run_dir, odd)
    assert _eval(odd, tmp_path)["final"]["acc"] == trained["final"]["test_acc"]


def test_plain_state_dicts_use_the_current_config(dense, tmp_path, caplog):
    run_dir, trained = dense
    weights = checkpoints.load(run_dir / "last.pt")["model"]
    torch.save(weights, tmp_path / "plain.pt")
    torch.save({f"module.{k}": v for k, v in weights.items()}, tmp_path / "ddp.pt")     # saved from a DDP wrapper
    torch.save({"epoch": 3, "state_dict": weights}, tmp_path / "wrapped.pth")          # other code bases' layout
    for name in ("plain.pt", "ddp.pt", "wrapped.pth"):
        with caplog.at_level(logging.WARNING):
            r = _eval(tmp_path / name, tmp_path, "T=2", name=f"eval-{name}")     # T=2: the trained model's T (not the default 4)
        assert r["final"]["acc"] == trained["final"]["test_acc"], name
        assert r["checkpoint"]["kind"] == "state_dict" and r["trained"] is None
        assert "current config" in r["checkpoint"]["config_source"]
        assert any("plain state_dict" in w for w in r["warnings"])
    assert "plain state_dict" in caplog.text
    # with a plain state_dict, every override describes the model: here one that does not fit it
    with pytest.raises(CheckpointError) as info:
        _eval(tmp_path / "plain.pt", tmp_path, "model.hidden=[64]", name="bad")
    msg = str(info.value)
    assert str(tmp_path / "plain.pt") in msg and "fc1.0.weight" in msg and "[256, 64]" in msg and "[64, 64]" in msg


@pytest.mark.parametrize("override,reason", [
    ("model.hidden=[64]", "defines the trained model"),
    ("neuron=if", "defines the trained model"),
    ("encoder=poisson", "defines the trained model"),
    ("loss=mse", "defines the trained model"),
    ("++dataset.root=/data", "has no such key"),
    ("dataset=synthetic", "defines the trained model or its data"),
    ("dataset.split_seed=1", "which samples each split holds"),
    ("optimizer.lr=0.5", "only affects training"),
    ("epochs=9", "only affects training"),
    ("init_from=x", "only affects training"),
    ("debug=tiny", "name the keys instead"),
])
def test_overrides_that_would_change_the_model_are_refused(dense, tmp_path, override, reason):
    run_dir, _ = dense
    with pytest.raises(ConfigError) as info:
        _eval(run_dir, tmp_path, override)
    msg = str(info.value)
    key = override.split("=")[0].lstrip("+")
    assert f"cannot change {key}" in msg and reason in msg and "\n" not in msg
    assert "mode=test may change: " in msg or "(digits) has no such key" in msg
    assert not (tmp_path / "eval" / "eval.json").exists()


def test_selecting_the_trained_option_again_is_accepted(dense, tmp_path):
    """`dataset=cifar10 dataset.root=...` must compose, so naming the checkpoint's own option is not a change."""
    run_dir, trained = dense
    r = _eval(run_dir, tmp_path, "dataset=digits", "neuron=lif", "method=bptt", "hardware=cpu")
    assert r["final"]["acc"] == trained["final"]["test_acc"] and r["overrides"] == ["logger=none", "hardware=cpu"]


def test_a_checkpoint_whose_weights_do_not_fit_its_config(dense, tmp_path):
    run_dir, _ = dense
    payload = checkpoints.load(run_dir / "last.pt")
    for node in ("config", "config_unresolved"):
        payload[node]["model"]["hidden"] = [32]
    checkpoints.save(tmp_path / "mixed.pt", payload)
    with pytest.raises(CheckpointError) as info:
        _eval(tmp_path / "mixed.pt", tmp_path, "T=3")
    msg = str(info.value)
    assert str(tmp_path / "mixed.pt") in msg and "'fc1.0.weight' has shape [256, 64] in the file and [32, 64]" in msg
    assert "rebuilt from the checkpoint's saved config with logger=none, T=3" in msg


def test_provenance_differences_are_warned(dense, tmp_path, caplog):
    run_dir, _ = dense
    payload = checkpoints.load(run_dir / "last.pt")
    # a checkpoint records the resolved config, the unresolved one, versions with the commit, and the data identity
    assert payload["config"]["encoder"]["T"] == 2 and payload["config_unresolved"]["encoder"]["T"] == "${T}"
    assert {"torch", "spikingjelly", "snn-methods", "git_commit"} <= set(payload["versions"])
    assert set(payload["data"]) >= {"name", "split", "sizes"} and payload["data"]["sizes"]["test"] == 360
    payload["versions"]["torch"], payload["versions"]["git_commit"] = "1.0.0", "0123abc"
    payload["data"]["sizes"]["test"] = 999
    payload["config_unresolved"]["paths"]["data_dir"] = "/somewhere/else"
    payload["config"]["paths"]["data_dir"] = "/somewhere/else"
    checkpoints.save(tmp_path / "moved.pt", payload)
    with caplog.at_level(logging.WARNING):
        r = _eval(tmp_path / "moved.pt", tmp_path)
    text = " | ".join(r["warnings"])
    assert "torch is 2." in text and "1.0.0 when the checkpoint was written" in text
    assert "git_commit" in text and "0123abc" in text and "data set sizes" in text
    assert "mode=test: torch is" in caplog.text


# ---------------------------------------------------------------------------------------------- errors
def _corrupt(path):
    path.write_bytes(os.urandom(256))


def _truncate(path, source):
    path.write_bytes(source.read_bytes()[:1000])


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_truncated_corrupt_and_malicious_files_are_one_clear_error(dense, tmp_path):
    run_dir, _ = dense
    _truncate(tmp_path / "truncated.pt", run_dir / "last.pt")
    _corrupt(tmp_path / "corrupt.pt")
    flag = tmp_path / "pwned"
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"model": _Exploit(flag)}, f, protocol=2)
    (tmp_path / "empty_dir").mkdir()
    torch.save({"epoch": 1, "note": "no weights"}, tmp_path / "nothing.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    torch.save(nn.Linear(2, 2), tmp_path / "module.pt")           # a whole model pickled, not its state_dict
    expected = {"truncated.pt": "truncated, corrupt", "corrupt.pt": "truncated, corrupt", "empty.pt": "ends early",
                "evil.pt": "pickled Python object (posix.system)", "empty_dir": "without last.pt or best.pt",
                "module.pt": "torch.save(model.state_dict(), PATH)", "nothing.pt": "neither a checkpoint",
                "missing.pt": "does not exist"}
    for name, what in expected.items():
        for call in (lambda p: _eval(p, tmp_path),
                     lambda p: build(compose([*DENSE, f"init_from={p}"]))):
            with pytest.raises(CheckpointError) as info:
                call(tmp_path / name)
            msg = str(info.value)
            assert str(tmp_path / name) in msg and what in msg and "\n" not in msg, msg
            assert "weights_only=False" not in msg and "\x1b" not in msg, msg   # never advise the unsafe load
    assert not flag.exists()                     # weights_only: the pickled command never ran


def test_a_saved_config_this_installation_cannot_build(dense, tmp_path):
    """A checkpoint from another version of the suite (a method, model or neuron missing here): one line naming
    the file, what is missing and the suite commit that wrote the checkpoint."""
    run_dir, _ = dense
    commit = checkpoints.load(run_dir / "last.pt")["versions"]["git_commit"]
    commit = f"written by suite commit {commit}" if commit else "its suite commit is not recorded"   # outside git
    cases = {"neuron._target_": ("snn_methods.neurons.NoSuchNeuron", CheckpointError,
                                 "_target_ 'snn_methods.neurons.NoSuchNeuron' cannot be imported here"),
             "method.rule._target_": ("snn_methods.rules.NoSuchRule", CheckpointError, "'snn_methods.rules.NoSuchRule'"),
             "model.name": ("nosuchmodel", ConfigError, "not a registered model")}
    for i, (key, (value, error, what)) in enumerate(cases.items()):
        payload = checkpoints.load(run_dir / "last.pt")
        for node in ("config", "config_unresolved"):
            OmegaConf.update(conf := OmegaConf.create(payload[node]), key, value)
            payload[node] = OmegaConf.to_container(conf)
        checkpoints.save(tmp_path / f"other{i}.pt", payload)
        with pytest.raises(error) as info:
            _eval(tmp_path / f"other{i}.pt", tmp_path)
        msg = str(info.value)
        assert str(tmp_path / f"other{i}.pt") in msg and what in msg and str(commit) in msg and "\n" not in msg, msg


def test_a_multirun_directory_names_its_runs(dense, tmp_path):
    run_dir, _ = dense
    for name in ("0_T=2", "1_T=4"):
        (tmp_path / "sweep" / name).mkdir(parents=True)
        shutil.copy(run_dir / "last.pt", tmp_path / "sweep" / name / "last.pt")
    with pytest.raises(CheckpointError) as info:
        _eval(tmp_path / "sweep", tmp_path)
    msg = str(info.value)
    assert "directory of 2 runs (0_T=2, 1_T=4)" in msg and f"ckpt=\"'{tmp_path / 'sweep' / '0_T=2'}'\"" in msg
    with pytest.raises(CheckpointError, match=f"is a .json file, not a checkpoint: name its run directory \\(ckpt={run_dir}\\)"):
        _eval(run_dir / "results.json", tmp_path)


@pytest.mark.slow   # three launch.py processes
def test_cli_errors_are_one_line_and_cli_evaluates(dense, launch, tmp_path):
    run_dir, trained = dense
    _truncate(tmp_path / "bad.pt", run_dir / "last.pt")
    proc = launch("mode=test", f"ckpt={tmp_path / 'bad.pt'}", "logger=none")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "bad.pt" in lines[0] and "truncated" in lines[0], proc.stderr
    # a T-robustness sweep from the command line: one eval.json per T, in a fresh run directory each
    proc = launch("-m", "mode=test", f"ckpt={run_dir}", "logger=none", "T=2,4")
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = list((tmp_path / "multirun").rglob("eval.json"))
    assert sorted(p.relative_to(tmp_path / "multirun").parts[2] for p in files) == ["0_T=2,mode=test", "1_T=4,mode=test"]
    found = sorted((json.loads(p.read_text()) for p in files), key=lambda r: r["T"])
    assert [r["T"] for r in found] == [2, 4] and found[0]["final"]["acc"] == trained["final"]["test_acc"]
    assert not list((tmp_path / "multirun").rglob("results.json"))


def test_checks_and_the_training_api_refuse_mode_test(dense):
    run_dir, _ = dense
    with pytest.raises(ConfigError, match="mode='eval' is invalid"):
        build(compose([*DENSE, "mode=eval"]))
    with pytest.raises(ConfigError, match="eval_split='train' is invalid"):
        build(compose([*DENSE, "eval_split=train"]))
    with pytest.raises(ConfigError, match="init_from=PATH to train from its weights"):
        build(compose([*DENSE, f"ckpt={run_dir}"]))
    with pytest.raises(UserError, match="evaluate_checkpoint"):
        run(compose([*DENSE, "mode=test", f"ckpt={run_dir}"]))


# ---------------------------------------------------------------------------------------------- init_from
def test_fine_tuning_starts_from_the_dense_runs_accuracy(dense, tmp_path):
    run_dir, trained = dense
    exp = build(compose([*DENSE, f"init_from={run_dir}"]))
    source = checkpoints.load(run_dir / "last.pt")["model"]
    assert all(torch.equal(exp.model.state_dict()[k], v) for k, v in source.items())
    assert evaluate(exp, exp.data.test)["acc"] == trained["final"]["test_acc"]      # before any step
    short = ["epochs=1", "train.limit_train_batches=2", "optimizer.lr=1e-4"]
    tuned = run(compose([*DENSE, *short, f"init_from={run_dir}"]), run_dir=tmp_path / "tuned")
    scratch = run(compose([*DENSE, *short]), run_dir=tmp_path / "scratch")
    assert tuned["final"]["test_acc"] >= trained["final"]["test_acc"] - 0.05         # not from chance
    assert scratch["final"]["test_acc"] < 0.5                                         # what 2 steps give from scratch
    assert tuned["steps"] == 2 and tuned["epochs"] == 1                               # a new run, not a resume
    assert checkpoints.load(tmp_path / "tuned" / "last.pt")["config"]["init_from"] == str(run_dir)
    source = tuned["init_from"]                                                       # provenance in results.json
    assert source["path"] == str((run_dir / "last.pt").resolve()) and source["kind"] == "checkpoint"
    assert source["test_acc"] == trained["final"]["test_acc"] and source["epoch"] == trained["epochs"]
    assert source["loaded"] == len(exp.model.state_dict()) and source["missing"] == source["other_shapes"] == 0
    assert source["git_commit"] == trained["versions"]["git_commit"] and "init_from" not in scratch


def test_init_from_another_architecture(dense, caplog):
    run_dir, _ = dense
    with pytest.raises(CheckpointError) as info:
        build(compose([*DENSE, f"init_from={run_dir}", "model.hidden=[64]"]))
    msg = str(info.value)
    assert str(run_dir / "last.pt") in msg and "'fc1.0.weight' has shape [256, 64] in the file and [64, 64]" in msg
    assert "a bptt mlp run on digits" in msg and "init_strict=false loads only" in msg
    with caplog.at_level(logging.WARNING):
        exp = build(compose([*DENSE, f"init_from={run_dir}", "model.hidden=[64]", "init_strict=false"]))
    assert "3 keys with another shape (kept as initialised)" in caplog.text and "fc1.0.weight [256, 64] vs [64, 64]" in caplog.text
    assert exp.model.fc1[0].weight.shape == (64, 64)
    # an extra key the model lacks, and a key it has that the file lacks (DSR: thresholds survive an ANN's weights)
    weights = checkpoints.load(run_dir / "last.pt")["model"]
    weights["head.extra"] = torch.zeros(3)
    del weights["fc2.bias"]
    path = run_dir.parent / "partial.pt"
    torch.save(weights, path)
    with pytest.raises(CheckpointError, match="the model's key 'fc2.bias' is not in the file"):
        build(compose([*DENSE, f"init_from={path}"]))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        exp = build(compose([*DENSE, f"init_from={path}", "init_strict=false"]))
    assert "not in the file (kept as initialised): fc2.bias" in caplog.text and "(ignored): head.extra" in caplog.text
    assert torch.equal(exp.model.fc2.weight, weights["fc2.weight"])


class _Positive(nn.Module):
    def forward(self, w):
        return w


class ReparamPruning(snn_methods.pruning.PruningMethod):
    """A stand-in for a pruning method that reparameterises weights and draws a random initial mask: it records
    the weights it is prepared with, so the test sees which weights the method starts from."""

    name = "test_reparam"
    seen: list = []

    def prepare_model(self, model):
        for _, module in snn_methods.pruning.prunable_layers(model):
            ReparamPruning.seen.append(module.weight.detach().clone())
            torch.rand(module.weight.shape)   # consumes random numbers, like drawing an initial mask
            parametrize.register_parametrization(module, "weight", _Positive())


def test_pruning_methods_are_prepared_with_the_loaded_weights(dense, tmp_path, monkeypatch):
    run_dir, trained = dense
    monkeypatch.setattr(snn_methods.pruning, "ReparamPruning", ReparamPruning, raising=False)
    prune = ["pruning._target_=snn_methods.pruning.ReparamPruning"]
    source = checkpoints.load(run_dir / "last.pt")["model"]
    ReparamPruning.seen.clear()
    exp = build(compose([*DENSE, *prune, f"init_from={run_dir}"]))   # dense -> pruned: load, then prepare
    assert torch.equal(ReparamPruning.seen[0], source["fc1.0.weight"])
    assert torch.equal(ReparamPruning.seen[1], source["fc2.weight"])
    params = {id(p) for group in exp.optimizer.param_groups for p in group["params"]}
    assert id(exp.model.fc1[0].parametrizations.weight.original) in params   # the optimizer holds the loaded weights
    assert torch.equal(exp.model.fc1[0].parametrizations.weight.original, source["fc1.0.weight"])
    assert evaluate(exp, exp.data.test)["acc"] == trained["final"]["test_acc"]
    # a file of a reparameterised run has the prepared model's keys: loaded after prepare_model
    reparam = {k: v.clone() for k, v in exp.model.state_dict().items()}
    assert "fc1.0.parametrizations.weight.original" in reparam
    torch.save(reparam, tmp_path / "reparam.pt")
    build(compose([*DENSE, *prune]))
    after_plain_build = torch.rand(3)
    exp2 = build(compose([*DENSE, *prune, f"init_from={tmp_path / 'reparam.pt'}"]))
    assert torch.equal(torch.rand(3), after_plain_build)    # probing the prepared model on a copy drew no numbers
    assert torch.equal(exp2.model.fc1[0].parametrizations.weight.original, source["fc1.0.weight"])
    # and into a model without that reparameterisation: one clear error naming the first key
    with pytest.raises(CheckpointError, match="the model's key 'fc1.0.weight' is not in the file"):
        build(compose([*DENSE, f"init_from={tmp_path / 'reparam.pt'}"]))


@pytest.mark.parametrize("method", ["grad_rewire", "stds"])
def test_a_dense_run_fine_tunes_into_a_pruned_one(dense, method, tmp_path):
    """The issue's own use: `method=grad_rewire init_from=<dense run>` (and STDS, which reparameterises): the
    pruning method starts from the dense weights, so the run starts at the dense accuracy, not at chance."""
    run_dir, trained = dense
    source = checkpoints.load(run_dir / "last.pt")["model"]
    exp = build(compose([*DENSE, f"method={method}", f"init_from={run_dir}"]))
    if method == "grad_rewire":   # its weights ARE the dense ones (theta = |w|, signs fixed)
        assert torch.equal(exp.model.fc1[0].weight, source["fc1.0.weight"])
    else:                         # the reparameterisation's parameter holds them (the width starts at 0: w = theta)
        assert torch.equal(exp.model.fc1[0].parametrizations.weight.original, source["fc1.0.weight"])
    assert evaluate(exp, exp.data.test)["acc"] == trained["final"]["test_acc"]
    if method == "grad_rewire":   # and it trains on from there (STDS's width would reach D within 2 steps)
        short = ["epochs=1", "train.limit_train_batches=2"]
        tuned = run(compose([*DENSE, *short, f"method={method}", f"init_from={run_dir}"]), run_dir=tmp_path / "t")
        scratch = run(compose([*DENSE, *short, f"method={method}"]), run_dir=tmp_path / "s")
        assert tuned["final"]["test_acc"] > max(0.6, scratch["final"]["test_acc"] + 0.2)
        assert tuned["final"]["connectivity"] < 1.0                     # Grad R prunes from the first step


# ---------------------------------------------------------------------------------------------- inspect
def test_inspect_summarises_without_loading_data(dense, tmp_path, capsys, monkeypatch):
    from snn_methods import inspect as inspect_cli
    import snn_methods.data.digits as digits

    run_dir, trained = dense
    monkeypatch.setattr(digits, "digits", lambda *a, **k: pytest.fail("inspect loaded the data set"))
    assert inspect_cli.main([str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "method      bptt" in out and "model mlp" in out and "epoch 3 of 3" in out
    assert f"test_acc {trained['final']['test_acc']:.4f}" in out and "fc1.0  1.0000" in out and "sn1" in out
    assert "best.pt" in out and "suite commit" in out
    assert inspect_cli.main([str(run_dir / "best.pt"), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["method"] == "bptt" and s["layers"]["connectivity"] == {"fc1.0": 1.0, "fc2": 1.0} and s["T"] == 2
    torch.save(checkpoints.load(run_dir / "last.pt")["model"], tmp_path / "plain.pt")
    assert inspect_cli.main([str(tmp_path / "plain.pt")]) == 0
    assert "plain state_dict" in capsys.readouterr().out
    _corrupt(tmp_path / "bad.pt")
    assert inspect_cli.main([str(tmp_path / "bad.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.pt" in err[0]
    assert read(run_dir).path.name == "last.pt"
