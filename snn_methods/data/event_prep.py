"""Preparing a neuromorphic data set on disk: raw recordings -> events_np -> cached frames.

The folders under `root` are SpikingJelly 2.0.0's, so a cache built here is used by `spikingjelly.datasets`
and the other way round:

    download/   the archives, fetched by hand (the hosts refuse scripted downloads)
    extract/    the unpacked archives
    events_np/  one .npz of events (t, x, y, p) per sample, read with SpikingJelly's readers
    frames_number_{T}_split_by_{number|time}/   one .npz of frames [T, 2, H, W] per sample (the tree of events_np),
                integrated with SpikingJelly's `integrate_events_by_fixed_frames_number` (raw event counts)

How it stays correct when things go wrong:
- Each stage is built in a private folder `<stage>.partial-<host>-<pid>` and renamed into place when complete, so
  a finished stage is never half-written, and an interrupted run leaves only a partial folder, removed next time.
- A file lock (`root/.snn_methods.lock`) lets one job build while the others wait (sweeps on a shared file
  system); a job finding the stage ready uses it without locking.
- SpikingJelly's own code marks an unfinished stage with `<stage>.building` and refuses to go on until it is
  deleted. Such a marker is reported with what to do; `dataset.rebuild=true` deletes the partial stage and builds
  it again (complete stages are kept, so the override is safe to pass to every job of a sweep).
- A recording that cannot be read, or that holds fewer events than frames (a truncated file would give empty
  frames), is recorded by name in `<stage>.snn_methods.json` next to the stage; the data set then fails naming
  it, or leaves it out (`dataset.on_bad_file=skip`). The caches do not depend on that choice.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

from snn_methods.errors import DataError

log = logging.getLogger(__name__)

LOCK_NAME = ".snn_methods.lock"


@dataclasses.dataclass(frozen=True)
class EventSet:
    """What differs between the neuromorphic data sets: names, sources, the reader."""

    name: str
    height: int
    width: int
    url: str
    archives: tuple[str, ...]                      # files expected in download/ (with SpikingJelly's md5 table)
    extract_layout: str                            # where the unpacked files go, in words
    sj_class: Callable[[], type]                   # the spikingjelly.datasets class (imported when called)
    extracted: Callable[[Path], bool]              # extract/ holds what `convert` reads
    convert: Callable[[Path, Path, int], dict[str, str]]   # (extract, events_np folder, threads) -> bad files


def stage_dirs(root: Path, frames: int, split_by: str) -> tuple[Path, Path]:
    """(events_np, frames folder) as SpikingJelly names them."""
    return root / "events_np", root / f"frames_number_{frames}_split_by_{split_by}"


def _marker(stage: Path) -> Path:
    return stage.with_name(f"{stage.name}.building")


def _manifest(stage: Path) -> Path:
    return stage.with_name(f"{stage.name}.snn_methods.json")


def _complete(stage: Path) -> bool:
    return stage.is_dir() and not _marker(stage).exists()


def bad_files(stage: Path) -> dict[str, str]:
    """Files the stage could not use (relative path -> reason); {} for a stage built outside snn_methods."""
    path = _manifest(stage)
    return json.loads(path.read_text()).get("bad_files", {}) if path.exists() else {}


# --------------------------------------------------------------------------------------------- locking
@contextlib.contextmanager
def _locked(root: Path, what: str) -> Iterator[None]:
    """Hold root/.snn_methods.lock; say so while another job holds it (it is building the same data)."""
    from filelock import FileLock, Timeout

    try:
        lock = FileLock(str(root / LOCK_NAME))
        lock.acquire(timeout=0)
    except Timeout:
        log.info("another job is preparing %s in %s: waiting for it", what, root)
        while True:
            try:
                lock.acquire(timeout=60)
                break
            except Timeout:
                log.info("still waiting for the job preparing %s in %s", what, root)
    except OSError as e:
        raise DataError(f"cannot prepare {what}: {root} is not writable ({e}); build the cache once where it is "
                        f"writable, or point dataset.root at a writable copy") from None
    try:
        yield
    finally:
        lock.release()


def _remove_partials(stage: Path) -> None:
    """Our private build folders of `stage` left by killed jobs (the caller holds the lock: none is in use)."""
    for partial in stage.parent.glob(f"{stage.name}.partial-*"):
        log.info("removing %s, left by an interrupted preparation", partial)
        shutil.rmtree(partial, ignore_errors=True) if partial.is_dir() else partial.unlink(missing_ok=True)


def _clear_partial(stage: Path, rebuild: bool, regenerable: bool) -> None:
    """Remove what an interrupted build left (caller holds the lock): our partial folders always, SpikingJelly's
    marked stage only with rebuild=true."""
    _remove_partials(stage)
    marker = _marker(stage)
    if not marker.exists():
        return
    if not rebuild:
        raise DataError(f"{stage} is an unfinished preparation: SpikingJelly's marker {marker.name} says an earlier "
                        f"run was interrupted while building it. Rerun with dataset.rebuild=true to delete it "
                        f"and build it again")
    if not regenerable:
        raise DataError(f"{stage} is an unfinished preparation ({marker.name}) and there is nothing to build it "
                        f"again from (no download/ or extract/ in {stage.parent}): restore the raw data first")
    log.info("dataset.rebuild=true: deleting the unfinished %s and its marker", stage)
    shutil.rmtree(stage, ignore_errors=True)
    marker.unlink(missing_ok=True)


def _build_atomically(stage: Path, build: Callable[[Path], dict[str, str]]) -> None:
    """build(folder) -> bad files; the folder becomes `stage` only once complete, its manifest just before."""
    tmp = stage.with_name(f"{stage.name}.partial-{socket.gethostname()}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        started = time.time()
        bad = build(tmp)
        manifest = {"bad_files": bad, "built_by": f"{socket.gethostname()}:{os.getpid()}",
                    "seconds": round(time.time() - started, 2)}
        partial_manifest = tmp.with_name(tmp.name + ".json")
        partial_manifest.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        os.replace(partial_manifest, _manifest(stage))
        os.rename(tmp, stage)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.with_name(tmp.name + ".json").unlink(missing_ok=True)
        raise
    log.info("built %s in %.1f s%s", stage, time.time() - started, f" ({len(bad)} unusable files)" if bad else "")


# numpy parses each .npy header with ast.literal_eval, and CPython 3.11's AST converter keeps its recursion
# depth in shared state: two threads in it at once can fail with "SystemError: AST constructor recursion
# depth mismatch" (cpython gh-106905, fixed in 3.12/3.13 only). Seen once in CI on a Gesture recording, which
# was then reported as unusable. Reading is cheap next to integrating, so the readers take turns.
_NPZ_READ_LOCK = threading.Lock()


def run_per_file(task: Callable[..., None], jobs: list[tuple], names: list[str], threads: int) -> dict[str, str]:
    """Run task(*job) for every job in threads; {name: reason} for each job that raised."""
    bad: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        futures = [pool.submit(task, *job) for job in jobs]
        for name, future in zip(names, futures):
            error = future.exception()
            if isinstance(error, (SystemError, MemoryError)) or not isinstance(error, (Exception, type(None))):
                raise error            # the interpreter's or the machine's fault, not the file's
            if error is not None:
                bad[name] = f"{type(error).__name__}: {error}"
    return dict(sorted(bad.items()))


# --------------------------------------------------------------------------------------------- stages
def missing_message(es: EventSet, root: Path) -> str:
    archives = ", ".join(es.archives)
    return (f"{es.name} not found in {root}. It cannot be downloaded automatically: fetch {archives} by hand from "
            f"{es.url} and put them in {root / 'download'}/ (or unpack them as {es.extract_layout}), "
            f"or point dataset.root at the folder holding download/, extract/ or events_np/")


def _sources(es: EventSet, root: Path) -> str | None:
    """Which source events_np can be built from: 'extract', 'download' or None."""
    if es.extracted(root / "extract"):
        return "extract"
    return "download" if _has_archives(es, root) else None


def _has_archives(es: EventSet, root: Path) -> bool:
    return all((root / "download" / a).is_file() for a in es.archives)


def _extract(es: EventSet, root: Path) -> None:
    """download/ -> extract/ after checking the archives against SpikingJelly's md5 table (never deletes them)."""
    from torchvision.datasets.utils import check_integrity

    cls = es.sj_class()
    download = root / "download"
    for file_name, url, md5 in cls.resource_url_md5():
        path = download / file_name
        if file_name in es.archives and not check_integrity(str(path), md5):
            raise DataError(f"{path} is incomplete or corrupt (md5 differs from {md5}): download it again by hand "
                            f"from {url}")
    extract = root / "extract"
    _remove_partials(extract)
    shutil.rmtree(extract, ignore_errors=True)   # incomplete (see _sources); we hold the lock

    def unpack(tmp: Path) -> dict[str, str]:
        try:
            cls.extract_downloaded_files(download, tmp)
        except Exception as e:
            raise DataError(f"unpacking the archives in {download} failed ({type(e).__name__}: {e}); the folder "
                            f"should hold {', '.join(es.archives)}") from None
        return {}
    log.info("unpacking %s into %s (once)", download, extract)
    _build_atomically(extract, unpack)


