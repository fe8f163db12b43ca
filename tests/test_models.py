"""Every registered model builds, runs forward/backward in multi-step mode, and takes any neuron."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from spikingjelly.activation_based import functional

from snn_methods import compose
from snn_methods.errors import ConfigError
from snn_methods.models import create_model, list_models
from snn_methods.models.layers import PerStepBatchNorm, SeqStem, SeqToANN
from snn_methods.neurons import NeuronFactory, spiking_neurons


@pytest.mark.parametrize("name", list_models())
def test_every_model_forward_backward(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, input_shape=(3, 32, 32))
    x = torch.rand(2, 2, 3, 32, 32)             # [T, N, C, H, W]
    out = model(x)
    assert out.shape == (2, 2, 10)
    out.mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads[:1])
    assert any(float(g.abs().sum()) > 0 for g in grads if g is not None)
    functional.reset_net(model)
    assert len(list(spiking_neurons(model))) >= 2


@pytest.mark.parametrize("neuron", ["lif", "if", "plif"])
@pytest.mark.parametrize("name", ["mlp", "mnist_fc800", "spiking_vgg11"])
def test_any_neuron_fits_any_model(name, neuron):
    factory = NeuronFactory(compose([f"neuron={neuron}"]).neuron)
    model = create_model(name, neuron=factory, num_classes=4, input_shape=(1, 8, 8))
    assert model(torch.rand(3, 2, 1, 8, 8)).shape == (3, 2, 4)
    assert all(type(m).__name__ == factory.node["_target_"].rsplit(".", 1)[1] for _, m in spiking_neurons(model))


def test_neuron_factory_gives_each_layer_its_own_surrogate():
    factory = NeuronFactory(compose(["neuron/surrogate=sigmoid", "neuron.surrogate.alpha=3.0"]).neuron)
    a, b = factory(), factory()
    assert a.surrogate_function is not b.surrogate_function
    assert type(a.surrogate_function).__name__ == "Sigmoid" and a.surrogate_function.alpha == 3.0
    assert a.step_mode == "m" and a.detach_reset


def test_unknown_model_lists_the_registry():
    with pytest.raises(ConfigError, match="mlp"):
        create_model("no_such_net", num_classes=10, input_shape=(1, 8, 8))


def test_cifar10_6c2f_counts_match_the_spec():
    model = create_model("cifar10_6c2f", num_classes=10, input_shape=(3, 32, 32))
    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    bn = sum(p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    assert (weights, bn) == (36_715_264, 3_072)        # spec pruning.md 2.2


def test_static_stem_runs_once_on_a_broadcast_input_and_matches_the_folded_path():
    torch.manual_seed(0)
    stem = SeqStem(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4))
    twin = SeqToANN(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4))
    twin.load_state_dict(stem.state_dict())
    image = torch.randn(5, 3, 6, 6)
    broadcast = image.unsqueeze(0).expand(4, *image.shape)        # what the direct encoder gives
    y_once, y_folded = stem(broadcast), twin(broadcast.contiguous())
    torch.testing.assert_close(y_once, y_folded, rtol=1e-5, atol=1e-5)   # same normalisation (same batch moments)
    assert stem[1].num_batches_tracked == 1 and twin[1].num_batches_tracked == 1
    # the static stem sees the 5 images once: running var uses n = 5*36, not n = 4*5*36
    assert not torch.allclose(stem[1].running_var, twin[1].running_var)


def test_per_step_batch_norm_updates_running_stats_every_step():
    bn = PerStepBatchNorm(nn.BatchNorm2d(2))
    x = torch.randn(3, 4, 2, 5, 5)
    y = bn(x)
    assert bn.bn.num_batches_tracked == 3
    for t in range(3):  # each step normalised with its own statistics
        assert y[t].mean(dim=(0, 2, 3)).abs().max() < 1e-5


# ------------------------------------------------------------------------------------ renamed models (aliases)
from pathlib import Path  # noqa: E402

from snn_methods.models.registry import ALIASES  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "asgl_resnet19_saved_as_resnet19.pt"


def test_every_model_config_file_names_its_registered_model():
    from snn_methods.config import CONF_DIR

    for path in (CONF_DIR / "model").glob("*.yaml"):
        assert compose([f"model={path.stem}"]).model.name == path.stem in list_models(), path.name


@pytest.mark.parametrize("old,new", sorted(ALIASES.items()))
def test_an_old_model_name_builds_the_renamed_model_and_says_so(old, new, caplog):
    assert old not in list_models() and new in list_models()
    shape = (2, 16, 16) if new == "asgl_vggsnn" else (3, 32, 32)
    kwargs = {"base_width": 8} if new == "dsr_preact_resnet18_imagenet" else {}
    torch.manual_seed(0)
    a = create_model(old, num_classes=3, input_shape=shape, **kwargs)
    torch.manual_seed(0)
    b = create_model(new, num_classes=3, input_shape=shape, **kwargs)
    assert type(a) is type(b) and all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                                         b.state_dict().values()))
    assert f"model {old!r} is now called {new!r}" in caplog.text


def test_a_checkpoint_written_before_the_rename_still_evaluates(tmp_path, caplog):
    """The fixture is a 1-epoch run of `model=resnet19` (synthetic 1x8x8, 3 classes, test accuracy 0.3125 on its
    one evaluation batch), written by the suite before the model was renamed asgl_resnet19."""
    import torch as _torch

    from snn_methods.reuse import evaluate_checkpoint

    saved = _torch.load(FIXTURE, weights_only=True)
    assert saved["config"]["model"]["name"] == "resnet19"
    res = evaluate_checkpoint(FIXTURE, ["logger=none"], run_dir=tmp_path / "eval")
    assert res["final"]["acc"] == pytest.approx(0.3125) == saved["metrics"]["test_acc"]
    assert "is now called 'asgl_resnet19'" in caplog.text
