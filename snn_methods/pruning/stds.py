"""STDS (Chen et al., ICML 2022): every prunable weight becomes w = f_D(theta), a soft threshold of a real theta
with a dead zone [-D, D] whose width D grows during training. Spec pruning.md 3.4 and 3.5.

Reparameterisations (`kind`):
    identity   w = theta                                              (dense baseline)
    st         w = sign(theta) relu(|theta| - D),  dw/dtheta = 1[|theta| > D]      (true soft threshold)
    stmod      same forward, dw/dtheta = 1 for theta != 0 (the relu is passed straight through): the STDS method;
               pruned spines keep the full gradient and can come back ("state transition").

Gradual schedules of the width (`gradual`): D_n = D * r(n, N) after n completed optimizer steps of N planned,
    linear  r = n / N          sine  r = (1 + sin(pi (n / N - 1/2))) / 2
with the identity mapping before the first step, so the forward pass of step k uses D_{k-1}.

The weights are reparameterised with `torch.nn.utils.parametrize`: `module.weight` is the effective weight
(what the forward pass and the connectivity metric see) and theta is `module.parametrizations.weight.original`.

`STDSAdam` / `STDSSGD` are the STDS repository's optimizers with the Grad R prior `alpha_gr` (its Grad R baseline,
`--alpha-gr`): with alpha_gr = 0 they are exactly torch's Adam / SGD.
"""
from __future__ import annotations

import math
from typing import Iterable

import torch
import torch.nn as nn

REPARAMETERISATIONS = ("identity", "st", "stmod")
SCHEDULES = (None, "sine", "linear")


class _StraightThroughReLU(torch.autograd.Function):
    """relu forward, identity backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


def soft_threshold(theta: torch.Tensor, width: float, kind: str) -> torch.Tensor:
    """f_D(theta) for kind in identity | st | stmod (see the module docstring)."""
    if kind == "identity":
        return theta
    shifted = theta.abs() - width
    if kind == "st":
        return torch.sign(theta) * torch.relu(shifted)
    if kind == "stmod":
        return torch.sign(theta) * _StraightThroughReLU.apply(shifted)
    raise ValueError(f"unknown reparameterisation {kind!r}: must be one of {', '.join(REPARAMETERISATIONS)}")


def schedule_ratio(kind: str, n: float, total: float) -> float:
    """r(n, N) of the gradual width schedules (not clipped: past N, linear overshoots and sine turns back down,
    as in the original CIFAR runs, which train one epoch more than planned)."""
    if kind == "linear":
        return n / total
    if kind == "sine":
        return (1 + math.sin(math.pi * (n / total - 0.5))) / 2
    raise ValueError(f"unknown schedule {kind!r}: must be sine or linear")


class Threshold:
    """The width shared by every reparameterised layer of a model: None = identity mapping (before the first
    step of a gradual schedule), else the current D_n."""

    def __init__(self, width: float | None):
        self.width = width


class SoftThreshold(nn.Module):
    """The parametrization registered on each weight: theta -> f_D(theta) with the model's current width."""

    def __init__(self, kind: str, threshold: Threshold):
        super().__init__()
        if kind not in REPARAMETERISATIONS:
            raise ValueError(f"unknown reparameterisation {kind!r}: must be one of {', '.join(REPARAMETERISATIONS)}")
        self.kind, self.threshold = kind, threshold

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        width = self.threshold.width
        return theta if width is None else soft_threshold(theta, width, self.kind)

    def extra_repr(self) -> str:
        return f"kind={self.kind}"


def reparameterise(module: nn.Module, kind: str, threshold: Threshold, init_shift: float | None = None) -> None:
    """Register f_D on module.weight (theta starts as the current weight, or sign(w)(|w| + init_shift): then the
    initial effective weight is the initial sample, as STDS does on ImageNet)."""
    from torch.nn.utils import parametrize

    if init_shift:
        with torch.no_grad():
            w = module.weight
            w.copy_(torch.sign(w) * (w.abs() + init_shift))
    parametrize.register_parametrization(module, "weight", SoftThreshold(kind, threshold), unsafe=True)


def theta_of(module: nn.Module) -> torch.Tensor:
    """The stored parameter theta of a reparameterised layer (the weight itself otherwise)."""
    from torch.nn.utils import parametrize

    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module.weight


# ------------------------------------------------------------------------------ optimizers with alpha_gr

class _AlphaGRShrink:
    """The Grad R term of the STDS repository's optimizers: after the base optimizer's step, every parameter of a
    group with `alpha_gr` > 0 is moved by `_shrink(p, sign before the step, lr * alpha_gr)`. `alpha_gr` may be set
    per parameter group (0 = the plain base optimizer)."""

    applies_alpha_gr = True   # the composition contract (snn_methods/compat.py): it shrinks theta in its step

    def _set_alpha_gr(self, alpha_gr: float) -> None:
        if not alpha_gr >= 0:
            raise ValueError(f"{type(self).__name__}: alpha_gr={alpha_gr} must be >= 0")
        self.defaults["alpha_gr"] = alpha_gr
        for group in self.param_groups:
            group.setdefault("alpha_gr", alpha_gr)

    @staticmethod
    def _shrink(p: torch.Tensor, sign: torch.Tensor, amount: float) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure=None):
        signs = _signs_before(self.param_groups)
        loss = super().step(closure)
        for group in self.param_groups:
            if not group.get("alpha_gr"):
                continue
            for p in group["params"]:
                if id(p) in signs:
                    self._shrink(p, signs[id(p)], group["lr"] * group["alpha_gr"])
        return loss


class STDSAdam(_AlphaGRShrink, torch.optim.Adam):
    """`CIFAR10/optim.py`: torch's Adam, then the Grad R shrink of |theta| by lr * alpha_gr (not bias-corrected),
    with the sign taken before the step and no sign flips (theta = 0 is absorbing):
        theta <- s_old * max(s_old * theta - lr * alpha_gr, 0)."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, alpha_gr: float = 0.0, **kwargs):
        # torch's fused Adam (one pass per tensor, no temporaries) unless another implementation is asked for
        if kwargs.get("fused") is None and not (kwargs.get("foreach") or kwargs.get("differentiable")):
            kwargs["fused"] = True
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, **kwargs)
        # The AMP scaler must unscale the gradients and skip the whole step (shrink included) on an overflow, as for
        # an unfused optimizer, instead of handing the fused kernel its scale (which would skip the Adam part only).
        self._step_supports_amp_scaling = False
        self._set_alpha_gr(alpha_gr)

    @staticmethod
    def _shrink(p: torch.Tensor, sign: torch.Tensor, amount: float) -> None:
        p.mul_(sign).sub_(amount).clamp_(min=0).mul_(sign)


class STDSSGD(_AlphaGRShrink, torch.optim.SGD):
    """`ImageNet/optim.py`: torch's SGD (momentum, dampening, nesterov, weight decay as torch), then
    theta <- theta - lr * alpha_gr * s_old with the sign s_old taken before the step, no clamp (theta may change
    sign and jitters around 0). `lr` is the current (scheduled) learning rate."""

    def __init__(self, params: Iterable, lr: float = 0.1, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, alpha_gr: float = 0.0, **kwargs):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov, **kwargs)
        self._set_alpha_gr(alpha_gr)

    @staticmethod
    def _shrink(p: torch.Tensor, sign: torch.Tensor, amount: float) -> None:
        p.sub_(sign, alpha=amount)


def _signs_before(groups: list[dict]) -> dict[int, torch.Tensor]:
    return {id(p): torch.sign(p) for g in groups if g.get("alpha_gr") for p in g["params"] if p.grad is not None}
