"""The visit record: its anomalies are exactly the client's cases (and Demandes, and failed
backup days) between the previous visit's end and this visit's start, with their SLA outcome;
the technical document's diff shows a server added between two visits; the PDF renders (page
1 to PNG through ``pdftoppm``, not blank)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.db import session_scope
from models.expectations import BackupDay
from models.tables import BackupJob, Demande, Server
from models.visits import Visit
from planning import checklist, techdoc
from planning.anomalies import anomalies_for
from planning.report import build_visit_report, render_html, report_of
from planning.visits import create_visit
from tests.browser.support import add_case, load_demo_clients

T0 = dt.datetime(2027, 3, 16, 16, 0, tzinfo=dt.UTC)  # the previous visit ended
T1 = dt.datetime(2027, 9, 14, 7, 30, tzinfo=dt.UTC)  # this one started


def two_visits(engine: Engine) -> tuple[int, int, dict[str, int]]:
    clients = load_demo_clients(engine)
    cid = clients["client-a"]
    with session_scope(engine) as s:
        first = create_visit(s, cid, "preventive", dt.date(2027, 1, 1), dt.date(2027, 6, 30))
        first.state, first.date = "report_sent", T0.date()
        first.started_at, first.finished_at = T0 - dt.timedelta(hours=7), T0
        second = create_visit(s, cid, "preventive", dt.date(2027, 7, 1), dt.date(2027, 12, 31))
        second.state, second.date, second.started_at = "in_progress", T1.date(), T1
        s.add_all([first, second])
        s.flush()
        return first.id or 0, second.id or 0, clients


def test_the_anomalies_are_the_cases_of_the_window(engine: Engine) -> None:
    _, vid, clients = two_visits(engine)
    cid = clients["client-a"]
    before = add_case(engine, cid, title="avant la visite précédente",
                      opened_at=T0 - dt.timedelta(days=2))
    inside = [
        add_case(engine, cid, title="disque plein", opened_at=T0 + dt.timedelta(days=10),
                 criticality="minor", ledger=[(20, "classify", {"criticality": "minor"})]),
        add_case(engine, cid, title="sauvegarde en échec", opened_at=T1 - dt.timedelta(days=6),
                 criticality="significant",
                 ledger=[(300, "classify", {"criticality": "significant"})]),
    ]
    after = add_case(engine, cid, title="pendant la visite", opened_at=T1 + dt.timedelta(hours=1))
    neighbour = add_case(engine, clients["client-b"], title="chez un autre client",
                         opened_at=T0 + dt.timedelta(days=10))
    with session_scope(engine) as s:
        s.add(Demande(ref="DEM-1", case_id=inside[1], opened_at=T1 - dt.timedelta(days=2),
                      summary="sauvegarde à relancer"))
        job = s.exec(select(BackupJob).where(BackupJob.client_id == cid)).first()
        assert job is not None
        for day, status in ((dt.date(2027, 5, 3), "failed"), (dt.date(2027, 5, 4), "success"),
                            (dt.date(2027, 2, 1), "failed")):
            s.add(BackupDay(job_id=job.id or 0, client_id=cid, server_id=job.server_id, day=day,
                            status=status, window_start=T0, window_end=T0))
    with Session(engine) as s:
        visit = s.get(Visit, vid)
        assert visit is not None
        found = anomalies_for(s, visit)
    assert (found.start, found.end) == (T0, T1)
    assert [c.case_id for c in found.cases] == inside
    assert {before, after, neighbour}.isdisjoint(c.case_id for c in found.cases)
    # SLA outcome from each case's ledger: classified after 20 min is on time, after 5 h late
    assert found.cases[0].sla == "dans les délais"
    assert found.cases[1].sla.startswith("hors délai")
    assert [d.ref for d in found.demandes] == ["DEM-1"]
    assert [(b.day, b.status) for b in found.backups] == [(dt.date(2027, 5, 3), "failed")]


def test_the_technical_document_diff_shows_a_server_added_between_two_visits(
    engine: Engine
) -> None:
    first, second, clients = two_visits(engine)
    cid = clients["client-a"]
    with session_scope(engine) as s:
        v1 = techdoc.save_version(s, cid, {"network": "192.168.1.0/24"}, "conseil", first)
        visit = s.get(Visit, first)
        assert visit is not None
        visit.techdoc_after = v1.version
        s.add(Server(client_id=cid, hostname="srv-backup", display_name="SRV-BACKUP",
                     kind="virtual", role="Sauvegardes"))
    build_visit_report(engine, second, "conseil", T1 + dt.timedelta(hours=6))
    with Session(engine) as s:
        visit = s.get(Visit, second)
        assert visit is not None
        assert (visit.techdoc_before, visit.techdoc_after) == (v1.version, v1.version + 1)
        diff = techdoc.diff(techdoc.version(s, cid, visit.techdoc_before),
                            techdoc.version(s, cid, visit.techdoc_after))
        report = report_of(s, second)
    assert [(d.kind, d.text.split(" — ")[0]) for d in diff] == [("added", "SRV-BACKUP")]
    assert report is not None and "SRV-BACKUP" in report.html and "diff-added" in report.html


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) missing")
def test_the_report_pdf_renders(sqlite_engine: Engine, tmp_path: Path) -> None:
    _, vid, clients = two_visits(sqlite_engine)
    add_case(sqlite_engine, clients["client-a"], title="disque plein",
             opened_at=T0 + dt.timedelta(days=10))
    with session_scope(sqlite_engine) as s:
        checklist.save_answer(s, vid, "ups", "ko", "batterie <b>HS</b>", "conseil")
        checklist.save_answer(s, vid, "backups", "ok", "", "conseil")
        visit = s.get(Visit, vid)
        assert visit is not None
        visit.advice = "Remplacer l'onduleur"
    result = build_visit_report(sqlite_engine, vid, "conseil", T1 + dt.timedelta(hours=6))
    assert result.anomalies == 1 and "Onduleurs" not in result.open_items
    assert "Antivirus des serveurs" in result.open_items  # not answered: listed as open
    with Session(sqlite_engine) as s:
        report = report_of(s, vid)
        visit = s.get(Visit, vid)
        assert report is not None and visit is not None
        html = render_html(s, visit, "Europe/Paris")
    assert "batterie &lt;b&gt;HS&lt;/b&gt;" in html  # typed text is escaped
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(report.pdf or b"")
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True, timeout=60)
    [png] = list(tmp_path.glob("page*.png"))
    with Image.open(png) as img:
        gray = img.convert("L")
        dark = sum(1 for p in gray.tobytes() if p < 200)
        assert gray.size[0] > 300 and dark > 2000, dark  # text and tables, not a blank page


def test_the_backup_section_agrees_with_its_list(engine: Engine) -> None:
    """Finding 9: never "Sauvegardes en échec : aucune" after listing failures; each day's
    outcome in words ("en échec"), not the audit's key ("failed")."""
    _, vid, clients = two_visits(engine)
    cid = clients["client-a"]
    with session_scope(engine) as s:
        job = s.exec(select(BackupJob).where(BackupJob.client_id == cid)).first()
        assert job is not None
        for day, status in ((dt.date(2027, 5, 3), "failed"),
                            (dt.date(2027, 5, 4), "not_received")):
            s.add(BackupDay(job_id=job.id or 0, client_id=cid, server_id=job.server_id, day=day,
                            status=status, window_start=T0, window_end=T0))
    with Session(engine) as s:
        visit = s.get(Visit, vid)
        assert visit is not None
        html = render_html(s, visit, "Europe/Paris")
        section = html.split('id="backup-failures"')[1].split("<h2>")[0]
    assert "Sauvegardes en échec ou absentes : 2" in html
    assert section.count("<li>") == 2 and "aucune" not in section.lower()
    assert "03/05/2027" in section and ": en échec" in section
    assert "aucun compte rendu reçu" in section
    assert "failed" not in section and "not_received" not in section
    with Session(engine) as s:
        found = anomalies_for(s, visit)
        found.backups.clear()
        empty = render_html(s, visit, "Europe/Paris", found)
    assert "Sauvegardes en échec ou absentes : aucune" in empty
    assert '<ul class="backups">' not in empty
