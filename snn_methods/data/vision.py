"""Image data sets through torchvision (MNIST, Fashion-MNIST, CIFAR-10/100, ImageNet folders).

Nothing is downloaded unless `dataset.download=true`; a missing data set raises DataError naming the folder
that was searched and the override that fixes it. Downloads go to a temporary folder that is moved into
place only when complete, so an interrupted download leaves nothing half-written behind.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from torch.utils.data import Subset

from snn_methods.data.bundle import DataBundle, LoaderSettings, make_loaders, stratified_split
from snn_methods.errors import DataError

# option name -> (torchvision class, folder it keeps under root, number of classes, input shape)
TORCHVISION_SETS = {
    "mnist": ("MNIST", "MNIST", 10, (1, 28, 28)),
    "fashion_mnist": ("FashionMNIST", "FashionMNIST", 10, (1, 28, 28)),
    "cifar10": ("CIFAR10", "cifar-10-batches-py", 10, (3, 32, 32)),
    "cifar100": ("CIFAR100", "cifar-100-python", 100, (3, 32, 32)),
}


def _transforms(train_transforms: Sequence[Any], normalize: bool, mean: Sequence[float], std: Sequence[float]):
    from torchvision import transforms as tv

    tail = [tv.ToTensor()] + ([tv.Normalize(mean, std)] if normalize else [])
    return tv.Compose([*train_transforms, *tail]), tv.Compose(tail)


def _download(cls: Any, root: Path, name: str) -> None:
    """Download both splits into root/.partial-<name>-<pid>, then move the finished folders into root."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".partial-{name}-{os.getpid()}"
    try:
        for train in (True, False):
            cls(str(tmp), train=train, download=True)
        for entry in tmp.iterdir():
            target = root / entry.name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            os.replace(entry, target)
    except Exception as e:  # network errors come in many types; all mean the same thing here
        raise DataError(f"downloading {name} into {root} failed ({type(e).__name__}: {e}); nothing was kept. "
                        f"Check the network, or copy the data into {root} yourself") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _open(cls: Any, root: Path, name: str, folder: str, **kwargs: Any) -> Any:
    try:
        return cls(str(root), **kwargs)
    except RuntimeError as e:
        if "not found" not in str(e).lower():
            raise
        raise DataError(f"{name} not found in {root / folder}. Download it with `dataset={name} dataset.download=true` "
                        f"(needs internet), or point `dataset.root=/path/containing/{folder}`") from None


def torchvision_dataset(*, name: str, root: str, download: bool = False, val_size: int = 5000, split_seed: int = 0,
                        normalize: bool = True, mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,),
                        train_transforms: Sequence[Any] = (), num_workers: int = 4,
                        loader: LoaderSettings = LoaderSettings()) -> DataBundle:
    import torchvision.datasets as tvd

    if name not in TORCHVISION_SETS:
        raise DataError(f"dataset.name={name!r} is not a torchvision set here: choose one of {', '.join(TORCHVISION_SETS)}")
    cls_name, folder, num_classes, shape = TORCHVISION_SETS[name]
    cls, root_path = getattr(tvd, cls_name), Path(root).expanduser().resolve()
    if download:
        _download(cls, root_path, name)
    train_tf, eval_tf = _transforms(train_transforms, normalize, mean, std)
    train_aug = _open(cls, root_path, name, folder, train=True, transform=train_tf)
    train_eval = _open(cls, root_path, name, folder, train=True, transform=eval_tf)
    test = _open(cls, root_path, name, folder, train=False, transform=eval_tf)
    keep, held_out = stratified_split(train_aug.targets, val_size, split_seed)
    train, val = Subset(train_aug, keep), Subset(train_eval, held_out)
    loaders = make_loaders(train, val, test, loader, num_workers=num_workers)
    return DataBundle(name, *loaders, num_classes=num_classes, input_shape=shape,
                      info={"name": name, "root": str(root_path),
                            "split": f"official test; val = {val_size} stratified from train, seed {split_seed}",
                            "sizes": {"train": len(train), "val": len(val), "test": len(test)}})


def imagenet(*, name: str = "imagenet", root: str, val_size: int = 10000, split_seed: int = 0, image_size: int = 224,
             resize: int = 256, mean: Sequence[float] = (0.485, 0.456, 0.406),
             std: Sequence[float] = (0.229, 0.224, 0.225), train_transforms: Sequence[Any] = (),
             num_workers: int = 8, loader: LoaderSettings = LoaderSettings()) -> DataBundle:
    """ImageFolder layout: root/train/<class>/*, root/val/<class>/* (val serves as the test set)."""
    from torchvision import datasets as tvd, transforms as tv

    root_path = Path(root).expanduser().resolve()
    for split in ("train", "val"):
        if not (root_path / split).is_dir():
            raise DataError(f"{name} not found: {root_path / split} is missing. ImageNet cannot be downloaded "
                            f"automatically; put it in the ImageFolder layout root/train/<class>/*.JPEG and "
                            f"root/val/<class>/*.JPEG and point `dataset.root=/path/to/imagenet`")
    tail = [tv.ToTensor(), tv.Normalize(mean, std)]
    train_tf = tv.Compose([*train_transforms, *tail])
    eval_tf = tv.Compose([tv.Resize(resize), tv.CenterCrop(image_size), *tail])
    train_aug = tvd.ImageFolder(str(root_path / "train"), transform=train_tf)
    train_eval = tvd.ImageFolder(str(root_path / "train"), transform=eval_tf)
    test = tvd.ImageFolder(str(root_path / "val"), transform=eval_tf)
    if train_aug.classes != test.classes:
        raise DataError(f"{root_path}/train and {root_path}/val hold different class folders")
    keep, held_out = stratified_split(train_aug.targets, val_size, split_seed)
    train, val = Subset(train_aug, keep), Subset(train_eval, held_out)
    loaders = make_loaders(train, val, test, loader, num_workers=num_workers)
    return DataBundle(name, *loaders, num_classes=len(train_aug.classes), input_shape=(3, image_size, image_size),
                      info={"name": name, "root": str(root_path),
                            "split": f"val folder as test; val = {val_size} stratified from train, seed {split_seed}",
                            "sizes": {"train": len(train), "val": len(val), "test": len(test)}})