def ensure_events(es: EventSet, root: Path, rebuild: bool, threads: int) -> Path:
    """events_np, built from extract/ (or download/) if missing. Caller holds the lock."""
    events = root / "events_np"
    if rebuild and _marker(events).exists() and _has_archives(es, root):
        shutil.rmtree(root / "extract", ignore_errors=True)   # SpikingJelly's marker covers unpacking too
    source = _sources(es, root)
    _clear_partial(events, rebuild, regenerable=source is not None)
    if _complete(events):
        return events
    if source is None:
        raise DataError(missing_message(es, root))
    if source == "download":
        _extract(es, root)
    log.info("converting %s recordings in %s to %s (once)", es.name, root / "extract", events)
    _build_atomically(events, lambda tmp: es.convert(root / "extract", tmp, threads))
    return events


def _integrate(events_file: Path, frames_file: Path, frames: int, split_by: str, height: int, width: int) -> None:
    import numpy as np
    from spikingjelly.datasets import utils as sj_utils

    with _NPZ_READ_LOCK:   # one reader at a time: see _NPZ_READ_LOCK
        with np.load(events_file) as data:
            events = {key: data[key] for key in ("t", "x", "y", "p")}
    n = len(events["t"])
    if n < frames:
        raise ValueError(f"{n} events, fewer than the {frames} frames asked for (a truncated or empty recording "
                         f"would give empty frames)")
    sj_utils.np_savez(frames_file, frames=sj_utils.integrate_events_by_fixed_frames_number(
        events, split_by, frames, height, width))


