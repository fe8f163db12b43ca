"""Event-camera data sets: CIFAR10-DVS and DVS128 Gesture as [N, T, 2, H, W] frames (`DataBundle.temporal`).

Frames come from SpikingJelly's readers and integration, cached on disk once per (T, split_by) (see event_prep);
the train / test split, the validation hold-out and the frame pipeline (event_transforms) are chosen here.

Validation: a fixed, class-stratified hold-out of the training part (`val_fraction`, drawn with `split_seed`, the
foundation's convention), seen through the evaluation transform. The seeds have no validation set (they train on
the whole training part and report the best test accuracy); `val_from=test` reproduces that: the whole training
part trains and the validation loader is the test set (then `best.val_acc` is a test accuracy, and
`best.test_acc_max` is the seeds' number either way).
"""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import Dataset

from snn_methods.data.bundle import DataBundle, LoaderSettings, make_loaders, stratified_split
from snn_methods.data.event_files import CIFAR10_DVS_CLASSES
from snn_methods.data.event_prep import CIFAR10_DVS, DVS128_GESTURE, EventSet, prepare_frames
from snn_methods.data.event_splits import file_index, split_first, split_random
from snn_methods.data.event_transforms import frame_transforms
from snn_methods.errors import DataError

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Samples:
    files: list[Path]
    labels: list[int]

    def take(self, positions: list[int]) -> "Samples":
        return Samples([self.files[i] for i in positions], [self.labels[i] for i in positions])

    def __len__(self) -> int:
        return len(self.files)


class NpzFrames:
    """Reads one SpikingJelly frames file -> float32 [T, 2, H, W]. orientation='dsr' turns SpikingJelly's pixel
    layout (x = 127 - y_raw, y = 127 - x_raw) into DSR's vendored reader's (x = 127 - x_raw, y = y_raw)."""

    def __init__(self, orientation: str = "spikingjelly"):
        self.orientation = orientation

    def __call__(self, path: Path) -> torch.Tensor:
        from spikingjelly.datasets.utils import load_npz_frames

        try:
            frames = torch.from_numpy(load_npz_frames(path))
        except Exception as e:
            raise DataError(f"{path} is unreadable ({type(e).__name__}: {e}): delete its frames folder "
                            f"{path.parent.parent} to build it again") from None
        if self.orientation == "dsr":     # F_dsr[p, a, b] = F_sj[p, b, 127 - a]
            frames = frames.transpose(-1, -2).flip(-2)
        return frames


class PtFrames:
    """Reads one pre-framed `{i}.pt` file ([frames, label], ASGL / rate-BP / TET) -> float [T, C, H, W]."""

    def __init__(self, layout: str = "tchw"):
        self.layout = layout

    def __call__(self, path: Path) -> torch.Tensor:
        frames = torch.load(path, weights_only=True)[0].float()
        return frames.permute(3, 0, 1, 2) if self.layout == "chwt" else frames


class FrameFiles(Dataset):
    def __init__(self, samples: Samples, read: Callable[[Path], torch.Tensor], transform: Callable):
        self.samples, self.read, self.transform = samples, read, transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.read(self.samples.files[i])), self.samples.labels[i]


# --------------------------------------------------------------------------------------------- listing samples
def _by_number(files: list[Path]) -> list[Path]:
    return sorted(files, key=lambda f: (file_index(f.stem) is None, file_index(f.stem) or 0, f.name))


def _cifar10_dvs_samples(frames_dir: Path) -> tuple[Samples, list[int | None]]:
    files, labels = [], []
    for label, name in enumerate(CIFAR10_DVS_CLASSES):
        found = _by_number(list((frames_dir / name).glob("*.npz")))
        files += found
        labels += [label] * len(found)
    return Samples(files, labels), [file_index(f.stem) for f in files]


def _gesture_samples(frames_dir: Path, split: str) -> Samples:
    files, labels = [], []
    for label in range(11):
        found = sorted((frames_dir / split / str(label)).glob("*.npz"))
        files += found
        labels += [label] * len(found)      # the folder's number (SpikingJelly's ImageFolder order puts '10' third)
    return Samples(files, labels)


def _pt_label(path: Path) -> int:
    try:
        item = torch.load(path, mmap=True, weights_only=True)    # reads the label without the frames
    except RuntimeError:
        item = torch.load(path, weights_only=True)               # files in the legacy (non-zip) format
    return int(torch.as_tensor(item[1]).reshape(-1)[0])


