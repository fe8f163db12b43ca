"""Every preset's composed config, pinned: `python tests/preset_configs.py --write` writes
tests/fixtures/presets/<preset>.json (run it only when a change of a preset's values is intended, and read the diff);
tests/test_presets.py checks that composing each preset still gives its file."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "presets"


def presets() -> list[str]:
    return sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


def composed(preset: str) -> dict:
    """The resolved config of `experiment=<preset>` as plain data (SNN_DATA unset: paths.data_dir = data)."""
    from omegaconf import OmegaConf

    from snn_methods import compose

    saved = os.environ.pop("SNN_DATA", None)
    try:
        return OmegaConf.to_container(compose([f"experiment={preset}"]), resolve=True)
    finally:
        if saved is not None:
            os.environ["SNN_DATA"] = saved


def dump(config: dict) -> str:
    return json.dumps(config, indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/preset_configs.py --write   (rewrites tests/fixtures/presets/*.json)")
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for old in FIXTURES.glob("*.json"):
        old.unlink()
    for name in presets():
        (FIXTURES / f"{name}.json").write_text(dump(composed(name)))
    print(f"wrote {len(presets())} files to {FIXTURES}")
