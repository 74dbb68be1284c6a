"""The layout of the house, checked from the sources: no import cycle, kernels never import the
engine, the analysis layer never imports the execution layer, modules of a few hundred lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 420  # "no module over ~400 lines"; kernels may exceed it where a comment says why


def _modules() -> dict[str, Path]:
    out = {}
    for root in ("engine", "kernels"):
        for path in (ROOT / root).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _graph(top_level_only: bool) -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    graph = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        body = tree.body if top_level_only else list(ast.walk(tree))
        deps = set()
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                deps |= _imports_of(node, known)
        pkg_init = name if path.name == "__init__.py" else None
        graph[name] = {d for d in deps if d != name and d != pkg_init}
    return graph


def _imports_of(node, known) -> set[str]:
    names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
        [node.module] + [f"{node.module}.{a.name}" for a in node.names] if node.module else []
    )
    out = set()
    for n in names:
        while n and n not in known:
            n = n.rpartition(".")[0]
        if n:
            out.add(n)
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                return stack[stack.index(d) :] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def _strip_packages(graph):
    """Edges to a package mean its __init__; drop the package->submodule edges of re-exports."""
    return {n: {d for d in deps if not (n.startswith(d + ".") or d.startswith(n + "."))} for n, deps in graph.items()}


def test_no_import_cycle_between_modules():
    cycle = _cycle(_strip_packages(_graph(top_level_only=True)))
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: a made-up graph with a cycle is reported."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_kernels_never_import_the_engine():
    graph = _graph(top_level_only=False)
    bad = {n: sorted(d for d in deps if d.startswith("engine")) for n, deps in graph.items() if n.startswith("kernels")}
    assert not any(bad.values()), bad


def test_analysis_never_imports_the_execution_layer():
    graph = _graph(top_level_only=False)
    bad = {n: sorted(d for d in deps if d.startswith("engine.execution")) for n, deps in graph.items() if n.startswith("engine.analysis")}
    assert not any(bad.values()), bad


def test_modules_are_a_few_hundred_lines():
    long = {n: len(p.read_text().splitlines()) for n, p in _modules().items()}
    too_long = {n: k for n, k in long.items() if k > MAX_LINES and not n.startswith("kernels.")}
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"
