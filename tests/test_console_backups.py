"""The daily backup report page: the audit's client x job x days matrix, for staff only.
Each cell says what was received (result, time, link); a day before the job was known is
blank; today's failed result is in the matrix."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import select

from models.db import session_scope
from models.tables import AlertEventRow, BackupJob, BackupRun, RawMessage
from models.types import utcnow
from tests.browser.support import make_desk


def known_since(engine: Engine, at: datetime) -> None:
    with session_scope(engine) as s:
        for job in s.exec(select(BackupJob)).all():
            job.created_at = at
            s.add(job)


def cell(html: str, job_id: int, day: date) -> str:
    row = html.split(f'<tr data-job="{job_id}">', 1)[1].split("</tr>", 1)[0]
    found = re.search(rf'<td class="backup-[a-z_]+" data-day="{day.isoformat()}"[^>]*>(.*?)</td>',
                      row, re.S)  # fmt: skip
    assert found, row
    return found.group(0)


def test_technicians_see_the_seven_day_matrix_and_clients_do_not(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    desk = make_desk(sqlite_engine, tmp_path)
    known_since(sqlite_engine, datetime(2026, 11, 1, tzinfo=UTC))  # known long before
    http, _ = desk.signed_in("technician")
    # Tuesday 24 Nov 2026 is the last column: Wednesday 18 to Tuesday 24
    page = http.get("/backups", params={"day": "2026-11-24"})
    assert page.status_code == 200, page.text[:500]
    html = page.text
    assert "Rapport quotidien des sauvegardes" in html
    assert "Backup SQL" in html  # client A's Arcserve job, expected Monday to Friday
    assert "2026-11-18" in html and "2026-11-24" in html
    # nothing was received: weekdays are "non reçue", the weekend is "non prévue"
    assert "non reçue" in html and "non prévue" in html
    assert 'class="backup-not_received"' in html
    client, _ = desk.signed_in("client")
    assert client.get("/backups").status_code == 403
    assert date(2026, 11, 24).weekday() == 1


def test_a_job_created_mid_week_is_blank_before_and_shows_what_came_after(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """Client A's "Backup SQL" (Mon-Fri 22:00) became known on Wednesday 18 Nov at 10:00:
    Monday and Tuesday are blank, Wednesday is owed; Thursday's failure is shown with its
    time and a link to its message, Friday's success likewise; the rest is not received."""
    desk = make_desk(sqlite_engine, tmp_path)
    engine = sqlite_engine
    with session_scope(engine) as s:
        job = s.exec(select(BackupJob).where(BackupJob.name == "Backup SQL")).one()
        job.created_at = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)  # Wednesday 10:00 Paris
        s.add(job)
        raw = RawMessage(sha256="1" * 64, data=b"Subject: backup\r\n\r\nx", mail_from="x@y")
        s.add(raw)
        s.flush()
        events = {}
        for at, result in ((datetime(2026, 11, 19, 21, 40, tzinfo=UTC), "failed"),
                           (datetime(2026, 11, 20, 21, 35, tzinfo=UTC), "success")):  # fmt: skip
            ev = AlertEventRow(raw_message_id=raw.id or 0, idx=len(events), family="backup",
                               status="problem", check="backup", backup_result=result,
                               received_at=at, client_id=job.client_id,
                               server_id=job.server_id)  # fmt: skip
            s.add(ev)
            s.flush()
            s.add(BackupRun(event_id=ev.id or 0, client_id=job.client_id,
                            server_id=job.server_id, job_name=job.name, product=job.product,
                            result=result, occurred_at=at, received_at=at))  # fmt: skip
            events[result] = ev.id
        job_id = job.id or 0
    http, _ = desk.signed_in("technician")
    html = http.get("/backups", params={"day": "2026-11-22"}).text  # Mon 16 .. Sun 22
    monday, tuesday = cell(html, job_id, date(2026, 11, 16)), cell(html, job_id, date(2026, 11, 17))
    for before in (monday, tuesday):
        assert 'data-status="before"' in before and "non reçue" not in before
    assert 'data-status="not_received"' in cell(html, job_id, date(2026, 11, 18))
    thursday = cell(html, job_id, date(2026, 11, 19))
    assert f'<a href="/events/{events["failed"]}">échec</a>' in thursday
    assert "19/11 22:40" in thursday  # Paris time of the result
    friday = cell(html, job_id, date(2026, 11, 20))
    assert "succès" in friday and "20/11 22:35" in friday
    assert 'data-status="none"' in cell(html, job_id, date(2026, 11, 21))  # Saturday
    # the API says the same, with the links' targets
    api = http.get("/api/backups/report", params={"day": "2026-11-22"}).json()
    row = next(r for r in api["rows"] if r["job_id"] == job_id)
    assert [c["status"] for c in row["cells"]] == [
        "before", "before", "not_received", "failed", "success", "none", "none"]  # fmt: skip
    assert row["cells"][3]["event_id"] == events["failed"]
    # English: the same matrix, in English
    english = http.get("/backups", params={"day": "2026-11-22", "lang": "en"}).text
    assert "failed" in cell(english, job_id, date(2026, 11, 19))
    assert "Thu 19/11" in english


def test_a_failed_result_received_today_is_in_the_matrix(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    desk = make_desk(sqlite_engine, tmp_path)
    now = utcnow()
    with session_scope(sqlite_engine) as s:
        job = s.exec(select(BackupJob).where(BackupJob.name == "Backup SQL")).one()
        job.schedule = "0 * * * *"  # hourly: today is always scheduled
        job.created_at = now - timedelta(days=30)
        raw = RawMessage(sha256="2" * 64, data=b"Subject: backup\r\n\r\nx", mail_from="x@y")
        s.add_all([job, raw])
        s.flush()
        ev = AlertEventRow(raw_message_id=raw.id or 0, family="backup", status="problem",
                           check="backup", backup_result="failed", received_at=now,
                           client_id=job.client_id, server_id=job.server_id)  # fmt: skip
        s.add(ev)
        s.flush()
        s.add(BackupRun(event_id=ev.id or 0, client_id=job.client_id, server_id=job.server_id,
                        job_name=job.name, product=job.product, result="failed",
                        received_at=now))  # fmt: skip
        job_id, event_id = job.id or 0, ev.id
    http, _ = desk.signed_in("technician")
    html = http.get("/backups").text  # no day: the last column is today
    assert f'href="/events/{event_id}"' in html.split(f'<tr data-job="{job_id}">', 1)[1]
