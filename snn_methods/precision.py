"""Mixed precision in one object: the autocast context, the scaled backward and the (clipped) optimizer step."""
from __future__ import annotations

import contextlib
from typing import Iterable

import torch


class Precision:
    def __init__(self, device: torch.device, amp: bool = False, dtype: str = "float16"):
        self.device_type = device.type
        self.enabled = bool(amp)
        self.dtype = getattr(torch, dtype)
        # the loss scaler is needed for float16 only (bfloat16 has float32's range)
        self.scaler = torch.amp.GradScaler(self.device_type, enabled=self.enabled and self.dtype == torch.float16)

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.enabled)

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer, params: Iterable[torch.Tensor], grad_clip: float | None) -> None:
        if grad_clip:
            self.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(list(params), grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.scaler.load_state_dict(state)
