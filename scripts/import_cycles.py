"""Report import cycles among remem's modules.

The graph is built from the source with ``ast``: every ``import`` and ``from ... import`` of a
``remem`` module counts, wherever it appears (module level, inside a function, or under
``if TYPE_CHECKING:``), so a type-only import that points back up is a cycle too. ``from
remem.pkg import name`` counts as an import of ``remem.pkg.name`` when that is a module, else of
``remem.pkg``. A package's ``__init__`` is the module named after the package.

Usage: ``python scripts/import_cycles.py [src]`` (default: the ``remem`` folder next to this
script's folder). Prints each cycle as ``a -> b -> a`` and exits 1 when there is one, else prints
nothing and exits 0.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def modules(src: Path) -> dict[str, Path]:
    """Module name -> file, for every ``.py`` file under the package folder ``src``."""
    out = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(name: str, module: str, level: int, is_package: bool) -> str:
    if level == 0:
        return name
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The known modules that ``module`` (the file ``path``) imports, anywhere in its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module or "", module, node.level, is_package)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import remem.a.b` names remem.a.b
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def graph(src: Path) -> dict[str, set[str]]:
    """Module -> the modules it imports, for the package folder ``src``."""
    files = modules(src)
    known = set(files)
    return {name: imports(name, path, known) for name, path in files.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan), each as the
    list of its modules along a cycle, first module repeated at the end, smallest name first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(edges) + 100))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return [_path_through(c, edges) for c in sorted(components, key=min)]


def _path_through(component: set[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the smallest module of ``component`` (breadth-first)."""
    start = min(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(edges.get(v, set()) & component):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if w not in previous:
                    previous[w] = v
                    nxt.append(w)
        frontier = nxt
    return [start, start]  # pragma: no cover - a component always has a cycle


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "remem"
    found = cycles(graph(src))
    for cycle in found:
        print(" -> ".join(cycle))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
