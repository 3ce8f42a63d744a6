"""The CSV inventory import is streamed, capped and run as a background job (issue 21,
finding 8: a 50,000-row dry run held one request for 255 s of the console's CPU).

Real HTTP through the console app, a real SQLite database: the upload answers at once with
the job's page, the job's progress shows while it runs (held here behind another writer's
lock, as a long import would be), and a 50,000-row file stops at the row cap after reading
only that many rows."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from console.inventory_csv import COLUMNS, import_inventory
from models.tables import Contact
from tests.browser.support import Desk, load_demo_clients, make_desk


def contact_rows(n: int, client: str = "client-a") -> bytes:
    """A header and ``n`` contact lines (valid: a dry run would create them all)."""
    lines = [";".join(COLUMNS)]
    for i in range(n):
        cells = dict.fromkeys(COLUMNS, "")
        cells.update(type="contact", client=client, name=f"Contact {i}",
                     email=f"c{i}@client-a.example", role="backup", rank="2")
        lines.append(";".join(cells[c] for c in COLUMNS))
    return ("\n".join(lines) + "\n").encode()


def job_page(http: Any, location: str, *, running: bool, within: float = 60.0) -> str:
    deadline = time.monotonic() + within
    while True:
        page = http.get(location)
        assert page.status_code == 200
        if ('id="import-progress"' in page.text) == running:
            return page.text
        assert time.monotonic() < deadline, page.text[-2000:]
        time.sleep(0.05)


@pytest.fixture
def desk(sqlite_engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(sqlite_engine, tmp_path, import_max_rows=500)


def upload(http: Any, token: str, data: bytes, dry: bool = True) -> Any:
    return http.post("/admin/import",
                     data={"csrf_token": token} | ({"dry_run": "on"} if dry else {}),
                     files={"file": ("inventaire.csv", data, "text/csv")})


def test_the_upload_answers_at_once_and_the_page_shows_the_running_job(desk: Desk) -> None:
    """Another writer holds SQLite's lock: the import waits on it, the request does not."""
    http, token = desk.signed_in("admin")
    with desk.engine.connect() as blocker:
        blocker.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock, until rollback
        answer = upload(http, token, contact_rows(300), dry=False)
        assert answer.status_code == 303  # answered while the import cannot even start
        location = answer.headers["location"]
        assert re.fullmatch(r"/admin/import/[0-9a-f]{12}", location)
        running = job_page(http, location, running=True)
        assert "En cours" in running and 'http-equiv="refresh"' in running
        # one import at a time: a second upload is refused while the first runs
        second = upload(http, token, contact_rows(1))
        assert second.status_code == 409 and "Un import est déjà en cours" in second.text
        blocker.rollback()
    done = job_page(http, location, running=False)
    assert "Import appliqué" in done and "300 lignes lues" in done
    assert "contact : 300 créés" in done
    listed = http.get("/admin/import?lang=en").text
    assert location in listed and "Recent imports" in listed
    with Session(desk.engine) as s:
        assert len(s.exec(select(Contact).where(Contact.role == "backup",
                                                Contact.name.startswith("Contact "))  # type: ignore[attr-defined]
                          ).all()) == 300
    assert list((desk.settings.var_dir / "imports").iterdir()) == []  # the spooled upload


def test_a_50000_row_file_stops_at_the_row_cap_and_writes_nothing(desk: Desk) -> None:
    http, token = desk.signed_in("admin")
    answer = upload(http, token, contact_rows(50_000), dry=False)
    assert answer.status_code == 303
    done = job_page(http, answer.headers["location"], running=False)
    assert "500 lignes lues" in done and "plus de 500 lignes : fichier refusé" in done
    assert "<tr><td>502</td>" in done  # the first row over the cap, counted from the header
    assert "rien n&#39;a été écrit" in done
    with Session(desk.engine) as s:
        assert s.exec(select(Contact).where(Contact.name == "Contact 0")).first() is None


def test_an_upload_over_the_size_cap_is_refused_with_a_413(desk: Desk) -> None:
    http, token = desk.signed_in("admin")
    big = b"type;client\n" + b"contact;client-a;" + b"x" * (6 * 1024 * 1024) + b"\n"
    assert upload(http, token, big).status_code == 413


def test_the_import_reads_a_stream_and_reports_a_record_at_its_first_line(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    load_demo_clients(sqlite_engine)
    path = tmp_path / "inventaire.csv"
    path.write_bytes(contact_rows(3) + b'contact;client-a;"Deux\nlignes"\n')
    seen: list[int] = []
    with path.open("rb") as stream:
        report = import_inventory(sqlite_engine, stream, dry_run=True, progress=seen.append)
    assert report.lines == 4 and seen == [4]
    assert report.errors[0][0] == 5  # the record starts on line 5 and ends on line 6
    with sqlite_engine.connect() as c:  # a dry run leaves no trace
        assert c.execute(text("select count(*) from contact where name like 'Contact %'")
                         ).scalar() == 0
