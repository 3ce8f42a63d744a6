"""Size caps on what people type (issue 21, finding 8: a 2 MB checklist note was stored).

Each cap is a setting (``VIGIE_NOTE_MAX_CHARS``, ``VIGIE_CHECKLIST_NOTE_MAX_CHARS``,
``VIGIE_REPORT_MAX_CHARS``); a text over it is refused whole with a 413 that says the length
and the cap, and nothing is stored (never cut short behind the writer's back)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from console.auth import create_api_token
from models.visits import ChecklistAnswer
from tests.browser.support import Desk, add_case, make_desk
from tests.test_visit_console import a_visit, consultant_id

TWO_MB = "x" * (2 * 1024 * 1024)


@pytest.fixture
def desk(sqlite_engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(sqlite_engine, tmp_path, checklist_note_max_chars=500,
                     report_max_chars=1000, note_max_chars=800)


def answers(desk: Desk, visit_id: int) -> list[ChecklistAnswer]:
    with Session(desk.engine) as s:
        return list(s.exec(select(ChecklistAnswer)
                           .where(ChecklistAnswer.visit_id == visit_id)).all())


def test_a_2_mb_checklist_note_is_refused_with_a_413_and_nothing_stored(desk: Desk) -> None:
    visit = a_visit(desk, consultant_id=consultant_id(desk), state="in_progress")
    http, token = desk.signed_in("consultant")
    csrf = {"X-CSRF-Token": token}
    for notes in (TWO_MB, "y" * 501):
        r = http.post(f"/api/visits/{visit.id}/checklist/ups", json={"answer": "ko",
                                                                     "notes": notes},
                      headers=csrf)
        assert r.status_code == 413, r.text[:200]
        assert f"{len(notes)} caractères, 500 au plus" in r.json()["detail"]
    assert answers(desk, visit.id or 0) == []
    # the whole-form save (no script) too
    r = http.post(f"/visits/{visit.id}/checklist",
                  data={"answer-ups": "ko", "notes-ups": "z" * 501, "csrf_token": token})
    assert r.status_code == 413 and answers(desk, visit.id or 0) == []
    ok = http.post(f"/api/visits/{visit.id}/checklist/ups", json={"notes": "n" * 500},
                   headers=csrf)
    assert ok.status_code == 200 and ok.json()["notes"] == "n" * 500  # the cap itself fits


def test_a_report_over_the_cap_is_refused_with_a_413(desk: Desk) -> None:
    visit = a_visit(desk, consultant_id=consultant_id(desk), state="in_progress")
    http, token = desk.signed_in("consultant")
    r = http.post(f"/visits/{visit.id}/act/write_report",
                  data={"advice": "a" * 1001, "questions": "", "csrf_token": token})
    assert r.status_code == 413 and "1001 caractères, 1000 au plus" in r.text


def test_a_case_note_over_the_cap_is_refused_by_the_api_and_the_form(desk: Desk) -> None:
    case_id = add_case(desk.engine, desk.clients["client-a"])
    auth = {"Authorization": f"Bearer {create_api_token(desk.engine, 'tech')}"}
    http = desk.client()
    for action in ("add_note", "record_contact"):
        r = http.post(f"/api/cases/{case_id}/actions/{action}", json={"text": TWO_MB},
                      headers=auth)
        assert r.status_code == 413, (action, r.text[:200])
    r = http.post(f"/api/cases/{case_id}/instructions",
                  json={"channel": "email", "text": "i" * 801}, headers=auth)
    assert r.status_code == 413
    browser, token = desk.signed_in("technician")
    r = browser.post(f"/cases/{case_id}/act/add_note",
                     data={"text": "t" * 801, "csrf_token": token})
    assert r.status_code == 413
    # at the cap it goes through the checks (503: no Temporal in this test)
    assert http.post(f"/api/cases/{case_id}/actions/add_note", json={"text": "t" * 800},
                     headers=auth).status_code == 503
