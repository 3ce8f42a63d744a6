"""The layers of the desk: the intake and the console sit on the data layer (``records/``),
never on Temporal's activity layer; the data layer sits under all three."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for mod in imported_modules(path):
            if mod.split(".")[0] in forbidden:
                bad.append(f"{path.relative_to(ROOT)} imports {mod}")
    return bad


def test_no_file_in_intake_or_console_imports_the_activities() -> None:
    assert offenders("intake", ("activities",)) == []
    assert offenders("console", ("activities",)) == []


def test_the_visit_planning_and_the_contracts_sit_on_the_data_layer_too() -> None:
    """planning/ and contracts/ are used by the console as well: the same rule."""
    assert offenders("planning", ("activities",)) == []
    assert offenders("contracts", ("activities",)) == []


def test_the_data_layer_imports_none_of_the_layers_above_it() -> None:
    assert offenders("records", ("activities", "intake", "console")) == []
