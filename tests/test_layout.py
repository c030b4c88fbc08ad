"""The package's shape: no import cycles, and each layer imports only the layers below it.

Every ``import`` counts, including those inside functions (a lazy import hides a cycle from
the interpreter, not from a reader).
"""

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "carms_cli"

#: Layers, lowest first: a module may import its own layer and the ones before it. The families
#: (``discrete``, ``continuous``) sit side by side above the core and never import each other;
#: ``models`` sits above ``discrete``, whose estimators give its encoder gradients.
LAYERS = {"core": 0, "discrete": 1, "models": 2, "analysis": 3, "present": 4, "cli": 5}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules ``path`` imports (at any depth of its code)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name if name in modules else node.module for name in names]
        else:
            continue
        found.update(name for name in names if name in modules)
    found.discard(module_name(path))
    return found


@functools.lru_cache(maxsize=1)
def import_graph() -> dict[str, set[str]]:
    """The package's import graph, parsed once per session (every layer test reads it)."""
    modules = all_modules()
    return {name: imports_of(path, modules) for name, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_import_cycles():
    assert strongly_connected(import_graph()) == []


def test_cycle_detector_finds_a_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


@pytest.mark.parametrize("module", sorted(all_modules()))
def test_layers_import_downwards(module):
    graph = import_graph()
    own = layer_of(module)
    if own is None:
        return
    upward = [target for target in graph[module] if layer_of(target) and LAYERS[layer_of(target)] > LAYERS[own]]
    assert upward == [], f"{module} ({own}) imports a higher layer"


def test_rich_and_numba_jit_only_where_allowed():
    """Rich only in the table presenter, ``numba.njit`` only in the jit module (ruff enforces it
    too; this test keeps the rule even where ruff's configuration is changed)."""
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        relative = path.relative_to(PACKAGE).as_posix()
        if relative != "present/table.py":
            assert "from rich" not in text and "import rich" not in text, relative
        if relative != "core/jit.py":
            assert "njit(" not in text.replace("# ", ""), relative
