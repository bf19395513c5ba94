"""The layout's rules (docs/architecture.md), read from the source: imports and sizes."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "warroom"
MAX_LINES = 700

#: The ground floor: every domain reads it, and it imports none of them.
GROUND = (
    "config", "settings", "db", "clock", "errors", "events", "logsafe", "context", "pages",
    "jsonbody",
)  # fmt: skip
#: What the ground floor may import of warroom itself.
GROUND_MAY_IMPORT = {f"warroom.{name}" for name in GROUND}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def sources() -> Iterator[Path]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" not in path.relative_to(PACKAGE).parts:
            yield path


@cache
def all_modules() -> frozenset[str]:
    return frozenset(module_name(path) for path in sources())


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(path: Path, *, import_time_only: bool) -> set[str]:
    """The warroom modules `path` imports (at import time only: not in functions, not for
    type checking), each `from a.b import c` counted as a.b.c when that is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(nodes: Iterable[ast.AST]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If) and _is_type_checking(node):
                if not import_time_only:
                    visit(node.body)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if not import_time_only:
                    visit(child for child in ast.walk(node) if child is not node)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                visit(ast.iter_child_nodes(node))

    visit(tree.body)
    return found & all_modules()


def test_no_module_is_over_the_size_limit() -> None:
    too_long = {
        str(path.relative_to(SRC)): count
        for path in sources()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}, f"split these by responsibility (over {MAX_LINES} lines)"


def test_no_import_cycles_at_import_time() -> None:
    graph = {
        module_name(path): imported(path, import_time_only=True) - {module_name(path)}
        for path in sources()
    }
    # A package's face imports its own modules; its modules importing the face back is
    # what makes a cycle, so a face counts like any other module.
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    assert cycles == []


@pytest.mark.parametrize("name", GROUND)
def test_the_ground_floor_imports_no_domain(name: str) -> None:
    target = PACKAGE / name
    paths = sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]
    assert paths and all(path.exists() for path in paths)
    reaching_up = {
        f"{path.relative_to(SRC)} -> {module}"
        for path in paths
        for module in imported(path, import_time_only=False)
        if module != "warroom"
        and not any(
            module == allowed or module.startswith(f"{allowed}.") for allowed in GROUND_MAY_IMPORT
        )
    }
    assert reaching_up == set()


def test_the_guard_sees_imports_inside_functions() -> None:
    # The circle this layout removed ran through imports inside functions: make sure the
    # reader above would have seen it.
    escalation = PACKAGE / "escalation" / "service.py"
    assert "warroom.engine.timers" in imported(escalation, import_time_only=False) or (
        "warroom.engine" in imported(escalation, import_time_only=False)
    )
    sample = PACKAGE / "doctor.py"
    inside = imported(sample, import_time_only=False) - imported(sample, import_time_only=True)
    assert "warroom.configuration" in inside
