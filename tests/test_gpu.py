"""Checks that need a CUDA device (`pytest -m gpu`; skipped with the reason without one): the small form of
bench/gpu_check.py's methods and SpikingJelly-backend items (issue 17)."""
from __future__ import annotations

import sys

import pytest
import torch

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none visible)")]


@pytest.mark.parametrize("name", ["bptt m", "dsr IF", "dsr LIF", "asgl", "rate_bp m", "grad_rewire", "deep_rewire",
                                  "stds", "stds_grad_rewire"])
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_a_method_trains_on_cuda_and_its_fp32_gradients_equal_the_cpus(name, precision):
    import gpu_check

    overrides = dict(gpu_check.METHODS)[name]
    figs = gpu_check.method_item(name, gpu_check.tiny_overrides(overrides), precision, "cuda", gpu_check.TINY)
    assert figs["loss"][-1] < figs["loss"][0]
    if precision == "fp32":
        assert figs["grad_rel_err_max"] <= gpu_check.GRAD_RTOL


@pytest.mark.parametrize("backend", ["triton"])
def test_spikingjelly_backend_gives_the_torch_spikes_and_gradients(backend, tmp_path):
    import gpu_check

    ref = gpu_check.run_backend("torch", "cuda", gpu_check.TINY, tmp_path)
    got = gpu_check.run_backend(backend, "cuda", gpu_check.TINY, tmp_path)
    assert all("error" not in v for v in got.values()), got
    gpu_check.compare_backend(ref, got)      # raises with the differences


def test_ddp_with_one_process_starts_and_tears_down_nccl(tmp_path):
    import gpu_check

    figs = gpu_check.ddp_item("cuda", gpu_check.TINY, tmp_path)
    assert figs["backend"] == "nccl" and figs["exit"] == 0
