"""The pruning methods as the engine sees them (PruningMethod): which weights, which optimizer, which
per-step schedule, and the per-epoch prune / regrow counts. Configured in conf/pruning/*.yaml."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import torch
import torch.nn as nn

from snn_methods.errors import ConfigError
from snn_methods.neurons.parameters import NeuronParameter
from snn_methods.optimizer_set import OptimizerSet
from snn_methods.pruning.base import PruningMethod
from snn_methods.pruning.deep_rewiring import DeepRewiring
from snn_methods.pruning.grad_rewiring import GradRewiring
from snn_methods.pruning.selection import exclude_layers, prunable_layers
from snn_methods.pruning import checks, stds

OptimizerFactory = Callable[[Iterable[Any]], torch.optim.Optimizer]


class LayerPruning(PruningMethod):
    """Common part: the prunable layers (the suite's rule minus `exclude`), an error when there are none, and
    per-epoch prune / regrow counts (connections whose |w| crossed `zero_threshold` since the last epoch, per
    layer and in total, as the Grad R repository logs them)."""

    def __init__(self, exclude: Sequence[str] = (), zero_threshold: float = 0.0):
        checks.check_arguments(zero_threshold=zero_threshold)
        self.exclude = list(exclude or ())
        self.zero_threshold = float(zero_threshold)
        self.layers: list[tuple[str, nn.Module]] = []
        self._alive: dict[str, torch.Tensor] = {}

    def prepare_model(self, model: nn.Module) -> None:
        exclude_layers(model, self.exclude)
        self.layers = list(prunable_layers(model))
        if not self.layers:
            raise ConfigError(f"pruning={self.name}: the model has no prunable layer (Conv/Linear weights)"
                              f"{' left after pruning.exclude' if self.exclude else ''}: choose another model.name "
                              f"or pruning=none")
        self._reparameterise(model)
        self._alive = self._connections()

    def _reparameterise(self, model: nn.Module) -> None:
        """Hook for methods that change the layers (STDS)."""

    def pruned_weights(self) -> list[torch.Tensor]:
        """The parameters the pruning optimizer receives (the weights, or STDS's theta)."""
        return [m.weight for _, m in self.layers]

    def other_parameters(self, model: nn.Module) -> list[torch.Tensor]:
        pruned = {id(p) for p in self.pruned_weights()}
        return [p for p in model.parameters() if id(p) not in pruned]

    @torch.no_grad()
    def _connections(self) -> dict[str, torch.Tensor]:
        return {name: (m.weight.abs() > self.zero_threshold).cpu() for name, m in self.layers}

    def epoch_stats(self, model: nn.Module) -> dict:
        alive = self._connections()
        pruned = {n: int((self._alive[n] & ~alive[n]).sum()) for n in alive}
        regrown = {n: int((~self._alive[n] & alive[n]).sum()) for n in alive}
        self._alive = alive
        return {"pruned": sum(pruned.values()), "regrown": sum(regrown.values()),
                "pruned_per_layer": pruned, "regrown_per_layer": regrown}

    def state_dict(self) -> dict:
        return {"alive": dict(self._alive)}

    def load_state_dict(self, state: dict) -> None:
        if "alive" in state:
            self._alive = {n: t.bool().cpu() for n, t in state["alive"].items()}


def weights_lr(optimizer: OptimizerFactory) -> float:
    """The learning rate the configured optimizer gives conv / linear weights (ASGL's split optimizer: `main`'s)."""
    probe = optimizer([torch.zeros(1, 1, requires_grad=True)])
    return float(probe.param_groups[0]["lr"])


class _RewiringOptimizerMethod(LayerPruning):
    """Grad R / Deep R: a pruning optimizer on the prunable weights in place of the configured (base) optimizer,
    which keeps the rest (biases, BatchNorm, neuron parameters), stepped together as one OptimizerSet. With ASGL's
    split optimizer the pruned weights are those `main` would train: the pruning optimizer takes `main`'s place for
    them (its lr: pruning.lr, null = main's lr), and every LR schedule acts on it as on `main`; `neuron` keeps its
    constant lr."""

    reads_lr = True     # the composition contract (snn_methods/compat.py)

    def make_pruning_optimizer(self, params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
        raise NotImplementedError

    def make_optimizer(self, model: nn.Module, optimizer: OptimizerFactory) -> torch.optim.Optimizer:
        lr = self.kwargs["lr"] if self.kwargs["lr"] is not None else weights_lr(optimizer)
        pruning_opt = self.make_pruning_optimizer(self.pruned_weights(), lr)
        rest = self.other_parameters(model)
        return OptimizerSet({"pruning": pruning_opt, "base": optimizer(rest)}) if rest else pruning_opt


class GradRewire(_RewiringOptimizerMethod):
    """Gradient Rewiring (spec 3.1): GradRewiring on every prunable weight; BN and biases to the base optimizer
    (c10.py gives BN to a plain Adam with the same lr)."""

    name = "grad_rewire"

    def __init__(self, lr: float | None = None, alpha: float = 1e-3, target_sparsity: float = 0.95,
                 betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 exclude: Sequence[str] = (), zero_threshold: float = 0.0):
        super().__init__(exclude, zero_threshold)
        checks.check_arguments(lr=lr, alpha=alpha, weight_decay=weight_decay)
        checks.check_grad_rewire_target(target_sparsity)
        self.kwargs = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, alpha=alpha,
                           s=target_sparsity)

    def make_pruning_optimizer(self, params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
        return GradRewiring(params, **{**self.kwargs, "lr": lr})


class DeepRewire(_RewiringOptimizerMethod):
    """Deep R, hard or soft (spec 3.2, 3.3): DeepRewiring on every prunable weight; the rest to the base optimizer."""

    name = "deep_rewire"

    def __init__(self, lr: float | None = None, l1: float = 1e-3, max_sparsity: float = 0.95, temperature: float = 0.0,
                 soft: bool = False, faithful_stale_mask: bool = True, betas: Sequence[float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, exclude: Sequence[str] = (),
                 zero_threshold: float = 0.0):
        super().__init__(exclude, zero_threshold)
        checks.check_arguments(lr=lr, l1=l1, temperature=temperature)
        if not 0 <= max_sparsity < 1:
            raise ConfigError(f"pruning.max_sparsity={max_sparsity!r} is invalid: a sparsity must be in [0, 1)")
        self.name = "soft_deep_rewire" if soft else "deep_rewire"
        self.kwargs = dict(lr=lr, l1=l1, max_s=max_sparsity, temperature=temperature, soft=soft, betas=tuple(betas),
                           eps=eps, weight_decay=weight_decay, faithful_stale_mask=faithful_stale_mask)

    def make_pruning_optimizer(self, params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
        return DeepRewiring(params, **{**self.kwargs, "lr": lr})


class STDS(LayerPruning):
    """STDS (spec 3.4, 3.5): every prunable weight reparameterised as w = f_D(theta); the width D fixed or grown
    by a gradual schedule after every optimizer step; the configured optimizer on theta and the rest.

    alpha_gr > 0 is the STDS repository's Grad R baseline: the optimizer must be `stds_adam` / `stds_sgd`, theta
    gets the shrink; with `freeze_non_pruned` (faithful) only theta is optimised, BN affine and excluded layers
    (ImageNet FC) are never updated; otherwise they go to the same optimizer without the shrink."""

    name = "stds"

    def __init__(self, reparameterisation: str = "stmod", flat_width: float = 1.0, gradual: str | None = None,
                 gradual_epochs: int | None = None, init_shift: bool = False, alpha_gr: float = 0.0,
                 freeze_non_pruned: bool = True, exclude: Sequence[str] = (), zero_threshold: float = 0.0):
        super().__init__(exclude, zero_threshold)
        checks.check_arguments(reparameterisation=reparameterisation, flat_width=flat_width, gradual=gradual,
                               gradual_epochs=gradual_epochs, alpha_gr=alpha_gr)
        checks.check_stds_shift(init_shift, gradual)
        self.kind, self.flat_width, self.gradual = reparameterisation, float(flat_width), gradual
        self.gradual_epochs, self.init_shift = gradual_epochs, bool(init_shift)
        self.alpha_gr, self.freeze_non_pruned = float(alpha_gr), bool(freeze_non_pruned)
        self.threshold = stds.Threshold(None if gradual else self.flat_width)
        self.total_steps: int | None = None
        self.steps = 0

    def _reparameterise(self, model: nn.Module) -> None:
        shift = self.flat_width if self.init_shift and self.kind != "identity" else None
        for _, module in self.layers:
            stds.reparameterise(module, self.kind, self.threshold, init_shift=shift)

    def pruned_weights(self) -> list[torch.Tensor]:
        return [stds.theta_of(m) for _, m in self.layers]

    @staticmethod
    def optimizer_needs(node: Any) -> tuple[str, str] | None:
        """The composition contract (snn_methods/compat.py): the optimizer capability these settings need."""
        if not node.get("alpha_gr"):
            return None
        return ("applies_alpha_gr", f"pruning.alpha_gr={node.get('alpha_gr')} needs optimizer=stds_adam or "
                                    f"optimizer=stds_sgd (the shrink of theta is part of their step)")

    def make_optimizer(self, model: nn.Module, optimizer: OptimizerFactory) -> torch.optim.Optimizer:
        theta, rest = self.pruned_weights(), self.other_parameters(model)
        if not self.alpha_gr:
            return optimizer(theta + rest)
        if self.freeze_non_pruned:   # the original's networks have no neuron parameters: those keep learning
            frozen = [p for p in rest if not isinstance(p, NeuronParameter)]
            for p in frozen:
                p.requires_grad_(False)
            rest = [p for p in rest if isinstance(p, NeuronParameter)]
        groups = [{"params": theta, "alpha_gr": self.alpha_gr}] + ([{"params": rest, "alpha_gr": 0.0}] if rest else [])
        opt = optimizer(groups)
        parts = opt.optimizers if isinstance(opt, OptimizerSet) else [opt]
        holder = next(o for o in parts if any(p is theta[0] for g in o.param_groups for p in g["params"]))
        if not getattr(holder, "applies_alpha_gr", False):
            raise ConfigError(f"pruning.alpha_gr={self.alpha_gr} needs optimizer=stds_adam or optimizer=stds_sgd "
                              f"(got {type(holder).__name__}, which would ignore it)")
        return opt

    def plan(self, epochs: int, steps_per_epoch: int) -> None:
        self.total_steps = steps_per_epoch * (self.gradual_epochs or epochs)

    def width_after(self, steps: int) -> float | None:
        """D_n after n completed steps (None: identity mapping, before the first step of a gradual schedule)."""
        if not self.gradual:
            return self.flat_width
        if steps == 0:
            return None
        if not self.total_steps:
            raise RuntimeError("STDS.plan(epochs, steps_per_epoch) must be called before training with a gradual schedule")
        return self.flat_width * stds.schedule_ratio(self.gradual, steps, self.total_steps)

    def after_step(self, model: nn.Module, optimizer: torch.optim.Optimizer, step: int) -> None:
        self.steps = step
        self.threshold.width = self.width_after(step)

    def epoch_stats(self, model: nn.Module) -> dict:
        return {**super().epoch_stats(model), "flat_width": self.threshold.width}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "steps": self.steps, "total_steps": self.total_steps,
                "width": self.threshold.width}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if "steps" in state:
            self.steps = int(state["steps"])
            self.threshold.width = state["width"]