def _build_frames(es: EventSet, events: Path, out: Path, frames: int, split_by: str, threads: int) -> dict[str, str]:
    files = sorted(events.rglob("*.npz"))
    for folder in {f.parent for f in files}:
        (out / folder.relative_to(events)).mkdir(parents=True, exist_ok=True)
    jobs = [(f, out / f.relative_to(events), frames, split_by, es.height, es.width) for f in files]
    names = [f"events_np/{f.relative_to(events).as_posix()}" for f in files]
    return run_per_file(_integrate, jobs, names, threads)


def prepare_frames(es: EventSet, root: Path, frames: int, split_by: str, rebuild: bool = False,
                   threads: int = 4) -> tuple[Path, dict[str, str]]:
    """The frames folder for (frames, split_by), built if needed, and every unusable file found on the way."""
    events, frames_dir = stage_dirs(root, frames, split_by)
    if not _complete(frames_dir):
        anything = [p for p in (frames_dir, _marker(frames_dir), events, root / "extract", root / "download")
                    if p.exists()]
        if not anything:
            raise DataError(missing_message(es, root))
        with _locked(root, es.name):
            _clear_partial(frames_dir, rebuild, regenerable=True)
            if not _complete(frames_dir):     # another job may have built it while we waited
                events = ensure_events(es, root, rebuild, threads)
                log.info("integrating %s events into %d frames (split_by=%s): %s (once)", es.name, frames,
                         split_by, frames_dir)
                _build_atomically(frames_dir, lambda tmp: _build_frames(es, events, tmp, frames, split_by, threads))
    return frames_dir, {**bad_files(events), **bad_files(frames_dir)}


