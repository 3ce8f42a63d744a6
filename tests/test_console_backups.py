"""The daily backup report page: the audit's client x job x 7 days matrix, for staff only."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy.engine import Engine

from tests.browser.support import make_desk


def test_technicians_see_the_seven_day_matrix_and_clients_do_not(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    desk = make_desk(sqlite_engine, tmp_path)
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