def _folder_samples(pt_root: Path, split: str, frames: int, layout: str) -> Samples:
    folder = pt_root / split
    files = _by_number(list(folder.glob("*.pt"))) if folder.is_dir() else []
    if not files:
        raise DataError(f"split=folders needs pre-framed files {pt_root}/train/<i>.pt and {pt_root}/test/<i>.pt, "
                        f"each holding [frames, label] (ASGL / rate-BP: frames [T, 2, H, W]; TET: [2, H, W, T] "
                        f"with dataset.pt_layout=chwt); none found in {folder}. Set dataset.pt_root")
    got = PtFrames(layout)(files[0]).shape
    if got[0] != frames:
        raise DataError(f"{files[0]} holds {got[0]} frames (shape {tuple(got)} read as {layout}) but "
                        f"dataset.frames={frames}: set T={got[0]}, or dataset.pt_layout if the layout is the other one")
    return Samples(files, [_pt_label(f) for f in files])


def _folders(pt_root: str | None, root: Path, frames: int, layout: str,
             info: dict) -> tuple[Samples, Samples, PtFrames, int]:
    pt = Path(pt_root or root / "events_pt").expanduser().resolve()
    train, test = (_folder_samples(pt, s, frames, layout) for s in ("train", "test"))
    read = PtFrames(layout)
    info.update(split=f"folders: {pt}/train and {pt}/test as given", source=str(pt), pt_layout=layout)
    return train, test, read, int(read(train.files[0]).shape[-1])


def _check_bad(bad: dict[str, str], on_bad_file: str, where: Path) -> list[str]:
    if not bad:
        return []
    first, reason = next(iter(bad.items()))
    if on_bad_file == "fail":
        raise DataError(f"{len(bad)} unusable recording(s) in {where}, e.g. {first} ({reason}): replace them and "
                        f"delete the caches built from them (events_np/, frames_number_*), or leave them out with "
                        f"dataset.on_bad_file=skip")
    log.warning("leaving out %d unusable recording(s) in %s (dataset.on_bad_file=skip), e.g. %s (%s)", len(bad),
                where, first, reason)
    return sorted(bad)


# --------------------------------------------------------------------------------------------- the bundle
def _bundle(name: str, num_classes: int, train: Samples, test: Samples, read: Callable, frame_size: int,
            size: int | None, pipeline: str, augment: bool, mirror_safe: bool, pil: dict, val_from: str,
            val_fraction: float, split_seed: int, num_workers: int, loader: LoaderSettings, info: dict) -> DataBundle:
    if not len(train) or not len(test):
        raise DataError(f"{name}: the split {info['split_rule']!r} leaves {len(train)} training and {len(test)} test "
                        f"samples in {info['source']}")
    if not mirror_safe and augment and pipeline in ("asgl", "ratebp"):
        log.warning("pipeline=%s flips frames left-right, which swaps %s classes such as left / right hand wave",
                    pipeline, name)
    train_tf, eval_tf = frame_transforms(pipeline, frame_size, size, augment, mirror_safe, **pil)
    if val_from == "train":
        try:
            keep, held = stratified_split(train.labels, val_fraction, split_seed)
        except ValueError as e:
            raise DataError(f"cannot hold out dataset.val_fraction={val_fraction} of the {len(train)} training "
                            f"samples stratified by class ({e}): change val_fraction, or val_from=test") from None
        parts = FrameFiles(train.take(keep), read, train_tf), FrameFiles(train.take(held), read, eval_tf)
        val_text = f"val = {val_fraction:g} of train, stratified (split_seed {split_seed})"
    else:
        parts = FrameFiles(train, read, train_tf), FrameFiles(test, read, eval_tf)
        val_text = "val = the test set (the seeds' protocol: no hold-out)"
    test_set = FrameFiles(test, read, eval_tf)
    loaders = make_loaders(*parts, test_set, loader, num_workers=num_workers)
    out = size or frame_size
    info = {"name": name, **info, "size": out, "pipeline": pipeline, "augment": augment,
            "split": f"{info['split']}; {val_text}", "val_from": val_from,
            "sizes": {"train": len(parts[0]), "val": len(parts[1]), "test": len(test_set)}}
    return DataBundle(name, *loaders, num_classes=num_classes, input_shape=(2, out, out), temporal=True, info=info)


def _frames(es: EventSet, root: Path, frames: int, split_by: str, rebuild: bool, on_bad_file: str,
            info: dict) -> Path:
    """The frames folder, prepared if needed; its path and the recordings left out go into info."""
    from spikingjelly import configure

    threads = min(os.cpu_count() or 1, configure.max_threads_number_for_datasets_preprocess)
    frames_dir, bad = prepare_frames(es, root, frames, split_by, rebuild=rebuild, threads=threads)
    info.update(source=str(frames_dir), skipped_files=_check_bad(bad, on_bad_file, root))
    return frames_dir


