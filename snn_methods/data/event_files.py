"""Writing small event data sets in the real on-disk formats (tests, and smoke runs without the real data).

- CIFAR10-DVS: jAER AEDAT 2.0 files, one per sample, `extract/<class>/cifar10_<class>_<i>.aedat`: '#' header lines,
  then big-endian uint32 pairs (address, timestamp in us) with address = y << 8 | x << 1 | p (x, y in 0..127).
- DVS128 Gesture: AEDAT 3.1 recordings, `extract/DvsGesture/<trial>.aedat` + `<trial>_labels.csv` (class 1..11,
  start and end time in us) + `trials_to_train.txt` / `trials_to_test.txt`. Packets of polarity events (type 1,
  8 bytes: uint32 x << 17 | y << 2 | p << 1 | valid, uint32 timestamp), little-endian.

The generated samples are learnable: each class puts most of its events in its own square of the sensor.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

CIFAR10_DVS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
GESTURE_CLASSES = 11


def write_aedat2(path: Path, t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> None:
    """One CIFAR10-DVS sample: raw sensor coordinates (before any reader's flips)."""
    addr = (np.asarray(y, np.uint32) << 8) | (np.asarray(x, np.uint32) << 1) | np.asarray(p, np.uint32)
    payload = np.empty(2 * len(addr), dtype=">u4")
    payload[0::2], payload[1::2] = addr, np.asarray(t, np.uint32)
    header = (b"#!AER-DAT2.0\r\n# This is a raw AE data file written by snn_methods (synthetic)\r\n"
              b"# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
              b"# Timestamps tick is 1 us\r\n")
    Path(path).write_bytes(header + payload.tobytes())


def write_aedat3(path: Path, t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> None:
    """One DVS128 Gesture recording as a single packet of polarity events."""
    n = len(t)
    data = (np.asarray(x, np.uint32) << 17) | (np.asarray(y, np.uint32) << 2) | (np.asarray(p, np.uint32) << 1) | 1
    events = np.empty(2 * n, dtype="<u4")
    events[0::2], events[1::2] = data, np.asarray(t, np.uint32)
    # eventType, eventSource, eventSize, eventTSOffset, eventTSOverflow, eventCapacity, eventNumber, eventValid
    packet_header = struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, n, n, n)
    header = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"
    Path(path).write_bytes(header + packet_header + events.tobytes())


def _class_events(rng: np.random.Generator, label: int, n: int, t0: int = 0,
                  duration: int = 100_000) -> tuple[np.ndarray, ...]:
    """n events sorted in time; 80% of them in the class's own 32x32 square, the rest anywhere."""
    row, col = divmod(label % 16, 4)
    own = rng.random(n) < 0.8
    x = np.where(own, col * 32 + rng.integers(0, 32, n), rng.integers(0, 128, n))
    y = np.where(own, row * 32 + rng.integers(0, 32, n), rng.integers(0, 128, n))
    p = rng.integers(0, 2, n)
    t = t0 + np.sort(rng.integers(0, duration, n))
    return t, x, y, p


def make_cifar10_dvs(root: str | Path, per_class: int = 12, events: int = 200, seed: int = 0) -> Path:
    """root/extract/<class>/cifar10_<class>_<i>.aedat for i < per_class (the layout of the unpacked figshare zips)."""
    rng = np.random.default_rng(seed)
    extract = Path(root) / "extract"
    for label, name in enumerate(CIFAR10_DVS_CLASSES):
        (extract / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            write_aedat2(extract / name / f"cifar10_{name}_{i}.aedat", *_class_events(rng, label, events))
    return extract


def make_dvs128_gesture(root: str | Path, train_trials: int = 10, test_trials: int = 2, events: int = 60,
                        seed: int = 0) -> Path:
    """root/extract/DvsGesture/: `train_trials + test_trials` recordings, each holding one gesture of every class."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "extract" / "DvsGesture"
    folder.mkdir(parents=True, exist_ok=True)
    names = {"train": [], "test": []}
    for k in range(train_trials + test_trials):
        trial = f"user{k + 1:02d}_fluorescent"
        names["train" if k < train_trials else "test"].append(f"{trial}.aedat")
        parts, rows = [], ["class,startTime_usec,endTime_usec"]
        for label in range(GESTURE_CLASSES):
            start = 1_000_000 + label * 200_000
            parts.append(_class_events(rng, label, events, t0=start, duration=150_000))
            rows.append(f"{label + 1},{start},{start + 150_000}")
        write_aedat3(folder / f"{trial}.aedat", *(np.concatenate(a) for a in zip(*parts)))
        (folder / f"{trial}_labels.csv").write_text("\n".join(rows) + "\n")
    for split, files in names.items():
        (folder / f"trials_to_{split}.txt").write_text("\n".join(files) + "\n")
    return folder
