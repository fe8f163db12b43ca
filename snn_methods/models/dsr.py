"""The DSR papers' networks (spec dsr_asgl.md A.3, A.6): pre-activation ResNet-18 (CIFAR and ImageNet forms) and
the CIFAR10-DVS VGG-11. Any neuron factory fits (DSR IF/LIF, SpikingJelly neurons, or ReLU for the ANN of the
hybrid ImageNet pipeline).

Layout as in the originals (time-major, multi-step): conv / BN / pooling / dropout run on T folded into the batch,
so BatchNorm statistics are taken over T*N jointly and dropout draws a fresh mask at every time step; neurons
take [T, N, ...]. The last layer is Linear -> BatchNorm1d -> neuron and the output is shaped so that its time mean
is that neuron's spike representation (rate, or weighted rate for DSR LIF; `spike_representation`), i.e. the
bounded logits the originals feed to cross-entropy. Module names follow the originals (conv1, layer1.0.relu1,
bn3, ...), so the ANN and SNN state dicts of one architecture differ only in the neurons' `v_threshold` entries.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn as nn

from snn_methods.models.registry import register_model
from snn_methods.neurons.dsr import spike_representation
from snn_methods.neurons.factory import is_spiking_neuron


def fold(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A stateless module on [T, N, ...] with T folded into the batch (the originals' [T*N, ...] layout)."""
    y = module(x.flatten(0, 1))
    return y.view(x.shape[0], x.shape[1], *y.shape[1:])


def fold_static(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`fold` for a module without batch statistics (a stem conv): run once when x is the direct encoder's
    broadcast view (the same image at every step), which gives the same values as running it T times."""
    if x.dim() > 2 and x.stride(0) == 0:
        y = module(x[0])
        return y.unsqueeze(0).expand(x.shape[0], *y.shape)
    return fold(module, x)


class StepSequential(nn.Sequential):
    """nn.Sequential on [T, N, ...]: spiking neurons see [T, N, ...], every other module runs folded."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self:
            x = module(x) if is_spiking_neuron(module) else fold(module, x)
        return x


# --------------------------------------------------------------------------------------------- CIFAR PreAct ResNet
class PreActBlock(nn.Module):
    """z = neuron(BN(x)); h = conv3x3(stride)(z); h = conv3x3(dropout(neuron(BN(h)))); out = h + shortcut(z).
    The identity shortcut adds the block's *spikes* z, not its input x (unlike a standard pre-act ResNet);
    all three convs have biases; the projection shortcut is a 1x1 conv without BN."""

    def __init__(self, neuron: Callable[..., nn.Module], c_in: int, c_out: int, stride: int, dropout: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, kernel_size=3, stride=1, padding=1)
        self.shortcut = (nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride) if stride != 1 or c_in != c_out
                         else nn.Identity())
        self.relu1, self.relu2 = neuron(), neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.relu1(fold(self.bn1, x))
        h = fold(self.conv1, z)
        h = fold(self.conv2, fold(self.dropout, self.relu2(fold(self.bn2, h))))
        return h + fold(self.shortcut, z)


class PreActResNet(nn.Module):
    def __init__(self, neuron: Callable[..., nn.Module], num_classes: int, in_channels: int,
                 blocks: Sequence[int] = (2, 2, 2, 2), dropout: float = 0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)  # no BN, no neuron
        c_in, layers = 64, []
        for width, n, stride in zip((64, 128, 256, 512), blocks, (1, 2, 2, 2)):
            layer = []
            for s in [stride] + [1] * (n - 1):
                layer.append(PreActBlock(neuron, c_in, width, s, dropout))
                c_in = width
            layers.append(nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.bn1 = nn.BatchNorm2d(512)
        self.pool = nn.AdaptiveAvgPool2d(1)     # the original's AvgPool2d(4) on the 4x4 map of a 32x32 input
        self.drop = nn.Dropout(dropout)
        self.linear = nn.Linear(512, num_classes)
        self.bn2 = nn.BatchNorm1d(num_classes)
        self.relu1, self.relu2, self.relu3 = neuron(), neuron(), neuron()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")   # biases keep torch's init
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = fold_static(self.conv1, x)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = self.relu2(fold(self.pool, self.relu1(fold(self.bn1, out))))
        out = self.linear(fold(self.drop, out.flatten(2)))
        out = self.relu3(fold(self.bn2, out))
        return spike_representation(self.relu3, out)


@register_model
def dsr_preact_resnet18(*, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
                    dropout: float = 0.0) -> nn.Module:
    """DSR's CIFAR PreAct-ResNet-18 (`preresnet.resnet18_if/_lif`): 19 neuron layers; 11,176,945 parameters for
    10 classes with DSR neurons (19 of them thresholds)."""
    return PreActResNet(neuron, num_classes, in_channels=input_shape[0], dropout=dropout)


# --------------------------------------------------------------------------------------------- CIFAR10-DVS VGG-11
VGG11_STAGES = ((64,), (128,), (256, 256), (512, 512), (512, 512))


class DSRVGG(nn.Module):
    def __init__(self, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
                 stages: Sequence[Sequence[int]] = VGG11_STAGES, dropout: float = 0.1):
        super().__init__()
        c_in, size = input_shape[0], min(input_shape[1:])
        for k, widths in enumerate(stages, start=1):
            layers: list[nn.Module] = []
            for width in widths:
                layers += [nn.Conv2d(c_in, width, kernel_size=3, padding=1), nn.BatchNorm2d(width), neuron(),
                           nn.Dropout(dropout)]
                c_in = width
            if size >= 2:                      # pools that would shrink the map below 1x1 (small inputs) are left out
                layers.append(nn.AvgPool2d(kernel_size=2, stride=2))
                size //= 2
            setattr(self, f"layer{k}", StepSequential(*layers))
        self.num_stages = len(stages)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))   # on CIFAR10-DVS: replicates the 1x1 map to 7x7
        self.classifier = StepSequential(nn.Flatten(), nn.Linear(c_in * 7 * 7, num_classes),
                                         nn.BatchNorm1d(num_classes), neuron())
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for k in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{k}")(x)
        out = self.classifier(fold(self.avgpool, x))
        return spike_representation(self.classifier[-1], out)


