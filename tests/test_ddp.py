"""Multi-process training (DistributedDataParallel, gloo on the CPU): data split, reductions, rank-0-only files."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from torch.utils.data import DataLoader

from snn_methods.data.bundle import EpochSeededLoader, EpochSeededSampler, ShardSampler

from conftest import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------------ data order
def test_one_process_keeps_the_order_of_a_shuffling_dataloader():
    """Runs made before DDP support keep their data order (and so their numbers)."""
    data = list(range(103))
    for seed, epoch in [(0, 0), (3, 5)]:
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        reference = torch.cat(list(DataLoader(data, batch_size=10, shuffle=True, generator=g))).tolist()
        loader = EpochSeededLoader(data, seed, batch_size=10)
        loader.set_epoch(epoch)
        assert torch.cat(list(loader)).tolist() == reference


@pytest.mark.parametrize("size,world", [(103, 2), (100, 4), (7, 3)])
def test_ranks_batches_together_are_the_one_process_batch(size, world):
    one = EpochSeededLoader(list(range(size)), 5, batch_size=4 * world)
    ranks = [EpochSeededLoader(list(range(size)), 5, rank=r, world_size=world, batch_size=4) for r in range(world)]
    for loader in (one, *ranks):
        loader.set_epoch(2)
    per_rank = [list(loader) for loader in ranks]
    assert len({len(batches) for batches in per_rank}) == 1, "every rank must run the same number of steps"
    for k, batch in enumerate(one):
        together = sorted(i for batches in per_rank for i in batches[k].tolist())
        if k < len(one) - 1:
            assert together == sorted(batch.tolist())
        else:   # the last batch is padded with samples from the start of the permutation
            assert set(batch.tolist()) <= set(together) and len(together) - len(batch) < world


def test_resuming_mid_epoch_skips_exactly_the_batches_done():
    loader = EpochSeededLoader(list(range(50)), 1, batch_size=8)
    loader.set_epoch(3)
    whole = list(loader)
    loader.set_epoch(3, start_batch=4)
    assert [b.tolist() for b in loader] == [b.tolist() for b in whole[4:]]
    sampler = EpochSeededSampler(50, 1)
    sampler.set_epoch(3, start=32)
    assert len(sampler) == 18


def test_evaluation_shards_count_every_sample_once():
    shards = [list(ShardSampler(10, r, 3)) for r in range(3)]
    assert sorted(sum(shards, [])) == list(range(10))


# ------------------------------------------------------------------------------------------------ DDP runs
WORKER = """
import json, os, sys
sys.path.insert(0, {root!r})
from snn_methods import compose, run
results = run(compose(json.loads(sys.argv[1])), run_dir=sys.argv[2])
print("RESULT " + json.dumps({{"rank": os.environ["RANK"], "test_acc": results["final"]["test_acc"],
                              "run_dir": results["run_dir"]}}))
"""

# direct encoding (a Poisson encoder draws per rank from the same random stream: other spikes than one process)
OVERRIDES = ["logger=none", "epochs=2", "batch_size=32", "train.limit_train_batches=6", "train.progress=false",
             "neuron.v_threshold=0.5", "hardware.num_threads=1"]


def _spawn(tmp_path, world: int, overrides: list[str]) -> list[subprocess.CompletedProcess]:
    """`world` processes with torchrun's environment (RANK, WORLD_SIZE, MASTER_*), each given its own run dir:
    the run must use rank 0's."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(root=str(ROOT)))
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": str(world),
           "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(script), json.dumps(overrides), str(tmp_path / f"rank{r}")],
                              env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for r in range(world)]
    done = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    for p in done:
        assert p.returncode == 0, p.stderr[-3000:]
    return done


