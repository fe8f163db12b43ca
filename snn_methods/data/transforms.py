"""Image transforms the torchvision pipelines lack (used in `dataset.train_transforms` lists)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch


class Cutout:
    """Cutout (DeVries & Taylor 2017) as ASGL uses it (spec dsr_asgl.md B.8): `n_holes` squares of side `length`,
    each centred uniformly on a pixel of the image and clipped at the borders, set to 0 in every channel.

    Works on PIL images and on [C, H, W] tensors. ASGL cuts the tensor after ToTensor and before Normalize, so cut
    pixels end up at -mean/std; the suite's `train_transforms` run before ToTensor, and a zeroed PIL pixel becomes
    the same 0.0 after ToTensor, hence the same value after Normalize. Centres come from torch's RNG (seeded per
    DataLoader worker; NumPy's would repeat across workers).
    """

    def __init__(self, n_holes: int = 1, length: int = 16):
        if n_holes < 0 or length < 0:
            raise ValueError(f"Cutout(n_holes={n_holes}, length={length}): both must be >= 0")
        self.n_holes, self.length = int(n_holes), int(length)

    def boxes(self, h: int, w: int) -> list[tuple[int, int, int, int]]:
        """(top, bottom, left, right) of each hole, clipped to the image."""
        out = []
        for _ in range(self.n_holes):
            y, x = int(torch.randint(h, ())), int(torch.randint(w, ()))
            half = self.length // 2
            out.append((max(y - half, 0), min(y + half, h), max(x - half, 0), min(x + half, w)))
        return out

    def __call__(self, img: Any) -> Any:
        if isinstance(img, torch.Tensor):
            img = img.clone()
            for y0, y1, x0, x1 in self.boxes(img.shape[-2], img.shape[-1]):
                img[..., y0:y1, x0:x1] = 0
            return img
        from PIL import Image

        arr = np.array(img)
        for y0, y1, x0, x1 in self.boxes(arr.shape[0], arr.shape[1]):
            arr[y0:y1, x0:x1] = 0
        return Image.fromarray(arr)

    def __repr__(self) -> str:
        return f"Cutout(n_holes={self.n_holes}, length={self.length})"