def cifar10_dvs(*, name: str = "cifar10_dvs", root: str, frames: int, split_by: str = "number", size: int | None = 48,
                pipeline: str = "clean", augment: bool = True, orientation: str = "spikingjelly",
                split: str = "first900", train_files_per_class: int = 900, train_ratio: float = 0.9,
                split_seed: int = 0, val_from: str = "train", val_fraction: float = 0.1, pt_root: str | None = None,
                pt_layout: str = "tchw", on_bad_file: str = "fail", rebuild: bool = False,
                pil_uint8_wrap: bool = True, pil_premultiply_la: bool = True, num_workers: int = 4,
                loader: LoaderSettings = LoaderSettings()) -> DataBundle:
    """CIFAR10-DVS: 10 classes x 1000 recordings of 128x128 (no official split)."""
    root_path = Path(root).expanduser().resolve()
    info: dict = {"root": str(root_path), "frames": frames, "split_by": split_by, "split_rule": split}
    frame_size = 128
    if split == "folders":
        train, test, read, frame_size = _folders(pt_root, root_path, frames, pt_layout, info)
    else:
        frames_dir = _frames(CIFAR10_DVS, root_path, frames, split_by, rebuild, on_bad_file, info)
        info.update(orientation=orientation)
        samples, indices = _cifar10_dvs_samples(frames_dir)
        if split == "first900":
            if None in indices:
                raise DataError(f"split=first900 needs files named cifar10_<class>_<i>; "
                                f"{samples.files[indices.index(None)]} is not")
            train_pos, test_pos = split_first(indices, train_files_per_class)
            info.update(split=f"first900: per class, files 0..{train_files_per_class - 1} train, the rest test",
                        train_files_per_class=train_files_per_class)
        else:
            train_pos, test_pos = split_random(samples.labels, train_ratio, split_seed)
            info.update(split=f"random: per class, int(n * {train_ratio:g}) files train by a permutation "
                              f"(split_seed {split_seed}), the rest test", train_ratio=train_ratio)
        train, test = samples.take(train_pos), samples.take(test_pos)
        read = NpzFrames(orientation)
    return _bundle(name, 10, train, test, read, frame_size, size, pipeline, augment, True,
                   dict(pil_uint8_wrap=pil_uint8_wrap, pil_premultiply_la=pil_premultiply_la), val_from,
                   val_fraction, split_seed, num_workers, loader, info)


def dvs128_gesture(*, name: str = "dvs128_gesture", root: str, frames: int, split_by: str = "number",
                   size: int | None = 48, pipeline: str = "clean", augment: bool = True, split: str = "official",
                   split_seed: int = 0, val_from: str = "train", val_fraction: float = 0.1,
                   pt_root: str | None = None, pt_layout: str = "tchw", on_bad_file: str = "fail",
                   rebuild: bool = False, pil_uint8_wrap: bool = True, pil_premultiply_la: bool = True,
                   num_workers: int = 4, loader: LoaderSettings = LoaderSettings()) -> DataBundle:
    """DVS128 Gesture: 11 classes (labels 0..10 = the file's classes 1..11), 128x128, the official split by
    subject (trials_to_train.txt: 1176 gestures, trials_to_test.txt: 288, as cut by SpikingJelly)."""
    root_path = Path(root).expanduser().resolve()
    info: dict = {"root": str(root_path), "frames": frames, "split_by": split_by, "split_rule": split}
    frame_size = 128
    if split == "folders":
        train, test, read, frame_size = _folders(pt_root, root_path, frames, pt_layout, info)
    else:
        frames_dir = _frames(DVS128_GESTURE, root_path, frames, split_by, rebuild, on_bad_file, info)
        info.update(split="official: trials_to_train.txt / trials_to_test.txt (by subject)")
        train, test = _gesture_samples(frames_dir, "train"), _gesture_samples(frames_dir, "test")
        read = NpzFrames()
    return _bundle(name, 11, train, test, read, frame_size, size, pipeline, augment, False,
                   dict(pil_uint8_wrap=pil_uint8_wrap, pil_premultiply_la=pil_premultiply_la), val_from,
                   val_fraction, split_seed, num_workers, loader, info)


# declared for the config checks (snn_methods/data/checks.py): the splits each data set knows; one frame per time step
cifar10_dvs.splits = ("first900", "random", "folders")
dvs128_gesture.splits = ("official", "folders")
cifar10_dvs.frames_are_time_steps = dvs128_gesture.frames_are_time_steps = True
