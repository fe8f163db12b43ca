"""deterministic: true means reproducible kernels and exact resume (tests/test_engine.py, test_preemption.py),
without torch's NaN fill of every new tensor (issue 16: ~4 % of a CPU step)."""
from __future__ import annotations

import torch

from snn_methods.engine import hardware


def test_deterministic_mode_keeps_the_kernels_without_the_nan_fill():
    before = torch.are_deterministic_algorithms_enabled(), torch.utils.deterministic.fill_uninitialized_memory
    try:
        hardware.configure(torch.device("cpu"), deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.utils.deterministic.fill_uninitialized_memory
        assert not torch.empty(4096).isnan().all()     # torch fills new memory with NaN when the switch is on
        hardware.configure(torch.device("cpu"), deterministic=False)
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.utils.deterministic.fill_uninitialized_memory = before[1]
