"""The documentation says only what is true of this checkout: every repository path that README.md or a page
under docs/ names exists, every `launch.py` command line in them composes, and docs/presets.md is what
scripts/list_presets.py writes from the presets."""
from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from snn_methods import compose
from snn_methods.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
TOP = ("snn_methods", "conf", "bench", "sweeps", "tests", "scripts", "docs", "hydra_plugins")
PATH = re.compile(rf"(?<![\w/.])(?:{'|'.join(TOP)})/[\w./*-]*")
NOT_IN_GIT = ("conf/local/",)          # git-ignored: each machine writes its own
# launch.py options that are not overrides (the next token is their argument where it has one)
FLAGS_WITH_ARGUMENT = ("--cfg", "--package", "-p", "--config-name", "-cn", "--config-dir", "-cd")


def _rel(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _spans(text: str) -> list[str]:
    """Inline code spans (a span may wrap onto the next line)."""
    return [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", text)]


def _backticked(text: str) -> list[str]:
    """Inline code spans and the lines of fenced code blocks."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)
    inline = _spans(re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M))
    return inline + [line for block in fenced for line in block.splitlines()]


def named_paths(page: Path) -> list[str]:
    paths = [p.rstrip(".") for span in _backticked(page.read_text()) for p in PATH.findall(span)]
    return sorted({p for p in paths if not p.startswith(NOT_IN_GIT)})


def linked_paths(page: Path) -> list[str]:
    """Relative Markdown links ([text](path), [ref]: path), resolved against the page's folder."""
    text = page.read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r"^\[[^\]]+\]:\s*(\S+)", text, flags=re.M)
    return sorted({t.split("#")[0] for t in targets if "://" not in t and not t.startswith("#")})


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_path_a_page_names_exists(page):
    missing = [p for p in named_paths(page) if not (any(ROOT.glob(p)) if "*" in p else (ROOT / p).exists())]
    missing += [t for t in linked_paths(page) if not (page.parent / t).exists()]
    assert not missing, f"{_rel(page)} names paths this checkout lacks: {missing}"


def test_the_method_pages_exist_and_name_their_files():
    pages = {p.stem: p for p in (ROOT / "docs" / "methods").glob("*.md")}
    assert {"gradr_deepr", "stds", "dsr", "asgl", "ratebp"} <= set(pages)
    for name, page in pages.items():
        paths = named_paths(page)
        assert any(p.startswith("snn_methods/") for p in paths) and any(p.startswith("conf/") for p in paths), name
        assert "## Presets" in page.read_text() and "## Switches" in page.read_text(), name


RUNS_LAUNCH = re.compile(r"python[0-9.]*\s+(\S*/)?launch\.py\b")   # a call, not a file named in a diagram


def command_lines(page: Path) -> list[str]:
    """Every `launch.py` call: lines of code blocks (with their continuation lines) and inline code spans."""
    text = page.read_text()
    lines = []
    for lang, block in re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M):
        if lang not in ("", "bash", "sh"):
            continue
        joined = re.sub(r"\\\n\s*", " ", block)
        lines += [ln.split(" #")[0].strip() for ln in joined.splitlines() if RUNS_LAUNCH.search(ln)]
    spans = _spans(re.sub(r"^```.*?^```", "", text, flags=re.S | re.M))
    lines += [s for s in spans if re.search(r"\blaunch\.py\b", s) and "=" in s]
    return lines


def overrides(command: str) -> list[str] | None:
    """The overrides of a launch.py command line (a sweep's first value of each swept key); None: not a run."""
    words = shlex.split(command)
    at = [i for i, w in enumerate(words) if w.endswith("launch.py")]
    if not at:
        return None                      # names launch.py without calling it
    args = words[at[0] + 1:]
    if not args and command.rstrip().endswith("launch.py"):
        return []
    if "..." in args or any(a in ("--help", "-h", "--info") for a in args):
        return None
    sweep = "-m" in args or "--multirun" in args
    out, skip = [], False
    for a in args:
        if skip or a.startswith("-"):
            skip = a in FLAGS_WITH_ARGUMENT
            continue
        if sweep and "=" in a:
            key, value = a.split("=", 1)
            if "," in value and not value.startswith(("[", "{", "'", '"')) and "(" not in value:
                a = f"{key}={value.split(',')[0]}"
        out.append(a)
    return out


def _commands() -> list[tuple[str, str]]:
    """Every run command (help and elided `...` lines name launch.py without a run to compose)."""
    return [(_rel(page), line) for page in PAGES for line in command_lines(page) if overrides(line) is not None]


def test_the_readme_has_commands_to_check():
    assert sum(page == "README.md" for page, _ in _commands()) >= 5


@pytest.mark.parametrize("page,command", _commands(), ids=lambda v: v if len(v) < 60 else v[:60])
def test_every_launch_command_in_the_docs_composes(page, command):
    args = overrides(command)
    try:
        compose([a for a in args if not a.startswith("hydra.")])
    except ConfigError as e:
        pytest.fail(f"{page}: `{command}` does not compose: {e}")


def test_docs_presets_md_is_generated_from_the_presets():
    spec = importlib.util.spec_from_file_location("list_presets", ROOT / "scripts" / "list_presets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.PAGE.read_text() == module.render(), "docs/presets.md is out of date: python scripts/list_presets.py"
