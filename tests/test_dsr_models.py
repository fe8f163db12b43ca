"""DSR's networks (spec dsr_asgl.md A.3, A.6, F.4), its training recipe (A.5) and the pitfalls of part E."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from snn_methods import build, compose
from snn_methods.models import create_model
from snn_methods.models.dsr import StepSequential
from snn_methods.neurons import NeuronFactory, spiking_neurons
from snn_methods.neurons.dsr import DSRNode

DSR_IF = NeuronFactory({"_target_": "snn_methods.neurons.dsr.DSRIFNode"})
DSR_LIF = NeuronFactory({"_target_": "snn_methods.neurons.dsr.DSRLIFNode"})
RELU = NeuronFactory({"_target_": "torch.nn.ReLU"})
pytestmark = pytest.mark.usefixtures("one_thread")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def thresholds(model: nn.Module) -> list[nn.Parameter]:
    return [m.v_threshold for _, m in spiking_neurons(model) if isinstance(m, DSRNode)]


@pytest.mark.parametrize("name,classes,shape,neuron,params,layers", [
    ("dsr_preact_resnet18", 10, (3, 32, 32), DSR_IF, 11_176_945, 19),
    ("dsr_preact_resnet18", 100, (3, 32, 32), DSR_LIF, 11_223_295, 19),
    ("dsr_vgg11", 10, (2, 48, 48), DSR_LIF, 9_476_327, 9),
    ("dsr_preact_resnet18_imagenet", 1000, (3, 224, 224), DSR_IF, 11_691_660, 20),
    ("dsr_preact_resnet18_imagenet", 1000, (3, 224, 224), RELU, 11_691_640, 20),
])
def test_parameter_counts_match_the_originals(name, classes, shape, neuron, params, layers):
    model = create_model(name, neuron=neuron, num_classes=classes, input_shape=shape)
    assert n_params(model) == params
    assert len(list(spiking_neurons(model))) == layers
    assert len(thresholds(model)) == (0 if neuron is RELU else layers)


def test_ann_and_snn_state_dicts_differ_only_in_the_thresholds():
    ann = create_model("dsr_preact_resnet18_imagenet", neuron=RELU, num_classes=10, input_shape=(3, 32, 32), base_width=8)
    snn = create_model("dsr_preact_resnet18_imagenet", neuron=DSR_IF, num_classes=10, input_shape=(3, 32, 32), base_width=8)
    extra = set(snn.state_dict()) - set(ann.state_dict())
    assert set(ann.state_dict()) <= set(snn.state_dict()) and extra and all(k.endswith(".v_threshold") for k in extra)


@pytest.mark.parametrize("name,neuron", [(m, n) for m in ("dsr_mlp", "dsr_preact_resnet18_imagenet")
                                         for n in ("dsr_if", "dsr_lif", "lif", "if", "plif", "relu")]
                         + [(m, n) for m in ("dsr_preact_resnet18", "dsr_vgg11") for n in ("dsr_lif", "plif", "relu")])
def test_any_neuron_fits_the_dsr_models(name, neuron):
    factory = NeuronFactory(compose([f"neuron={neuron}"]).neuron)
    kw = {"base_width": 8} if name.endswith("imagenet") else {}
    model = create_model(name, neuron=factory, num_classes=4, input_shape=(1, 8, 8), **kw)
    out = model(torch.rand(3, 2, 1, 8, 8))
    assert out.shape == (3, 2, 4)
    out.sum().backward()


def _capture(module: nn.Module, store: dict, key: str):
    return module.register_forward_hook(lambda m, i, o: store.__setitem__(key, o))


def test_cifar_identity_shortcut_adds_the_spikes_not_the_block_input():
    model = create_model("dsr_preact_resnet18", neuron=DSR_IF, num_classes=10, input_shape=(3, 32, 32))
    block = model.layer1[0]                                   # 64 -> 64, stride 1: identity shortcut
    assert isinstance(block.shortcut, nn.Identity)
    seen: dict = {}
    handles = [_capture(block.relu1, seen, "z"), _capture(block.conv2, seen, "h"), _capture(block, seen, "out")]
    x = torch.randn(2, 3, 64, 8, 8)
    block(x)
    for h in handles:
        h.remove()
    torch.testing.assert_close(seen["out"], seen["h"].view_as(seen["out"]) + seen["z"])
    assert not torch.allclose(seen["out"], seen["h"].view_as(seen["out"]) + x)
    # the projection shortcut is a 1x1 conv with bias (no BN) on the spikes; every block conv has a bias
    down = model.layer2[0]
    assert isinstance(down.shortcut, nn.Conv2d) and down.shortcut.bias is not None and down.conv1.bias is not None
    # the stem conv has no bias and no BN or neuron after it: the first block's BN comes next
    assert model.conv1.bias is None


def test_imagenet_blocks_add_the_spikes_and_use_convs_without_bias():
    model = create_model("dsr_preact_resnet18_imagenet", neuron=DSR_IF, num_classes=10, input_shape=(3, 32, 32),
                         base_width=8)
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))
    assert isinstance(model.maxpool, nn.AvgPool2d) and (model.maxpool.kernel_size, model.maxpool.stride,
                                                        model.maxpool.padding) == (3, 2, 1)
    block = model.layer1[0]
    assert block.downsample is None
    seen: dict = {}
    handles = [_capture(block.relu1, seen, "z"), _capture(block.conv2, seen, "h"), _capture(block, seen, "out")]
    block(torch.randn(2, 3, 8, 4, 4))
    for h in handles:
        h.remove()
    torch.testing.assert_close(seen["out"], seen["h"].view_as(seen["out"]) + seen["z"])
    down = model.layer2[0].downsample
    assert isinstance(down[0], nn.Conv2d) and isinstance(down[1], nn.BatchNorm2d)


@pytest.mark.parametrize("factory,bound", [(DSR_IF, lambda n: n.v_threshold), (DSR_LIF, lambda n: n.v_threshold / n.delta_t)])
def test_logits_are_the_bounded_representation_of_a_final_neuron_after_bn1d(factory, bound):
    torch.manual_seed(0)
    model = create_model("dsr_preact_resnet18", neuron=factory, num_classes=10, input_shape=(3, 16, 16))
    assert isinstance(model.bn2, nn.BatchNorm1d) and isinstance(model.relu3, DSRNode)
    seen: dict = {}
    _capture(model.relu3, seen, "spikes")
    with torch.no_grad():
        out = model(torch.randn(4, 1, 3, 16, 16).expand(4, 6, 3, 16, 16) * 3)
    logits = out.mean(0)
    assert float(logits.min()) >= 0 and float(logits.max()) <= float(bound(model.relu3).detach()) + 1e-5
    # the time mean of the output is the last neuron's (weighted) rate: sum_t w_t o_t / sum_t w_t for LIF
    w = model.relu3.time_weights(4) if hasattr(model.relu3, "time_weights") else torch.ones(4)
    expected = (w.view(4, 1, 1) * seen["spikes"]).sum(0) / w.sum()
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


def test_batch_norm_statistics_are_taken_over_time_and_batch_jointly():
    """Spec F.4: from running_mean = 0, one training step leaves 0.1 x the per-channel mean over T*N*H*W."""
    torch.manual_seed(0)
    model = create_model("dsr_vgg11", neuron=DSR_IF, num_classes=10, input_shape=(2, 16, 16))
    bn, seen = model.layer2[1], {}
    bn.register_forward_pre_hook(lambda m, args: seen.__setitem__("x", args[0]))
    model(torch.rand(4, 3, 2, 16, 16) * torch.arange(1.0, 5.0).view(4, 1, 1, 1, 1))   # steps differ
    assert seen["x"].shape[0] == 4 * 3                                                # one call on T*N
    torch.testing.assert_close(bn.running_mean, 0.1 * seen["x"].mean(dim=(0, 2, 3)))


def test_dropout_draws_a_fresh_mask_at_every_time_step():
    torch.manual_seed(0)
    model = create_model("dsr_vgg11", neuron=DSR_IF, num_classes=10, input_shape=(2, 16, 16))
    assert isinstance(model.layer1[3], nn.Dropout) and model.layer1[3].p == 0.1
    drop = StepSequential(nn.Dropout(0.5))
    masks = drop(torch.ones(4, 2, 1000)) != 0
    assert not torch.equal(masks[0], masks[1]) and not torch.equal(masks[2], masks[3])


def test_static_stem_runs_once_and_matches_running_it_at_every_step():
    torch.manual_seed(0)
    model = create_model("dsr_preact_resnet18", neuron=DSR_IF, num_classes=10, input_shape=(3, 16, 16))
    image = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        model.eval()
        once = model(image.unsqueeze(0).expand(3, *image.shape))
        every = model(image.unsqueeze(0).repeat(3, 1, 1, 1, 1))
    torch.testing.assert_close(once, every)


# ------------------------------------------------------------------------------------------------ recipe (A.5)
def test_method_dsr_trains_every_parameter_in_one_group_with_weight_decay(tiny):
    exp = build(tiny("method=dsr", "model=dsr_mlp"))
    [group] = exp.optimizer.param_groups
    assert group["weight_decay"] == 5e-4 and group["momentum"] == 0.9 and group["lr"] > 0
    in_group = {id(p) for p in group["params"]}
    vths = thresholds(exp.model)
    bn = [p for m in exp.model.modules() if isinstance(m, nn.BatchNorm1d) for p in m.parameters()]
    assert vths and bn and all(id(p) in in_group for p in vths + bn)
    assert len(in_group) == len(list(exp.model.parameters()))
    assert exp.scheduler.interval == "step" and type(exp.loss_fn).__name__ == "RateCrossEntropy"


def _lrs(epochs: int, steps: int, warmup: int, first_epoch_only: bool = False) -> list[float]:
    from snn_methods.engine.schedulers import CosineWarmupIters

    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = CosineWarmupIters(opt, epochs=epochs, steps_per_epoch=steps, warmup_iters=warmup,
                              warmup_first_epoch_only=first_epoch_only)
    lrs = []
    for _ in range(epochs * steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_warm_up_spans_epochs_and_multiplies_the_per_epoch_cosine():
    """The original: at each epoch lr_e = 0.5 lr (1 + cos(pi e / E)); while the global iteration i < W,
    lr = lr_e (i + 1) / W."""
    epochs, steps, warmup = 4, 5, 7
    expected = []
    for i in range(epochs * steps):
        lr_e = 0.5 * 0.1 * (1 + math.cos(i // steps / epochs * math.pi))
        expected.append(lr_e * (i + 1) / warmup if i < warmup else lr_e)
    assert _lrs(epochs, steps, warmup) == pytest.approx(expected, rel=1e-12)
    assert _lrs(epochs, steps, warmup)[-1] > 0                      # never reaches 0
    # ImageNet main: the warm-up stops with epoch 0 (steps 5, 6 of epoch 1 are at the full cosine value)
    first_only = _lrs(epochs, steps, warmup, first_epoch_only=True)
    assert first_only[:steps] == pytest.approx(expected[:steps]) and first_only[steps] == pytest.approx(0.5 * 0.1 * (1 + math.cos(math.pi / 4)))


def test_warm_up_counter_survives_a_resume():
    from snn_methods.engine.schedulers import CosineWarmupIters

    def make():
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
        return opt, CosineWarmupIters(opt, epochs=3, steps_per_epoch=4, warmup_iters=6)
    opt, sched = make()
    for _ in range(5):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2, sched2 = make()
    sched2.load_state_dict(state)
    sched2.step()
    sched.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])


@pytest.mark.parametrize("neuron", ["dsr_if", "dsr_lif"])
def test_dsr_learns_digits(tiny, tmp_path, neuron):
    from snn_methods import run

    res = run(tiny("method=dsr", f"neuron={neuron}", "model=dsr_mlp", "T=5", "epochs=3", "batch_size=32",
                   "train.limit_train_batches=null", "train.limit_eval_batches=null", "hardware.num_threads=1",
                   "scheduler.warmup_iters=34"), run_dir=tmp_path)     # warm up over epoch 0 (34 batches)
    assert res["final"]["test_acc"] > 0.92, res["final"]
    assert res["history"][0]["lr"] < res["history"][1]["lr"]        # epoch 0 starts in the warm-up


# ------------------------------------------------------------------------------------------------ the suite's models
@pytest.mark.parametrize("neuron", ["dsr_if", "dsr_lif"])
def test_built_neuron_is_multi_step_with_the_threshold_parameter(tiny, neuron):
    """The fixed key contract: build(cfg).neuron() maps [T, N, ...] to [T, N, ...]; its threshold is `v_threshold`."""
    exp = build(tiny("method=dsr", f"neuron={neuron}", "neuron.v_threshold=0.7"))
    node = exp.neuron()
    assert isinstance(node.v_threshold, nn.Parameter) and float(node.v_threshold.detach()) == pytest.approx(0.7)
    assert node(torch.rand(3, 2, 4, 5)).shape == (3, 2, 4, 5)


@pytest.mark.parametrize("model,dataset", [("mlp", "digits"), ("mnist_fc800", "digits"), ("cifar10_6c2f", "synthetic"),
                                           ("spiking_vgg11", "synthetic"), ("sew_resnet18", "synthetic")])
def test_method_dsr_runs_on_the_suites_models(tiny, model, dataset):
    """method=dsr neuron=dsr_* on any model of the suite: every neuron is a DSR node and every threshold learns."""
    exp = build(tiny("method=dsr", "neuron=dsr_lif", f"model={model}", f"dataset={dataset}"))
    x, _ = next(iter(exp.data.train))
    out = exp.model(exp.encoder(x))
    assert out.shape[:2] == (exp.cfg.T, x.shape[0])
    out.mean(0).sum().backward()
    nodes = [m for _, m in spiking_neurons(exp.model)]
    assert nodes and all(isinstance(m, DSRNode) for m in nodes)
    assert all(m.v_threshold.grad is not None for m in nodes)


@pytest.mark.parametrize("name,shape,train", [("dsr_preact_resnet18", (3, 8, 8), True), ("dsr_preact_resnet18", (3, 8, 8), False),
                                              ("dsr_vgg11", (2, 8, 8), False),
                                              ("dsr_preact_resnet18_imagenet", (3, 16, 16), False)])
def test_the_same_image_twice_in_a_batch_gives_the_same_logits(name, shape, train):
    """Spec F.4: per-sample invariance; in train mode it holds for the ResNet (dropout 0), not for the VGG (0.1)."""
    torch.manual_seed(0)
    kw = {"base_width": 8} if name.endswith("imagenet") else {}
    model = create_model(name, neuron=DSR_LIF, num_classes=10, input_shape=shape, **kw)
    x = torch.rand(3, *shape)
    batch = torch.cat([x, x[:1]]).unsqueeze(0).expand(4, 4, *shape)      # image 0 at positions 0 and 3
    with torch.no_grad():
        for m in model.modules():                   # running statistics = this batch's, so eval mode is not all 0
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.momentum = None
        model.train()(batch)
        logits = model.train(train)(batch).mean(0)
    assert logits.abs().sum() > 0
    assert torch.equal(logits[0], logits[3])
    assert not torch.equal(logits[0], logits[1]) or not torch.equal(logits[0], logits[2])
