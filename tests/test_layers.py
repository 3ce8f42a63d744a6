"""The drawing of the house (README, "Architecture"), checked on the code's own imports.

Every ``import`` of every project file (module level and inside functions alike: a lazy import
is still a dependency) is read from its syntax tree, so the layers cannot drift without this
test saying where. The table:

====  ============================================  ===========================================
rank  packages                                      may import (besides the standard library
                                                    and third-party libraries)
====  ============================================  ===========================================
0     ``messages``                                  nothing of the project; of libraries only
                                                    ``temporalio.common`` (the workflow sandbox
                                                    loads these modules as they are)
1     ``base``, ``parsers``                         rank 0
2     ``domain``, ``models``                        ranks 0-1
3     ``records``, ``contracts``, ``planning``,     ranks 0-2, and each other (the data layer,
      ``documents``                                 without a cycle between them)
4     ``intake``, ``workflows``, ``activities``     ranks 0-3, never each other; ``workflows``
                                                    only ``messages`` and ``domain``, and of
                                                    libraries only ``temporalio`` and
                                                    ``transitions``
5     ``console``                                   ranks 0-3 (not the intake, the workflows
                                                    nor the activities: it meets the intake in
                                                    the data layer and asks workflows by name)
6     ``vigie``, ``worker.py``, ``ingest.py``       anything: the shell (CLI, one-machine
                                                    stack, demo, schedules, Temporal clients)
====  ============================================  ===========================================

Tests, benchmarks and scripts sit outside the house. No cycle between packages, nor between
modules. The worker's sandbox passes through
every package the workflows import.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = {"tests", "bench", "scripts", ".venv", "build", "var"}

RANK: dict[str, int] = {
    "messages": 0,
    "base": 1, "parsers": 1,
    "domain": 2, "models": 2,
    "records": 3, "contracts": 3, "planning": 3, "documents": 3,
    "intake": 4, "workflows": 4, "activities": 4,
    "console": 5,
    "vigie": 6, "worker": 6, "ingest": 6,
}
DATA_LAYER = {"records", "contracts", "planning", "documents"}
SHELL = {"vigie", "worker", "ingest"}
PEERS = (DATA_LAYER, SHELL)  # same rank, may import each other (no cycle: tested below)
# Beyond the rank order: what a package must not import although it sits higher.
NEVER: dict[str, set[str]] = {
    "console": {"intake", "workflows", "activities"},
    "workflows": {"base", "parsers", "models"} | DATA_LAYER,
}
LIBRARIES_ONLY: dict[str, set[str]] = {
    "messages": {"temporalio.common"},
    "workflows": {"temporalio", "transitions"},
}


def project_packages() -> set[str]:
    found = {p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in OUTSIDE}
    return found | {p.stem for p in ROOT.glob("*.py")}


def project_files() -> Iterator[tuple[str, Path]]:
    """(module name, path) of every file of the house (migrations are Alembic's scripts)."""
    for top in sorted(project_packages()):
        paths = [ROOT / f"{top}.py"] if (ROOT / f"{top}.py").exists() else sorted(
            (ROOT / top).rglob("*.py"))
        for path in paths:
            rel = path.relative_to(ROOT).with_suffix("")
            if "migrations" in rel.parts:
                continue
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            yield ".".join(parts), path


MODULES = dict(project_files())


@cache
def imports_of(path: Path, module: str) -> tuple[tuple[str, int], ...]:
    return tuple(_imports_of(path, module))


def _imports_of(path: Path, module: str) -> Iterator[tuple[str, int]]:
    """Every module ``path`` imports (absolute name, line), ``from a import b`` giving ``a.b``
    when ``b`` is a module of the house, else ``a``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub if sub in MODULES else base), node.lineno


@cache
def offences() -> tuple[tuple[str, str], ...]:
    return tuple(_offences())


def _offences() -> Iterator[tuple[str, str]]:
    """(importing package, "file:line imports module: why") for every broken rule."""
    known = set(RANK)
    for module, path in MODULES.items():
        src = module.split(".")[0]
        where = path.relative_to(ROOT)
        if src not in known:
            yield src, f"{where}: package {src!r} has no place in the table (RANK)"
            continue
        for target, line in imports_of(path, module):
            top = target.split(".")[0]
            if top == src:
                continue
            if top in known:
                if top in NEVER.get(src, set()):
                    yield src, f"{where}:{line} imports {target}: {src} never imports {top}"
                elif RANK[top] > RANK[src] or (
                        RANK[top] == RANK[src] and not any({src, top} <= p for p in PEERS)):
                    yield src, (f"{where}:{line} imports {target}: {top} (rank {RANK[top]}) "
                                f"is not below {src} (rank {RANK[src]})")
            elif src in LIBRARIES_ONLY and top not in sys.stdlib_module_names and not any(
                    target == lib or target.startswith(lib + ".")
                    for lib in LIBRARIES_ONLY[src]):
                yield src, f"{where}:{line} imports {target}: not allowed in {src}"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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


def module_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        graph[module] = {t for t, _ in imports_of(path, module) if t in MODULES and t != module}
    return graph


@pytest.mark.parametrize("package", sorted(RANK))
def test_each_package_imports_only_what_the_table_allows(package: str) -> None:
    assert [o for p, o in offences() if p == package] == []


def test_every_package_of_the_house_has_its_place_in_the_table() -> None:
    assert project_packages() - set(RANK) == set(), "add it to RANK (and to the README's table)"


def test_no_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = {}
    for a, targets in module_graph().items():
        graph.setdefault(a.split(".")[0], set()).update(
            t.split(".")[0] for t in targets if t.split(".")[0] != a.split(".")[0])
    assert cycles(graph) == []


# The one cycle left, with its reason: the console's word dictionaries (``console/i18n*.py``)
# import each other inside functions; the words part of issue 25 replaces them by Babel
# catalogs (branch ``i25words``). Remove the entry then: a cycle among other modules, or one
# reaching beyond these, fails.
def test_no_cycle_between_modules() -> None:
    assert cycles(module_graph()) == []


def test_the_cycle_search_finds_a_cycle() -> None:
    """The search itself can fail: a cycle of three and a self-contained pair are found."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": {"d"}, "f": {"a"}}
    assert cycles(graph) == [["a", "b", "c"], ["d", "e"]]


def test_the_workflow_sandbox_passes_through_every_package_the_workflows_import() -> None:
    """The worker's sandbox imports the desk's modules once (``vigie.temporal.PASSTHROUGH``);
    a package the workflows import but the sandbox re-imports gives the workflows classes
    whose type hints the payload converter cannot resolve (``NameError`` on every input)."""
    tree = ast.parse((ROOT / "vigie" / "temporal.py").read_text(encoding="utf-8"))
    passed = next(ast.literal_eval(node.value) for node in tree.body
                  if isinstance(node, ast.Assign) and any(
                      isinstance(t, ast.Name) and t.id == "PASSTHROUGH" for t in node.targets))
    imported = {t.split(".")[0] for m, path in MODULES.items() if m.startswith("workflows")
                for t, _ in imports_of(path, m) if t.split(".")[0] in RANK}
    assert imported - set(passed) == set()
