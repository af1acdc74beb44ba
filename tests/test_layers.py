"""The package's layering contract, checked on the source (``ast``; nothing is imported).

    cli  →  stages (+ runs)  →  models / metrics / synth / losses  →  io / ops  →  base

``base`` is what every layer may use: errors, parsing, progress, interrupt, device, discovery and
the package's ``__init__``. A module may import its own layer or a lower one, never a higher one;
``typer`` belongs to the CLI alone. Every import counts, also the lazy ones inside functions and
``importlib.import_module("thermcli....")`` with a literal name. And no two modules may import
each other, directly or round a longer loop (a cycle held together by lazy imports is a cycle).

Run ``python tests/test_layers.py`` to print the graph's summary and any cycle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "thermcli"

# layer of a module: the longest matching prefix wins
LAYERS: dict[str, int] = {
    "thermcli": 0,  # the package's __init__ (version)
    "thermcli.errors": 0,
    "thermcli.parsing": 0,
    "thermcli.progress": 0,
    "thermcli.interrupt": 0,
    "thermcli.device": 0,
    "thermcli.discovery": 0,
    "thermcli.io": 1,
    "thermcli.ops": 1,
    "thermcli.models": 2,
    "thermcli.metrics": 2,
    "thermcli.synth": 2,
    "thermcli.losses": 2,
    "thermcli.stages": 3,
    "thermcli.runs": 3,
    "thermcli.cli": 4,
    "thermcli.__main__": 4,
}
LAYER_NAMES = {0: "base", 1: "io/ops", 2: "models/metrics", 3: "stages", 4: "cli"}
CLI_ONLY = ("typer", "click")

# Known violations in modules other changes own (issue 17): each entry is removed by the change
# that fixes it; an entry that no longer matches anything fails the test, so none outlives its fix.
KNOWN_UPWARD: set[tuple[str, str]] = set()
KNOWN_CYCLES: list[set[str]] = []


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module an imported dotted name lands in: the longest prefix that is a module."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """Every module (``thermcli.*`` resolved to its file, or a CLI-only library) that ``path``
    imports, anywhere in it, with the first line that does."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, int] = {}

    def add(target: str | None, line: int) -> None:
        if target and target != name:
            found.setdefault(target, line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in CLI_ONLY:
                    add(alias.name.split(".")[0], node.lineno)
                elif alias.name.startswith("thermcli"):
                    add(_resolve(alias.name, modules), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if source.split(".")[0] in CLI_ONLY:
                add(source.split(".")[0], node.lineno)
                continue
            if not source.startswith("thermcli"):
                continue
            for alias in node.names:  # `from thermcli.stages import blocks` imports a module
                submodule = f"{source}.{alias.name}"
                add(submodule if submodule in modules else _resolve(source, modules), node.lineno)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            text = node.args[0].value
            if called == "import_module" and isinstance(text, str) and text.startswith("thermcli"):
                add(_resolve(text, modules), node.lineno)
    return found


def import_graph() -> dict[str, dict[str, int]]:
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def layer(name: str) -> int:
    best = max((prefix for prefix in LAYERS if name == prefix or name.startswith(prefix + ".")), key=len)
    return LAYERS[best]


def upward_imports(graph: dict[str, dict[str, int]]) -> list[tuple[str, str, int]]:
    bad = []
    for source, targets in graph.items():
        for target, line in targets.items():
            if target in CLI_ONLY:
                if layer(source) < LAYERS["thermcli.cli"]:
                    bad.append((source, target, line))
            elif layer(target) > layer(source):
                bad.append((source, target, line))
    return sorted(bad)


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    edges = {node: [t for t in targets if t in graph] for node, targets in graph.items()}
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def _cycle_path(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    """One loop through the component, with the line of each import, for the message."""
    members = set(component)
    start = component[0]
    path, seen = [start], {start}
    node = start
    while True:
        nxt = sorted(t for t in graph[node] if t in members)
        back = [t for t in nxt if t == start]
        if back and len(path) > 1:
            path.append(start)
            break
        fresh = [t for t in nxt if t not in seen]
        node = fresh[0] if fresh else (back or nxt)[0]
        path.append(node)
        if node in seen:
            break
        seen.add(node)
    loop = " → ".join(f"{a} (line {graph[a][b]})" for a, b in zip(path, path[1:])) + f" → {path[-1]}"
    return f"{{{', '.join(component)}}}: {loop}"


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, int]]:
    return import_graph()


def test_graph_sees_lazy_and_submodule_imports(graph):
    """The checker itself: a lazy import inside a function and a `from package import module`
    both become edges (else the contract below could pass by not looking)."""
    assert "thermcli.interrupt" in graph["thermcli.progress"]  # inside track()
    assert "thermcli.errors" in graph["thermcli.parsing"]
    assert "thermcli.io.checkpoint" in graph["thermcli.models.checkpoint"]
    assert "thermcli.parsing" in graph["thermcli.cli.options"]  # `from thermcli import parsing`
    assert "typer" in graph["thermcli.cli.options"]
    assert all(layer(m) in LAYER_NAMES for m in graph)


def test_checker_flags_planted_violations():
    """An upward import and a two-module loop, planted in a copy of the graph, are caught."""
    planted = {"thermcli.io.a": {"thermcli.stages.b": 3, "typer": 4}, "thermcli.stages.b": {"thermcli.io.a": 7}}
    assert upward_imports(planted) == [("thermcli.io.a", "thermcli.stages.b", 3), ("thermcli.io.a", "typer", 4)]
    assert cycles(planted) == [["thermcli.io.a", "thermcli.stages.b"]]


def test_no_upward_imports(graph):
    found = upward_imports(graph)
    unexpected = [(s, t, line) for s, t, line in found if (s, t) not in KNOWN_UPWARD]
    message = "\n".join(
        f"{s} (line {line}, layer {LAYER_NAMES[layer(s)]}) imports {t}"
        + ("" if t in CLI_ONLY else f" (layer {LAYER_NAMES[layer(t)]})")
        for s, t, line in unexpected
    )
    assert not unexpected, f"upward imports (cli → stages → models/metrics → io/ops → base):\n{message}"
    stale = KNOWN_UPWARD - {(s, t) for s, t, _ in found}
    assert not stale, f"fixed; remove from KNOWN_UPWARD in tests/test_layers.py: {sorted(stale)}"


def test_no_import_cycles(graph):
    found = cycles(graph)
    unexpected = [c for c in found if set(c) not in KNOWN_CYCLES]
    message = "\n".join(_cycle_path(graph, c) for c in unexpected)
    assert not unexpected, f"import cycles:\n{message}"
    stale = [c for c in KNOWN_CYCLES if sorted(c) not in found]
    assert not stale, f"fixed; remove from KNOWN_CYCLES in tests/test_layers.py: {stale}"


if __name__ == "__main__":  # the summary for a person: python tests/test_layers.py
    g = import_graph()
    n_edges = sum(len(t) for t in g.values())
    print(f"{len(g)} modules, {n_edges} imports (lazy ones included)")
    up = upward_imports(g)
    print(f"upward imports: {len(up)}")
    for s, t, line in up:
        print(f"  {s}:{line} -> {t}{'  (known, owned elsewhere)' if (s, t) in KNOWN_UPWARD else ''}")
    cyc = cycles(g)
    print(f"import cycles: {len(cyc)}")
    for c in cyc:
        print("  " + _cycle_path(g, c))
    sys.exit(1 if up or cyc else 0)
