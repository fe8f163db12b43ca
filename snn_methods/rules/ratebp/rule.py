"""Rate-based backpropagation (Yu et al., NeurIPS 2024) as a gradient rule: a no-grad spike pass, then one
differentiable rate pass on the time-averaged input (spec ratebp.md sections 4-6)."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
from spikingjelly.activation_based import functional

from snn_methods.losses import rate
from snn_methods.precision import Precision
from snn_methods.rules.base import StepOutput
from snn_methods.rules.ratebp.neurons import UnsupportedNeuron, dynamics_of
from snn_methods.rules.ratebp.session import RateBPSession
from snn_methods.rules.stepping import call_releasing_inputs, forward_steps


class RateBP:
    """One training step = spike pass (no graph; every neuron's rate and eligibility and every BatchNorm's batch
    statistics recorded) + rate pass (the model once on the time-averaged input, neurons replaced by their rate with
    derivative diag(eligibility), BatchNorms by BN with the recorded statistics) + backward through the N-sized
    rate graph. Neuron states are reset before and after; grad mode is scoped (`torch.no_grad()`), so an error in
    either pass leaves neither grad mode nor any override behind.

    step_mode: 'm' one call on [T, N, ...]; 's' one time step per call (see rules.stepping.forward_steps).
    loss_scale_1_over_T: the original's loss wrapper: same loss value, gradient divided by T (default, faithful).
    compat_original_s_mode_bn: in 's' mode, the rate-pass BN uses the last step's statistics with eps added twice, as
        the original's single-step code does (default false: per-step statistics averaged as it intends).
    compat_original_s_mode_input: in 's' mode, the rate pass sees the last time step of the input, as the original
        (default false: the time average, as in 'm'; identical for static images).
    compat_original_eligibility_sigmoid4: the eligibility uses the derivative of Sigmoid(alpha 4) whatever the
        neuron's surrogate, as the original hard-codes it (default false: the neuron's own surrogate, the exact
        derivative of its BPTT path; the same with neuron=ratebp_lif).
    """

    # hardware.compile keeps the model eager for this rule (snn_methods/engine/compile.py): a compiled rate pass gave
    # other weights than the eager one after two steps (7e-4), and the spike pass calls the layers one by one
    compiles_model = False
    compile_reason = ("its spike pass calls the layers one by one and its rate pass swaps every neuron and BatchNorm "
                      "for the recorded rates and statistics, which a compiled graph did not follow")

    needs_time_average_loss = True   # the composition contract (snn_methods/compat.py): the rate pass has no steps

    @staticmethod
    def neuron_problem(neuron: nn.Module) -> str | None:
        """Why rate-BP cannot train this neuron (the composition contract), or None."""
        try:
            dynamics_of(neuron)
        except UnsupportedNeuron as e:
            return str(e)
        return None

    def __init__(self, step_mode: str = "m", loss_scale_1_over_T: bool = True,
                 compat_original_s_mode_bn: bool = False, compat_original_s_mode_input: bool = False,
                 compat_original_eligibility_sigmoid4: bool = False):
        self.step_mode = step_mode
        self.loss_scale_1_over_T = loss_scale_1_over_T
        self.compat_original_s_mode_bn = compat_original_s_mode_bn
        self.compat_original_s_mode_input = compat_original_s_mode_input
        self.compat_original_eligibility_sigmoid4 = compat_original_eligibility_sigmoid4

    def rate_input(self, x: torch.Tensor) -> torch.Tensor:
        """[T, N, ...] -> [1, N, ...]: the time average of the (detached) input."""
        if self.step_mode == "s" and self.compat_original_s_mode_input:
            return x[-1:].detach()
        if x.stride(0) == 0:          # a broadcast static input (direct encoding): every step is the mean, exactly
            return x[:1].detach()
        return x.detach().mean(0, keepdim=True)

    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], precision: Precision) -> StepOutput:
        T = x.shape[0]
        functional.reset_net(model)
        try:
            compat_bn = self.step_mode == "s" and self.compat_original_s_mode_bn
            with RateBPSession(model, compat_bn_last_step=compat_bn,
                               sigmoid4_eligibility=self.compat_original_eligibility_sigmoid4) as s:
                with torch.no_grad(), precision.autocast():
                    # nothing is kept for backward here: release every [T, N, ...] activation as soon as it is used
                    forward_steps(model, x, self.step_mode, call=call_releasing_inputs)
                s.check_steps(T)
                s.phase = "rate"
                with precision.autocast():
                    out = model(self.rate_input(x))          # [1, N, C]: the time-averaged logits
                    loss = loss_fn(out, y)
                precision.backward(loss / T if self.loss_scale_1_over_T else loss)
        finally:
            functional.reset_net(model)
        return StepOutput(loss.detach(), rate(out.detach()))
