"""edgecnn's import graph from an AST walk of its sources: modules, rooms, floors, arrows, circles.

Every ``import``/``from ... import`` of an ``edgecnn`` module counts, at module level and inside
functions alike (a lazy import is still an arrow: it only moves when the module is loaded);
imports under ``if TYPE_CHECKING:`` do not (they never run). ``from edgecnn.x import y`` is an
arrow to ``edgecnn.x.y`` when that is a module, else to ``edgecnn.x``.

A *room* is a top-level module or sub-package of ``edgecnn`` (``edgecnn.bench.run`` lives in the
room ``bench``); an *arrow* is a distinct room -> room import; a *circle* is a set of two or more
rooms (or modules) that reach each other (a strongly connected component). A room's *floor* is
the length of the longest chain of arrows below it; *arrows up* are the fewest arrows that,
left out, leave no circle (in any layering these run back up), and floors are counted without them.

``python tests/import_graph.py`` prints the figures.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "edgecnn"


def module_files(root: Path = PACKAGE_DIR) -> dict[str, Path]:
    """{dotted module name: file} for every importable module of the package (folders with __init__.py)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent)
        if any(not (root.parent / Path(*rel.parts[:i]) / "__init__.py").is_file() for i in range(1, len(rel.parts))):
            continue  # a folder that is not a package (bundle templates copied as files)
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterable[tuple[str, list[str]]]:
    """(imported module, names) for every import that runs, skipping ``if TYPE_CHECKING:`` blocks."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            yield base, [alias.name for alias in node.names]
        stack.extend(ast.iter_child_nodes(node))


def _longest_module(name: str, files: dict[str, Path]) -> str | None:
    while name and name not in files:
        name = name.rpartition(".")[0]
    return name or None


def module_graph(root: Path = PACKAGE_DIR) -> dict[str, set[str]]:
    """{module: the edgecnn modules it imports} (self-imports left out)."""
    files = module_files(root)
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for target, names in _imports(tree, name, path.name == "__init__.py"):
            if target != "edgecnn" and not target.startswith("edgecnn."):
                continue
            # `from edgecnn.x import y`: the module edgecnn.x.y if there is one, else edgecnn.x
            found = [f"{target}.{n}" if f"{target}.{n}" in files else target for n in names] or [target]
            graph[name].update(m for m in (_longest_module(f, files) for f in found) if m and m != name)
    return graph


def room(module: str) -> str:
    """``edgecnn.bench.run`` -> ``bench``; the package itself is the room ``edgecnn``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "edgecnn"


def room_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    rooms: dict[str, set[str]] = {room(m): set() for m in graph}
    for src, targets in graph.items():
        rooms[room(src)].update(room(t) for t in targets if room(t) != room(src))
    return rooms


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of two or more nodes (Tarjan), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # recursion depth is bounded by the module count (~100)
        index[v] = low[v] = counter[0]
        counter[0] += 1
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
    return sorted(found, key=lambda c: (-len(c), c))


def arrows_up(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """The fewest arrows whose removal leaves no circle (within each circle, tried by brute force).

    Of equally few, those leaving the rooms that import least: an upward arrow is the one a
    foundation-like room (few imports of its own) should not have.
    """
    up: list[tuple[str, str]] = []
    for component in circles(graph):
        members = set(component)
        edges = sorted((a, b) for a in component for b in graph[a] if b in members)
        for k in range(1, len(edges) + 1):
            fits = []
            for cut in itertools.combinations(edges, k):
                rest = {a: {b for b in graph[a] if b in members and (a, b) not in cut} for a in component}
                if not circles(rest):
                    fits.append((sum(len(graph[a]) for a, _ in cut), cut))
            if fits:
                up += min(fits)[1]
                break
    return sorted(up)


def floors(graph: dict[str, set[str]]) -> dict[str, int]:
    """Longest chain of arrows below each node, arrows up left out (so each arrow runs down a floor)."""
    up = set(arrows_up(graph))
    memo: dict[str, int] = {}

    def height(v: str) -> int:  # recursion depth is bounded by the node count (~100)
        if v not in memo:
            memo[v] = 1 + max((height(t) for t in graph[v] if (v, t) not in up), default=-1)
        return memo[v]

    return {v: height(v) for v in graph}


def closure(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` reaches through its imports (not itself unless in a circle)."""
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        v = todo.pop()
        if v not in seen:
            seen.add(v)
            todo.extend(graph[v])
    return seen


@dataclass(frozen=True)
class House:
    """The figures of the room graph, and the module-level circles."""

    rooms: int
    floors: int
    arrows: int
    arrows_up: list[tuple[str, str]]
    circles: list[list[str]]
    module_circles: list[list[str]]
    biggest: list[tuple[str, int]]  # (room, lines of code), largest first


def house(root: Path = PACKAGE_DIR) -> House:
    graph = module_graph(root)
    rooms = room_graph(graph)
    room_circles = circles(rooms)
    up = arrows_up(rooms)
    sizes: dict[str, int] = {}
    for name, path in module_files(root).items():
        sizes[room(name)] = sizes.get(room(name), 0) + len(path.read_text(encoding="utf-8").splitlines())
    return House(
        rooms=len(rooms), floors=1 + max(floors(rooms).values()), arrows=sum(len(t) for t in rooms.values()),
        arrows_up=up, circles=room_circles, module_circles=circles(graph),
        biggest=sorted(sizes.items(), key=lambda kv: -kv[1])[:6],
    )


if __name__ == "__main__":
    h = house()
    print(f"{h.rooms} rooms, {h.floors} floors, {h.arrows} arrows, {len(h.arrows_up)} up, "
          f"{len(h.circles)} circles among rooms, {len(h.module_circles)} among modules")
    for a, b in h.arrows_up:
        print(f"  arrow up: {a} -> {b}")
    for c in h.circles + h.module_circles:
        print(f"  circle: {' <-> '.join(c)}")
    print("  biggest rooms (lines): " + ", ".join(f"{r} {n:,}" for r, n in h.biggest))
    by_floor: dict[int, list[str]] = {}
    for r, f in floors(room_graph(module_graph())).items():
        by_floor.setdefault(f, []).append(r)
    for f in sorted(by_floor):
        print(f"  floor {f}: {', '.join(sorted(by_floor[f]))}")
