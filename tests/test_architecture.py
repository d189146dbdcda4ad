"""The shape of the package: data flows one way, and functions stay short enough to read.

* No import circle in ``simulator``: the graph is built from every import statement in every
  module (at the top, inside functions and under ``TYPE_CHECKING``: a circle dodged by a local
  import is still a circle) with :mod:`ast`, and a circle fails the test, named module by module.
* No function longer than :data:`MAX_LINES` lines in the engine, run, metrics, aggregation,
  liquidity and report layers, except the kernels' main loops (:data:`LONG_ALLOWED`).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "simulator"
MAX_LINES = 80
SHORT_LAYERS = (
    "simulator.engine",
    "simulator.run",
    "simulator.metrics",
    "simulator.aggregate",
    "simulator.liquidity",
    "simulator.report",
    "simulator.provisions",
    "simulator.tail",
)
"""Modules (and packages, with everything under them) whose functions must be short."""
LONG_ALLOWED = {
    "simulator.engine.kernel_numba._run_block",  # the loan loop of a block of paths (Numba)
    "simulator.engine.kernel_numpy.run_block",  # the same loop over the loans of a block (NumPy)
}
"""The kernels' main loops: one loop each, kept whole so that the two can be read side by side."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(module: str, tree: ast.AST) -> Iterator[tuple[str, int]]:
    """The package's modules that ``module`` imports, with the line of each import statement.

    ``from a.b import c`` imports module ``a.b.c`` if there is one, else (a name of) ``a.b``;
    importing ``a.b.c`` also runs ``a/__init__.py`` and ``a/b/__init__.py``, which is not an
    edge of its own: a package's own modules would otherwise all be in a circle with it.
    """
    is_package = MODULES[module].name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package that holds this module
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                if f"{source}.{alias.name}" in MODULES:
                    yield f"{source}.{alias.name}", node.lineno
                elif source in MODULES:
                    yield source, node.lineno


def import_graph() -> dict[str, dict[str, int]]:
    """``graph[a][b]``: the line of ``a`` on which it imports ``b``."""
    graph: dict[str, dict[str, int]] = {}
    for name, path in MODULES.items():
        edges = graph.setdefault(name, {})
        for target, line in imported(name, ast.parse(path.read_text(encoding="utf-8"))):
            if target != name:
                edges.setdefault(target, line)
    return graph


def components(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan): the modules that
    import one another, directly or through others."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One circle through each component of :func:`components`."""
    return [circle(graph, component) for component in components(graph)]


def circle(graph: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """A shortest circle from the component's first module back to it (breadth first)."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                return [*paths[v], start]
            if w in members and w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    raise AssertionError(f"no circle in component {component}")  # pragma: no cover


def describe(graph: dict[str, dict[str, int]], path: list[str]) -> str:
    steps = [f"{a} (line {graph[a][b]})" for a, b in itertools.pairwise(path)]
    return " -> ".join([*steps, path[-1]])


def test_the_package_has_no_import_circle():
    graph = import_graph()
    found = components(graph)
    assert not found, "import circles:\n" + "\n".join(
        f"{describe(graph, circle(graph, c))} (modules in a circle: {', '.join(c)})" for c in found
    )


def test_the_circle_finder_sees_circles():
    """The check itself: a circle through a function-local import, and a line-free DAG."""
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert describe(graph, ["a", "b", "c", "a"]) == "a (line 1) -> b (line 2) -> c (line 3) -> a"
    assert cycles({"a": {"b": 1}, "b": {}}) == []
    tree = ast.parse(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from simulator.engine.tables import Tables\n"
        "def f():\n"
        "    from simulator.engine import levers\n"
        "    import simulator.states\n"
        "    from . import cohorts\n"
    )
    assert sorted(imported("simulator.engine.layout", tree)) == [
        ("simulator.engine.cohorts", 8),
        ("simulator.engine.levers", 6),
        ("simulator.engine.tables", 4),
        ("simulator.states", 7),
    ]


def functions(tree: ast.AST, prefix: str) -> Iterator[tuple[str, ast.AST]]:
    """Every function and method, nested ones too, by qualified name."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield f"{prefix}.{node.name}", node
            yield from functions(node, f"{prefix}.{node.name}")
        elif isinstance(node, ast.ClassDef):
            yield from functions(node, f"{prefix}.{node.name}")
        else:
            yield from functions(node, prefix)


def in_short_layers(module: str) -> bool:
    return any(module == layer or module.startswith(f"{layer}.") for layer in SHORT_LAYERS)


def long_functions() -> dict[str, int]:
    out = {}
    for module, path in MODULES.items():
        if not in_short_layers(module):
            continue
        for name, node in functions(ast.parse(path.read_text(encoding="utf-8")), module):
            assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - first + 1
            if length > MAX_LINES:
                out[name] = length
    return out


def test_no_long_function_in_the_engine_run_metrics_and_report_layers():
    long = {name: n for name, n in long_functions().items() if name not in LONG_ALLOWED}
    assert not long, f"functions over {MAX_LINES} lines: " + ", ".join(
        f"{name} ({n} lines)" for name, n in sorted(long.items())
    )


@pytest.mark.parametrize("name", sorted(LONG_ALLOWED))
def test_the_allowed_long_functions_exist(name):
    """The allowlist names real functions (a renamed kernel loop must be renamed here too)."""
    module = name.rsplit(".", 1)[0]
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    assert any(qualified == name for qualified, _ in functions(tree, module)), name


def test_the_engine_and_tail_sampling_do_not_reach_downstream():
    """Data flows inputs -> tables -> kernel -> aggregation -> metrics -> CLI / report: the
    engine imports neither metrics nor the CLI nor the report, and ``simulator.tail`` (called
    by the tables) imports nothing of the simulator but itself."""
    graph = import_graph()
    downstream = ("simulator.metrics", "simulator.cli", "simulator.report", "simulator.run")
    for module, imports in graph.items():
        if module.startswith("simulator.engine"):
            assert not [m for m in imports if m.startswith(downstream)], module
        if module.startswith("simulator.tail"):
            assert all(
                m.startswith("simulator.tail") for m in imports if m.startswith("simulator")
            ), module
