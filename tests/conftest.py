"""Shared fixtures: the REAL config tree, shrunk with debug=tiny, run in a temporary directory."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("WANDB_MODE", "offline")      # never reach the network from a test
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture
def tiny():
    """compose(...) with debug=tiny and no loggers; extra overrides win."""
    from snn_methods import compose

    def make(*overrides: str):
        return compose(["debug=tiny", "logger=none", *overrides])
    return make


@pytest.fixture
def launch(tmp_path):
    """Run launch.py in a subprocess inside tmp_path (so runs/ and multirun/ land there)."""
    import subprocess

    def call(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=timeout, env={**os.environ, "SNN_DATA": str(tmp_path / "data")})
    return call


@pytest.fixture
def one_thread():
    """torch on one thread for the test (restored after): tests that time nothing run much faster on shared cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
