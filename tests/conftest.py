"""Shared fixtures: the REAL config tree, shrunk with debug=tiny, run in a temporary directory."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("WANDB_MODE", "offline")      # never reach the network from a test
os.environ.setdefault("WANDB_SILENT", "true")


def _is_local(host: str) -> bool:
    import ipaddress
    import socket

    if host in ("localhost", "", socket.gethostname()):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False                                  # a name of another host
    return ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """CI has no internet, so no test may need it: a connection to another host fails at once, naming the test's
    mistake (a download, a W&B upload), instead of hanging or passing here and failing there. Loopback, this
    machine's own network and unix sockets stay open (SLURM, DDP's rendezvous, W&B's local service)."""
    import socket

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(str(address[0])):
            raise OSError(f"a test tried to reach {address[0]}:{address[1]}: tests must not use the network "
                          f"(CI has no internet); give the test local files instead")

    def connect(sock, address):
        check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        check(sock, address)
        return real_connect_ex(sock, address)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


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