# --------------------------------------------------------------------------------------------- the two sets
def _cifar10_dvs_extracted(extract: Path) -> bool:
    from snn_methods.data.event_files import CIFAR10_DVS_CLASSES

    return all((extract / c).is_dir() for c in CIFAR10_DVS_CLASSES)


def _cifar10_dvs_convert(extract: Path, out: Path, threads: int) -> dict[str, str]:
    """One events .npz per AEDAT file, with SpikingJelly's reader (x = 127 - y_raw, y = 127 - x_raw, p = 1 - p_raw)."""
    from spikingjelly.datasets import cifar10_dvs as sj
    from spikingjelly.datasets import utils as sj_utils

    from snn_methods.data.event_files import CIFAR10_DVS_CLASSES

    def convert(src: Path, dst: Path) -> None:
        events = sj._load_origin_data(src)
        if len(events["t"]) == 0:
            raise ValueError("no events after the header")
        sj_utils.np_savez(dst, **events)

    jobs, names = [], []
    for name in CIFAR10_DVS_CLASSES:
        (out / name).mkdir()
        for src in sorted((extract / name).glob("*.aedat")):
            jobs.append((src, out / name / f"{src.stem}.npz"))
            names.append(f"extract/{name}/{src.name}")
    return run_per_file(convert, jobs, names, threads)


def _gesture_extracted(extract: Path) -> bool:
    folder = extract / "DvsGesture"
    return (folder / "trials_to_train.txt").is_file() and (folder / "trials_to_test.txt").is_file()


def _gesture_convert(extract: Path, out: Path, threads: int) -> dict[str, str]:
    """Cut every recording into its gestures (labels 0..10) with SpikingJelly's reader; the official split is the
    one of trials_to_train.txt / trials_to_test.txt."""
    from spikingjelly.datasets import dvs128_gesture as sj

    folder = extract / "DvsGesture"
    jobs, names = [], []
    for split in ("train", "test"):
        for label in range(11):
            (out / split / str(label)).mkdir(parents=True)
        for line in (folder / f"trials_to_{split}.txt").read_text().splitlines():
            trial = line.strip()
            if trial:
                stem = os.path.splitext(trial)[0]
                jobs.append((stem, folder / trial, folder / f"{stem}_labels.csv", out / split))
                names.append(f"extract/DvsGesture/{trial}")
    bad = run_per_file(sj._split_aedat_files_to_np, jobs, names, threads)
    for stem, _, _, split_dir in jobs:     # a recording that failed half-way leaves none of its gestures behind
        if f"extract/DvsGesture/{stem}.aedat" in bad:
            for partial in split_dir.glob(f"*/{stem}_*.npz"):
                partial.unlink()
    return bad


def _sj(module: str, cls: str) -> Callable[[], type]:
    def load() -> type:
        import importlib

        return getattr(importlib.import_module(f"spikingjelly.datasets.{module}"), cls)
    return load


CIFAR10_DVS = EventSet(
    name="CIFAR10-DVS", height=128, width=128,
    url="https://figshare.com/articles/dataset/CIFAR10-DVS_New/4724671",
    archives=tuple(f"{c}.zip" for c in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                          "ship", "truck")),
    extract_layout="extract/<class>/cifar10_<class>_<i>.aedat with <class> = airplane, automobile, ..., truck",
    sj_class=_sj("cifar10_dvs", "CIFAR10DVS"), extracted=_cifar10_dvs_extracted, convert=_cifar10_dvs_convert)

DVS128_GESTURE = EventSet(
    name="DVS128 Gesture", height=128, width=128,
    url="https://ibm.ent.box.com/s/3hiq58ww1pbbjrinh367ykfdf60xsfm8/folder/50167556794",
    archives=("DvsGesture.tar.gz",),
    extract_layout="extract/DvsGesture/ holding userNN_<lighting>.aedat, userNN_<lighting>_labels.csv, "
                   "trials_to_train.txt and trials_to_test.txt",
    sj_class=_sj("dvs128_gesture", "DVS128Gesture"), extracted=_gesture_extracted, convert=_gesture_convert)
