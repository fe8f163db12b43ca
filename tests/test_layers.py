"""The layers of docs/architecture.md, read from the source with `ast` (nothing is imported): imports point down
only, and no module imports another that (directly or not) imports it back while loading."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "snn_methods"
# top-level units of snn_methods, highest first; a unit may import its own rank or lower, never higher
RANK = {"api": 5,
        "reuse": 4, "ann2snn": 4,          # mode=test and DSR's ANN -> SNN recipe: called by the api, use the engine
        "engine": 3, "results": 3,         # results.json is what the engine writes
        "rules": 2, "pruning": 2, "metrics": 2,
        "models": 1,
        "neurons": 0, "data": 0, "losses": 0, "precision": 0, "values": 0, "errors": 0}
LOWER = ("engine", "rules", "pruning", "metrics", "models", "neurons", "data")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(name: str) -> bool:
    return (ROOT / Path(*name.split(".")) / "__init__.py").is_file()


def _exists(name: str) -> bool:
    return _is_package(name) or (ROOT / Path(*name.split("."))).with_suffix(".py").is_file()


def _imported(node: ast.AST, module: str) -> list[str]:
    """The snn_methods modules an import statement loads (`from P import m` loads P.m when m is a module)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:   # relative: resolved against the importing module's package
            package = module.split(".") if _is_package(module) else module.split(".")[:-1]
            base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
        names = [f"{base}.{a.name}" if _exists(f"{base}.{a.name}") else base for a in node.names]
    else:
        return []
    return [n for n in names if n == "snn_methods" or n.startswith("snn_methods.")]


def _sources() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def _unit(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _load_time_statements(tree: ast.Module) -> list[ast.stmt]:
    """Statements run when the module loads: the top level, and the bodies of its top-level if/try (not functions,
    not `if TYPE_CHECKING:`)."""
    out, todo = [], list(tree.body)
    while todo:
        stmt = todo.pop(0)
        out.append(stmt)
        if isinstance(stmt, ast.If) and "TYPE_CHECKING" not in ast.unparse(stmt.test):
            todo += stmt.body + stmt.orelse
        elif isinstance(stmt, ast.Try):
            todo += stmt.body + [s for h in stmt.handlers for s in h.body] + stmt.orelse + stmt.finalbody
    return out


def test_the_lower_layers_never_import_the_api_or_mode_test():
    """engine, rules, pruning, metrics, models, neurons and data: no import of snn_methods.api or snn_methods.reuse
    anywhere in a file (inside functions and `if TYPE_CHECKING:` included)."""
    found = []
    for module, tree in _sources().items():
        if _unit(module) not in LOWER:
            continue
        for node in ast.walk(tree):
            for name in _imported(node, module):
                if _unit(name) in ("api", "reuse") or name == "snn_methods":   # `snn_methods` itself loads the api
                    found.append(f"{module}:{node.lineno} imports {name}")
    assert not found, "\n".join(found)


def test_imports_point_down_the_layers():
    found = []
    for module, tree in _sources().items():
        here = RANK.get(_unit(module))
        if here is None:
            continue
        for node in ast.walk(tree):
            for name in _imported(node, module):
                there = RANK.get(_unit(name))
                if there is not None and there > here:
                    found.append(f"{module}:{node.lineno} ({_unit(module)}) imports {name} ({_unit(name)}, a higher layer)")
    assert not found, "\n".join(found)


def test_no_module_imports_itself_back_while_loading():
    """The import graph of what runs at load time has no cycle (a module's own parent packages aside: Python loads
    them first by design)."""
    sources = _sources()
    graph = {}
    for module, tree in sources.items():
        edges = set()
        for stmt in _load_time_statements(tree):
            for name in _imported(stmt, module):
                if name in sources and name != module and not module.startswith(name + "."):
                    edges.add(name)
        graph[module] = sorted(edges)
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("source,bad", [
    ("from snn_methods.api import build\n", True),
    ("def f():\n    from snn_methods import reuse\n", True),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from snn_methods.reuse.testmode import run_test\n", True),
    ("import snn_methods.api as api\n", True),
    ("from snn_methods.engine import checkpoints\n", False),
])
def test_the_walk_sees_an_added_import(source, bad):
    """The checks above are not vacuous: the import forms a newcomer might add are all seen."""
    names = [n for node in ast.walk(ast.parse(source)) for n in _imported(node, "snn_methods.engine.loop")]
    assert any(_unit(n) in ("api", "reuse") for n in names) == bad, names


@pytest.mark.parametrize("old,new", [
    ("snn_methods.engine.losses.RateCrossEntropy", "snn_methods.losses.RateCrossEntropy"),
    ("snn_methods.engine.losses.TET", "snn_methods.losses.TET"),
    ("snn_methods.pipeline.ann_to_snn.InitFromANN", "snn_methods.ann2snn.convert.InitFromANN"),
])
def test_targets_saved_before_the_moves_still_resolve(old, new):
    """Configs saved in checkpoints before the layering name the old paths; conf/ names the new ones."""
    from hydra.utils import get_class

    assert get_class(old) is get_class(new)
