"""Checks of the git-ignored conf/local/default.yaml (a machine's own values, e.g. its SLURM partition).

Hydra loads it as `optional local: default`, so mistakes there are silent: a file without `# @package _global_`
puts its values under `local.` where nothing reads them, and a mistyped key (`partitionn`) is simply added, so
SLURM jobs quietly go to the default partition. Garbage in the file ends in a long Hydra traceback. `check`
says each of these in one line, before Hydra starts (launch.py) or composes (snn_methods.compose).

A key is known when some file of the config tree defines it (a group's file places its keys under the group's
name unless it says `# @package _global_`); `hydra.*` keys are left to Hydra (its launchers have many more).
"""
from __future__ import annotations

import difflib
import functools
import re
from pathlib import Path
from typing import Any, Iterable

LOCAL = Path("local") / "default.yaml"
PACKAGE = re.compile(r"^#\s*@package\s+(\S+)\s*$")


def _header_package(text: str) -> str | None:
    """The `# @package X` directive of the comment block at the top of a config file."""
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.lstrip().startswith("#"):
            return None
        found = PACKAGE.match(line.strip())
        if found:
            return found.group(1)
    return None


def _leaves(node: Any, prefix: str = "") -> Iterable[str]:
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif prefix:
        yield prefix


@functools.lru_cache(maxsize=4)
def known_keys(conf_dir: Path) -> frozenset[str]:
    """Every key path (and every prefix of one) that a file of the config tree defines."""
    import yaml

    keys: set[str] = set()
    for path in Path(conf_dir).rglob("*.yaml"):
        rel = path.relative_to(conf_dir)
        if rel.parts[0] in ("local", "hydra"):
            continue
        try:
            text = path.read_text()
            data = yaml.safe_load(text)
        except (OSError, yaml.YAMLError):
            continue
        package = _header_package(text)
        group = "" if rel.parent == Path(".") or package == "_global_" else \
            (package if package and package != "_group_" else ".".join(rel.parent.parts))
        for leaf in _leaves({k: v for k, v in (data or {}).items() if k != "defaults"} if isinstance(data, dict)
                            else {}, group):
            parts = leaf.split(".")
            keys.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(keys)


def check(conf_dir: Path) -> str | None:
    """The problem with conf_dir/local/default.yaml in one line, or None (no file, or a good one)."""
    import yaml

    path = Path(conf_dir) / LOCAL
    if not path.is_file():
        return None
    try:
        text = path.read_text()
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as e:
        return f"{path} cannot be read ({e})"
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return f"{path} is not valid YAML{where} ({getattr(e, 'problem', None) or e}): fix or remove it"
    if data is None:
        return None
    if not isinstance(data, dict):
        return f"{path} must hold key: value lines (a mapping), not a {type(data).__name__}"
    if _header_package(text) != "_global_":
        return (f"{path} does not start with `# @package _global_`: without it Hydra puts its values under "
                f"`local.` where nothing reads them; add that line at the top")
    known = known_keys(Path(conf_dir).resolve())
    for leaf in _leaves({k: v for k, v in data.items() if k not in ("defaults", "hydra")}):
        parts = leaf.split(".")
        for i in range(1, len(parts) + 1):
            key = ".".join(parts[:i])
            if key in known:
                continue
            parent = ".".join(parts[:i - 1])
            siblings = sorted(k.rsplit(".", 1)[-1] for k in known
                              if (k.rsplit(".", 1)[0] if "." in k else "") == parent)
            close = difflib.get_close_matches(parts[i - 1], siblings, n=1)
            hint = f" (did you mean {'.'.join(parts[:i - 1] + close)}?)" if close else ""
            return f"{path}: unknown key {key}{hint}: no config file of the suite defines it, so it would be ignored"
    return None
