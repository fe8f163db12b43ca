"""Read W&B offline runs (run-*.wandb) without network, to check what a run recorded.

The file is wandb's internal transaction log: a 7-byte header (':W&B', magic, version), then LevelDB-log
records in 32 KiB blocks, each a serialized wandb_internal_pb2.Record. The format is internal to wandb (it
ships no reader), so this helper belongs to the tests, which fail loudly if a wandb upgrade changes it."""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Iterator

BLOCK, HEADER = 32768, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[object]:
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    pos, buf = HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:                      # block trailer
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        if length == 0 and kind == 0:          # zero padding
            pos += left
            continue
        chunk = data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        buf = chunk if kind in (FULL, FIRST) else buf + chunk
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(buf)
            yield record


def read_run(path: Path) -> dict:
    """{'run': {id, name, group, tags}, 'config': {...}, 'history': [...], 'summary': {...}}"""
    out: dict = {"run": {}, "config": {}, "history": [], "summary": {}}
    for r in records(path):
        kind = r.WhichOneof("record_type")
        if kind == "run":
            out["run"] = {"id": r.run.run_id, "name": r.run.display_name, "group": r.run.run_group,
                          "tags": list(r.run.tags)}
            out["config"].update({i.key: json.loads(i.value_json) for i in r.run.config.update})
        elif kind == "config":
            out["config"].update({i.key: json.loads(i.value_json) for i in r.config.update})
        elif kind == "history":
            out["history"].append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item})
        elif kind == "summary":
            out["summary"].update({i.key: json.loads(i.value_json) for i in r.summary.update if i.key})
    return out


def offline_runs(root: Path) -> list[dict]:
    return [read_run(p) for p in sorted(Path(root).rglob("offline-run-*/run-*.wandb")) if "latest-run" not in p.parts]