@register_model
def dsr_vgg11(*, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
              dropout: float = 0.1) -> nn.Module:
    """DSR's CIFAR10-DVS VGG-11 (`vgg.vgg11_if/_lif`): [conv3x3 (bias) -> BN -> neuron -> dropout] x 8 in five
    stages, each closed by AvgPool2d(2); AdaptiveAvgPool2d(7x7); Linear(25088 -> classes) -> BN1d -> neuron.
    9 neuron layers; 9,476,327 parameters for 2x48x48 input and 10 classes (named dsr_vgg11: `spiking_vgg11`
    is the suite's compact VGG-11 with a plain Linear readout)."""
    return DSRVGG(neuron, num_classes, input_shape, dropout=dropout)


# --------------------------------------------------------------------------------------------- ImageNet PreResNet
class PreBasicBlock(nn.Module):
    """z = neuron(BN(x)); h = conv3x3(stride)(z); h = conv3x3(neuron(BN(h))); out = h + (downsample(z) or z).
    Convs without bias; downsample = 1x1 conv (stride, no bias) + BN, on the spikes z."""

    def __init__(self, neuron: Callable[..., nn.Module], c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, kernel_size=3, stride=1, padding=1, bias=False)
        self.downsample = (nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=False),
                                         nn.BatchNorm2d(c_out)) if stride != 1 or c_in != c_out else None)
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.relu1, self.relu2 = neuron(), neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.relu1(fold(self.bn1, x))
        out = fold(self.conv2, self.relu2(fold(self.bn2, fold(self.conv1, z))))
        return out + (fold(self.downsample, z) if self.downsample is not None else z)


class ImageNetPreResNet(nn.Module):
    def __init__(self, neuron: Callable[..., nn.Module], num_classes: int, in_channels: int,
                 blocks: Sequence[int] = (2, 2, 2, 2), base_width: int = 64):
        super().__init__()
        w = base_width
        self.conv1 = nn.Conv2d(in_channels, w, kernel_size=7, stride=2, padding=3, bias=False)
        self.maxpool = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)   # average pooling, despite the name
        c_in, layers = w, []
        for width, n, stride in zip((w, 2 * w, 4 * w, 8 * w), blocks, (1, 2, 2, 2)):
            layer = []
            for s in [stride] + [1] * (n - 1):
                layer.append(PreBasicBlock(neuron, c_in, width, s))
                c_in = width
            layers.append(nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8 * w, num_classes)
        self.bn1, self.bn2, self.bn3 = nn.BatchNorm2d(w), nn.BatchNorm2d(8 * w), nn.BatchNorm1d(num_classes)
        self.relu1, self.relu2, self.relu3, self.relu4 = neuron(), neuron(), neuron(), neuron()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(fold(self.bn1, fold_static(self.conv1, x)))
        x = fold(self.maxpool, x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.relu3(fold(self.avgpool, self.relu2(fold(self.bn2, x))))
        x = self.relu4(fold(self.bn3, self.fc(x.flatten(2))))
        return spike_representation(self.relu4, x)


@register_model
def dsr_preact_resnet18_imagenet(*, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
                             base_width: int = 64) -> nn.Module:
    """DSR's ImageNet PreResNet-18 (`preresnet_ann.resnet18`, `preresnet_snn.resnet18_if/_lif`): 7x7/2 stem + BN +
    neuron, AvgPool(3, 2, 1), basic pre-activation blocks (2, 2, 2, 2), BN + neuron, global average pool + neuron,
    Linear -> BN1d -> neuron. 20 neuron sites; 11,691,640 parameters with ReLU (the ANN), + 20 thresholds with
    DSR neurons. `base_width` shrinks it for tests."""
    return ImageNetPreResNet(neuron, num_classes, in_channels=input_shape[0], base_width=base_width)


# --------------------------------------------------------------------------------------------- small inputs
@register_model
def dsr_mlp(*, neuron: Callable[..., nn.Module], num_classes: int, input_shape: Sequence[int],
            hidden: Sequence[int] = (256,)) -> nn.Module:
    """The DSR layout for small inputs (digits, tests): Flatten -> [Linear -> BN1d -> neuron] per hidden width
    -> Linear -> BN1d -> neuron, decoded as the last neuron's spike representation. BatchNorm (over T*N) before
    every neuron keeps DSR's gradient alive: its masks zero the gradient of a neuron whose mean input is < 0."""
    widths = [math.prod(input_shape), *hidden, num_classes]
    layers: list[nn.Module] = [nn.Flatten()]
    for w_in, w_out in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(w_in, w_out), nn.BatchNorm1d(w_out), neuron()]
    return _Readout(StepSequential(*layers))


class _Readout(nn.Module):
    """Decodes the output of `body` (ending in a neuron) as that neuron's spike representation."""

    def __init__(self, body: nn.Sequential):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spike_representation(self.body[-1], self.body(x))
