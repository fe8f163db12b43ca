"""Frame pipelines: what each seed does to a sample's frames [T, 2, H, W] (raw event counts) before the network.

| pipeline | resize (to `size`) | training augmentation |
|---|---|---|
| `dsr` | the whole [T, 2, H, W] tensor, bilinear **without antialiasing** (torchvision before 0.17 on tensors) | random crop with zero padding 4 (one offset for all frames), no flip |
| `asgl` | frame by frame through PIL (ToPILImage -> Resize -> ToTensor), with its two side effects (below) | horizontal flip (p 0.5), then a circular roll by (dy, dx), each uniform in [-5, 5] |
| `ratebp` | identical to `asgl` (rate-BP's CIFAR10_DVS_Aug is the same code) | identical to `asgl` |
| `clean` | each polarity on its own, bilinear with antialiasing, in float (counts kept) | random crop with zero padding 4, plus a horizontal flip where the classes allow it |

The PIL chain of ASGL / rate-BP (specs dsr_asgl.md B.8, ratebp.md 8) does two things nobody asked for; both are
reproduced by default and each has a switch:
1. `pil_uint8_wrap`: ToPILImage turns a float v into uint8(v * 255) by truncation, and values above 1 wrap around
   (counts 1, 2, 3 become 255, 254, 253), so raw counts come out nearly binary. false: saturate at 255 instead.
2. `pil_premultiply_la`: a 2-channel image is PIL mode 'LA' (grey + alpha), which Pillow resizes with premultiplied
   alpha: channel 0 is multiplied by channel 1 / 255 before resizing and divided after, so channel 0 is 0 wherever
   channel 1 has no events under the filter. false: resize the two channels independently.
PIL leaves an image of unchanged size alone (no premultiplication) and so does the emulation.

`clean` is our recommendation: it keeps what the seeds share (bilinear downsizing of raw counts, translation, and
flips where they do not change the class) without the quirks, and translates with zero padding instead of
wrapping content around the border. Augmentation draws from torch's generator (seeded by the run, saved in
checkpoints); the originals draw from Python's `random`.
"""
from __future__ import annotations

from typing import Callable

import torch

PIPELINES = ("dsr", "asgl", "ratebp", "clean")
Transform = Callable[[torch.Tensor], torch.Tensor]


class Compose:
    def __init__(self, *steps: Transform):
        self.steps = [s for s in steps if s is not None]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for step in self.steps:
            x = step(x)
        return x

    def __repr__(self) -> str:
        return f"Compose({', '.join(map(repr, self.steps))})"


class TensorResize:
    """Bilinear resize of [T, C, H, W] (align_corners=False), with or without antialiasing."""

    def __init__(self, size: int, antialias: bool):
        self.size, self.antialias = size, antialias

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        from torchvision.transforms import functional as TF

        return TF.resize(frames, [self.size, self.size], antialias=self.antialias)

    def __repr__(self) -> str:
        return f"TensorResize({self.size}, antialias={self.antialias})"


def to_uint8(frames: torch.Tensor, wrap: bool = True) -> torch.Tensor:
    """ToPILImage's float -> uint8 step: truncate v * 255; wrap: modulo 256 (what the originals got); else saturate."""
    scaled = frames.float() * 255
    if wrap:
        return scaled.to(torch.int64).remainder(256).to(torch.uint8)
    return scaled.clamp(0, 255).to(torch.uint8)


class PILFrameResize:
    """ASGL / rate-BP: every frame through uint8 -> PIL 'LA' image -> bilinear resize -> float / 255."""

    def __init__(self, size: int, uint8_wrap: bool = True, premultiply_la: bool = True):
        self.size, self.uint8_wrap, self.premultiply_la = size, uint8_wrap, premultiply_la

    def _resize(self, frame: torch.Tensor):
        from PIL import Image

        image = Image.fromarray(frame.permute(1, 2, 0).contiguous().numpy())       # [H, W, 2] uint8 -> 'LA'
        if image.size == (self.size, self.size):
            return image                                                       # PIL returns a copy unchanged
        size, bilinear = (self.size, self.size), Image.Resampling.BILINEAR
        if self.premultiply_la:                     # what Image.resize does to 'LA' images internally
            return image.convert("La").resize(size, bilinear).convert("LA")
        return Image.merge("LA", [band.resize(size, bilinear) for band in image.split()])

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        import numpy as np

        if frames.shape[1] != 2:
            raise ValueError(f"the asgl / ratebp pipelines take 2-channel frames, got {tuple(frames.shape)}")
        u8 = to_uint8(frames, self.uint8_wrap)
        out = [torch.from_numpy(np.asarray(self._resize(f)).copy()).permute(2, 0, 1) for f in u8]
        return torch.stack(out).float().div(255)

    def __repr__(self) -> str:
        return f"PILFrameResize({self.size}, uint8_wrap={self.uint8_wrap}, premultiply_la={self.premultiply_la})"


class FlipRoll:
    """ASGL / rate-BP training augmentation on [T, C, H, W]: flip W with probability 0.5, then torch.roll by
    (dy, dx), each an integer uniform in [-max_shift, max_shift] (circular: what leaves one side comes back on the
    other). One draw per sample, the same for all frames."""

    def __init__(self, max_shift: int = 5):
        self.max_shift = max_shift

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        if torch.rand(()) < 0.5:
            frames = frames.flip(-1)
        dy, dx = torch.randint(-self.max_shift, self.max_shift + 1, (2,)).tolist()
        return torch.roll(frames, shifts=(dy, dx), dims=(-2, -1))

    def __repr__(self) -> str:
        return f"FlipRoll({self.max_shift})"


def frame_transforms(pipeline: str, frame_size: int, size: int | None, augment: bool = True,
                     mirror_safe: bool = True, pil_uint8_wrap: bool = True,
                     pil_premultiply_la: bool = True) -> tuple[Transform, Transform]:
    """(train, eval) transforms for frames of side `frame_size`, resized to `size` (None: kept)."""
    from torchvision import transforms as tv

    if pipeline not in PIPELINES:
        raise ValueError(f"unknown frame pipeline {pipeline!r}: choose one of {', '.join(PIPELINES)}")
    out = size or frame_size
    keep = size is None or size == frame_size
    if pipeline == "dsr":
        resize = None if keep else TensorResize(out, antialias=False)
        train_aug: list[Transform] = [tv.RandomCrop(out, padding=4)]
    elif pipeline in ("asgl", "ratebp"):
        resize = PILFrameResize(out, pil_uint8_wrap, pil_premultiply_la)   # also the uint8 round trip at full size
        train_aug = [FlipRoll(5)]
    else:
        resize = None if keep else TensorResize(out, antialias=True)
        train_aug = [tv.RandomCrop(out, padding=4)] + ([tv.RandomHorizontalFlip()] if mirror_safe else [])
    eval_tf = Compose(resize)
    train_tf = Compose(resize, *(train_aug if augment else []))
    return train_tf, eval_tf
