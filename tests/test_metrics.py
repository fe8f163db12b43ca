"""Metric definitions on hand-computed cases."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from snn_methods.metrics import ENERGY_PJ, FiringRateProbe, SynOpsProbe, connectivity


def test_connectivity_counts_prunable_weights_only():
    net = nn.Sequential(nn.Conv2d(1, 2, 2, bias=True), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3, bias=True))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([1.0, 0, 0, 2, 0, 0, 0, 3]).view(2, 1, 2, 2))   # 3 of 8 non-zero
        net[3].weight.zero_()
        net[3].weight[0, :4] = 1.0                                                       # 4 of 24 non-zero
        net[0].bias.zero_()                                                              # biases never count
    c = connectivity(net)
    assert c["total"] == pytest.approx(7 / 32)
    assert c["layers"] == {"0": pytest.approx(3 / 8), "3": pytest.approx(4 / 24)}
    assert c["with_bn"] == pytest.approx(1 - 25 / (32 + 4))       # Grad R's "with bn": 4 BN params added
    assert connectivity(net, zero_threshold=2.5)["total"] == pytest.approx(1 / 32)   # only the 3.0 survives


def test_connectivity_of_a_model_without_prunable_layers_is_none():
    assert connectivity(nn.Sequential(nn.ReLU()))["total"] is None


def test_synops_of_a_tiny_linear_layer_by_hand():
    fc = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[1.0, 0, 2], [0, 0, 3]]))
    spikes = torch.tensor([[[1.0, 0, 1]], [[1.0, 1, 0]]])      # [T=2, N=1, 3]
    with SynOpsProbe(fc) as probe:
        fc(spikes)
        probe.add_samples(1)
    ops = probe.per_sample()
    # t0: inputs 0 and 2 are on -> 1 + 2 non-zero weights; t1: inputs 0 and 1 -> 1 + 0
    assert (ops["effective_acs"], ops["effective_macs"], ops["dense"]) == (4, 0, 12)
    assert ops["energy_pj"] == pytest.approx(4 * ENERGY_PJ["ac"])
    with SynOpsProbe(fc) as probe:             # analog input: the same count, as MACs
        fc(spikes * 0.5)
        probe.add_samples(1)
    assert (probe.per_sample()["effective_acs"], probe.per_sample()["effective_macs"]) == (0, 4)


def test_synops_of_a_tiny_conv_by_hand():
    conv = nn.Conv2d(1, 1, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, 0], [0, 1]]).view(1, 1, 2, 2))
    x = torch.eye(3).view(1, 1, 3, 3)
    with SynOpsProbe(conv) as probe:
        conv(x)
        probe.add_samples(1)
    ops = probe.per_sample()
    assert (ops["effective_acs"], ops["dense"]) == (4, 16)   # 2 + 0 + 0 + 2 products; 4 outputs x 4 weights


@pytest.mark.parametrize("layer,shape", [(nn.Conv2d(2, 4, 3, padding=1), (3, 2, 6, 6)), (nn.Linear(12, 5), (3, 12))])
def test_synops_agree_with_spikingjelly_op_counter_on_dense_weights(layer, shape):
    """SpikingJelly's SynOpCounter counts weight uses by spike inputs; with no zero weights ours must agree."""
    from spikingjelly.activation_based.op_counter import DispatchCounterMode, SynOpCounter

    torch.manual_seed(0)
    spikes = (torch.rand(shape) > 0.7).float()
    counter = SynOpCounter()
    with torch.no_grad(), DispatchCounterMode([counter]):
        layer(spikes)
    with torch.no_grad(), SynOpsProbe(layer) as probe:
        layer(spikes)
    assert counter.get_total() > 0 and probe.acs == counter.get_total()


def test_firing_rate_probe_counts_nonzero_outputs():
    from spikingjelly.activation_based import neuron

    sn = neuron.IFNode(step_mode="m")
    net = nn.Sequential(nn.Identity(), sn)
    x = torch.tensor([[[1.0, 0.0, 0.5, 2.0]], [[0.0, 0.0, 0.5, 0.0]]])   # [T=2, N=1, 4]
    with FiringRateProbe(net) as probe:
        net(x)
    # t0 spikes: neuron 0 and 3; t1: neuron 2 (0.5 + 0.5 reaches 1)
    assert probe.rates() == {"1": pytest.approx(3 / 8)} and probe.mean() == pytest.approx(3 / 8)
