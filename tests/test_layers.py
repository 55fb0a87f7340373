"""The house's floors: corpus < embeddings < qa < webapp < app, with evaluation/, benchmarks/ and
training/ on top. No module imports a higher floor, no product module imports the tools on top,
and the module import graph has no circle (imports inside ``if TYPE_CHECKING:`` do not count:
they are for type checkers only). Read from the source with ``ast``, nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Floor of each top-level name: a module may import its own floor and the ones below.
FLOORS = {"corpus": 0, "embeddings": 1, "qa": 2, "webapp": 3, "app": 4, "evaluation": 5, "benchmarks": 6,
          "training": 5}
PRODUCT = ("corpus", "embeddings", "qa", "webapp", "app")
TOOLS = ("evaluation", "benchmarks", "training")


def _modules() -> dict[str, Path]:
    out = {}
    for top in FLOORS:
        if (REPO / f"{top}.py").is_file():
            out[top] = REPO / f"{top}.py"
        for path in sorted((REPO / top).rglob("*.py")) if (REPO / top).is_dir() else []:
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(name: str, path: Path) -> set[str]:
    """The first-party modules ``name`` imports (the module itself when it is one, else its package)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[:len(package.split(".")) - child.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                for a in child.names:
                    full = f"{base}.{a.name}"
                    found.add(full if full in MODULES else base)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in found if m.split(".")[0] in FLOORS and m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_every_package_was_read():
    assert {"qa.pipeline", "embeddings.stores.base", "corpus.readers.paths", "webapp.handlers", "app",
            "evaluation.harness", "benchmarks.cli"} <= set(GRAPH)


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_no_import_from_a_higher_floor(name):
    floor = FLOORS[name.split(".")[0]]
    upward = sorted(m for m in GRAPH[name] if FLOORS[m.split(".")[0]] > floor)
    assert not upward, f"{name} imports {upward} from a higher floor"


def test_no_product_module_imports_evaluation_benchmarks_or_training():
    bad = {n: sorted(m for m in deps if m.split(".")[0] in TOOLS)
           for n, deps in GRAPH.items() if n.split(".")[0] in PRODUCT}
    assert not {n: d for n, d in bad.items() if d}


def test_the_import_graph_has_no_circle():
    done: set[str] = set()

    def walk(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        for dep in sorted(GRAPH[node]):
            circle = walk(dep, path + [node])
            if circle:
                return circle
        done.add(node)
        return None

    for name in sorted(GRAPH):
        circle = walk(name, [])
        assert circle is None, " -> ".join(circle)


def test_modules_stay_small_or_say_why():
    """~400 lines at most (420 with slack), unless the module's docstring says why it is longer
    ("Why this module is long: ..."). training/ is another line of work and keeps its own rules."""
    sizes = {n: len(p.read_text(encoding="utf-8").splitlines()) for n, p in MODULES.items()
             if not n.startswith("training")}
    long = {n: k for n, k in sizes.items() if k > 420 and "Why this module is long" not in (ast.get_docstring(
        ast.parse(MODULES[n].read_text(encoding="utf-8"))) or "")}
    assert not long, f"modules over ~400 lines without a reason in their docstring: {long}"
