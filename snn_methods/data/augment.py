"""Image augmentations that torchvision does not have."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch


class Cutout:
    """Zero `n_holes` squares of side `length` whose centres are uniform over the image, clipped at the border
    (DeVries & Taylor 2017, as rate-BP's and ASGL's CIFAR pipelines use it).

    The originals cut after ToTensor and before Normalize, so a hole is 0 there and -mean/std after normalising. Here
    it may sit anywhere in the pipeline: on a PIL image (the suite's train_transforms run before ToTensor) a hole
    is black, which ToTensor maps to the same 0; on a [C, H, W] tensor it is 0. Positions come from torch's RNG
    (seeded per loader worker)."""

    def __init__(self, n_holes: int = 1, length: int = 16):
        if n_holes < 0 or length < 0:
            from snn_methods.errors import ConfigError

            raise ConfigError(f"Cutout(n_holes={n_holes}, length={length}) is invalid: both must be >= 0")
        self.n_holes, self.length = n_holes, length

    def boxes(self, height: int, width: int) -> list[tuple[int, int, int, int]]:
        """(y1, y2, x1, x2) of each hole."""
        out = []
        for _ in range(self.n_holes):
            y, x = int(torch.randint(height, ())), int(torch.randint(width, ()))
            half = self.length // 2
            out.append((max(y - half, 0), min(y + half, height), max(x - half, 0), min(x + half, width)))
        return out

    def __call__(self, img: Any) -> Any:
        if isinstance(img, torch.Tensor):
            img = img.clone()
            for y1, y2, x1, x2 in self.boxes(*img.shape[-2:]):
                img[..., y1:y2, x1:x2] = 0
            return img
        from PIL import Image

        pixels = np.array(img)
        for y1, y2, x1, x2 in self.boxes(*pixels.shape[:2]):
            pixels[y1:y2, x1:x2] = 0
        return Image.fromarray(pixels)

    def __repr__(self) -> str:
        return f"Cutout(n_holes={self.n_holes}, length={self.length})"