def _result(proc) -> dict:
    return json.loads(next(line[7:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")))


@pytest.mark.slow
def test_two_processes_train_like_one_and_only_rank_0_writes(tmp_path):
    from snn_methods import compose, run
    from snn_methods.engine import checkpoints

    single = run(compose([*OVERRIDES, "hardware=cpu"]), run_dir=tmp_path / "single")
    procs = _spawn(tmp_path, 2, [*OVERRIDES, "hardware=ddp"])
    r0, r1 = (_result(p) for p in procs)
    assert r0["run_dir"] == r1["run_dir"] == str(tmp_path / "rank0")     # rank 0's directory, on every rank
    assert not (tmp_path / "rank1").exists()                             # nothing written by rank 1
    assert r0["test_acc"] == r1["test_acc"]                              # metrics reduced over the ranks
    ddp = json.loads((tmp_path / "rank0" / "results.json").read_text())
    assert ddp["data"] == single["data"] and ddp["steps"] == single["steps"]
    for a, b in zip(ddp["history"], single["history"]):
        # the same global batches: the same training up to float rounding (gradients summed in another order)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert abs(a["val_acc"] - b["val_acc"]) <= 2 / 360 and abs(a["train_acc"] - b["train_acc"]) <= 2 / 192
    w_ddp = checkpoints.load(tmp_path / "rank0" / "last.pt")["model"]
    w_one = checkpoints.load(tmp_path / "single" / "last.pt")["model"]
    for key in w_one:
        torch.testing.assert_close(w_ddp[key], w_one[key], rtol=1e-4, atol=1e-5)
    assert ddp["final"]["synops_per_sample"] == pytest.approx(single["final"]["synops_per_sample"], rel=2e-2)


def test_global_batch_must_divide_between_the_processes():
    from snn_methods.engine.distributed import Distributed, per_process_batch
    from snn_methods.errors import ConfigError

    assert per_process_batch(32, Distributed(world_size=4)) == 8
    with pytest.raises(ConfigError, match=r"batch_size=15 is invalid with 2 processes"):
        per_process_batch(15, Distributed(world_size=2))


def test_counters_of_a_probe_are_summed_over_the_ranks(monkeypatch):
    """What each rank counted on its share of the evaluation data becomes the count over all the data."""
    from snn_methods.engine.distributed import Distributed
    from snn_methods.metrics import FiringRateProbe

    probe = FiringRateProbe(torch.nn.Identity())
    probe.spikes, probe.steps = {"a": 3.0, "b": 1.0}, {"a": 10, "b": 4}
    dist = Distributed(rank=0, world_size=2)
    monkeypatch.setattr(Distributed, "sum", lambda self, values: [2 * v for v in values])   # two equal ranks
    dist.sum_counters(probe)
    assert probe.spikes == {"a": 6.0, "b": 2.0} and probe.steps == {"a": 20, "b": 8} and probe.mean() == 8 / 28


@pytest.mark.slow
def test_dsr_imagenet_chain_runs_over_two_processes(tmp_path):
    """The multi-stage ImageNet preset (ANN -> calibrate -> SNN) on one process group for all stages: rank 0
    writes the thresholds the SNN stage of every rank reads, and the chain's results."""
    from test_dsr_pipeline import tiny_overrides, write_image_folder

    images = write_image_folder(tmp_path / "imagenet", {"train": 9, "val": 4})   # 16 training images: 8 per rank
    overrides = [o.replace("pipeline.ann.batch_size=2", "pipeline.ann.batch_size=4") for o in tiny_overrides(images)]
    r0, r1 = (_result(p) for p in _spawn(tmp_path, 2, [*overrides, "hardware=ddp", "hardware.device=cpu"]))
    assert r0["run_dir"] == r1["run_dir"] == str(tmp_path / "rank0") and not (tmp_path / "rank1").exists()
    assert r0["test_acc"] == r1["test_acc"]
    summary = json.loads((tmp_path / "rank0" / "results.json").read_text())
    assert (tmp_path / "rank0" / "calibrate" / "thresholds.json").is_file() and "pipeline" in summary
