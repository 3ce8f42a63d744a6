"""The visits' pages without Temporal: every role reaches what it may, the pages render from
the projection and the ledger, the answer link refuses tampering with a clear page, the
iCalendar feed needs its signature, and the checklist saves one answer at a time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from icalendar import Calendar
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from console.feed_links import ics_url
from models.db import session_scope
from models.tables import User
from models.types import utcnow
from models.visits import ChecklistAnswer, Visit
from planning.links import link_secret, sign_answer
from tests.browser.support import Desk, make_desk


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(engine, tmp_path)


def consultant_id(desk: Desk) -> int:
    with Session(desk.engine) as s:
        return s.exec(select(User.id).where(User.username == "conseil")).one() or 0


def a_visit(desk: Desk, **changes: object) -> Visit:
    with Session(desk.engine) as s:
        visit = s.exec(select(Visit).where(Visit.client_id == desk.clients["client-a"])
                       .order_by(Visit.id)).first()
        assert visit is not None
        for k, v in changes.items():
            setattr(visit, k, v)
        s.add(visit)
        s.commit()
        s.refresh(visit)
        return visit


def test_the_planner_sees_entitlements_calendar_and_the_visits_to_propose(desk: Desk) -> None:
    http, _ = desk.signed_in("planner")
    page = http.get("/planning")
    assert page.status_code == 200
    # the demo's client A has three servers: 2 + (3 - 1) = 4 visits, explained
    assert "2 + (3 − 1) = 4" in page.text and "SRV-DC01" in page.text
    assert 'id="to-plan"' in page.text and "VIS-" in page.text
    assert http.get("/planning?month=2027-03").status_code == 200


def test_the_visit_page_renders_from_the_projection_when_temporal_is_away(desk: Desk) -> None:
    visit = a_visit(desk)
    http, _ = desk.signed_in("planner")
    page = http.get(f"/visits/{visit.id}")
    assert page.status_code == 200
    assert "workflow injoignable" in page.text
    assert "action-propose" in page.text  # the planner's form
    assert "Onduleurs" in page.text  # the checklist template's items


def test_a_consultant_saves_each_checklist_answer_as_typed(desk: Desk) -> None:
    visit = a_visit(desk, consultant_id=consultant_id(desk), state="in_progress")
    http, token = desk.signed_in("consultant")
    r = http.post(f"/api/visits/{visit.id}/checklist/ups", json={"answer": "ko"},
                  headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["answer"] == "ko"
    r = http.post(f"/api/visits/{visit.id}/checklist/ups", json={"notes": "batterie HS"},
                  headers={"X-CSRF-Token": token})
    assert r.status_code == 200
    with Session(desk.engine) as s:
        row = s.exec(select(ChecklistAnswer).where(ChecklistAnswer.visit_id == visit.id)).one()
    assert (row.answer, row.notes, row.updated_by) == ("ko", "batterie HS", "conseil")
    assert http.post(f"/api/visits/{visit.id}/checklist/ups", json={"answer": "maybe"},
                     headers={"X-CSRF-Token": token}).status_code == 422
    assert http.post(f"/api/visits/{visit.id}/checklist/ups", json={"answer": "ok"}
                     ).status_code == 403  # no CSRF token
    # another consultant's visit, or a planner: refused
    planner, ptoken = desk.signed_in("planner")
    assert planner.post(f"/api/visits/{visit.id}/checklist/ups", json={"answer": "ok"},
                        headers={"X-CSRF-Token": ptoken}).status_code == 403
    page = http.get(f"/visits/{visit.id}")
    assert "Ouvrir une Demande" in page.text  # a ko item offers its one-click case


def test_the_answer_link_page_refuses_a_tampered_link(desk: Desk) -> None:
    visit = a_visit(desk, state="awaiting_client", proposal=1,
                    proposed_dates=["2027-03-16", "2027-03-17"])
    secret = link_secret(desk.settings)
    token = sign_answer(secret, visit.id or 0, 1, "2027-03-16", utcnow() + dt.timedelta(days=3))
    http = desk.client()
    shown = http.get(f"/visits/answer/{token}")
    assert shown.status_code == 200 and "mardi 16 mars 2027" in shown.text
    assert 'id="answer-form"' in shown.text  # GET answers nothing: a button does
    bad = http.get(f"/visits/answer/{token[:-2]}xx")
    assert bad.status_code == 400 and "pas valide" in bad.text
    old = sign_answer(secret, visit.id or 0, 1, "2027-03-16", utcnow() - dt.timedelta(hours=1))
    late = http.post(f"/visits/answer/{old}")
    assert late.status_code == 410 and "expiré" in late.text


def test_the_consultant_calendar_feed_needs_its_signature(desk: Desk) -> None:
    cid = consultant_id(desk)
    a_visit(desk, consultant_id=cid, state="confirmed", date=dt.date(2027, 3, 16))
    url = ics_url(desk.app.state.services, cid)
    http = desk.client()
    r = http.get(url)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    events = [c for c in Calendar.from_ical(r.content).walk("VEVENT")]
    assert any(e.decoded("dtstart") == dt.date(2027, 3, 16) for e in events)
    assert http.get(url.replace(f"/{cid}/", f"/{cid + 1}/")).status_code == 404


def test_the_manager_reads_the_entitlement_dashboard(desk: Desk) -> None:
    http, _ = desk.signed_in("manager")
    page = http.get("/entitlements")
    assert page.status_code == 200 and 'id="entitlement-dashboard"' in page.text
    assert "Garage Petit" in page.text and "2 + (1 − 1) = 2" in page.text


def test_the_portal_shows_no_other_company_s_visits(desk: Desk) -> None:
    with session_scope(desk.engine) as s:
        theirs = s.exec(select(Visit).where(Visit.client_id == desk.clients["client-b"])).first()
        assert theirs is not None
        theirs_id = theirs.id
    http, _ = desk.signed_in("client")
    page = http.get("/portal/documents")
    assert page.status_code == 200 and f'data-visit="{theirs_id}"' not in page.text
    assert http.get(f"/visits/{theirs_id}/report").status_code in (403, 404)
    assert http.get(f"/visits/{theirs_id}").status_code == 403


def test_quick_actions_from_the_planning_page_come_back_to_it(desk: Desk) -> None:
    visit = a_visit(desk)
    http, token = desk.signed_in("planner")
    page = http.get("/planning")
    assert f'action="/visits/{visit.id}/act/assign"' in page.text
    r = http.post(f"/visits/{visit.id}/act/cancel",
                  data={"reason": "client parti", "next": "/planning", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/planning"
    # Temporal is away here: the refusal says so on the page it comes back to
    assert "Temporal" in http.get("/planning").text
    r = http.post(f"/visits/{visit.id}/act/cancel",
                  data={"reason": "x", "next": "//evil.example/", "csrf_token": token})
    assert r.headers["location"] == f"/visits/{visit.id}"
    # the manager reads the page but gets no action forms
    manager, _ = desk.signed_in("manager")
    assert f'/visits/{visit.id}/act/assign' not in manager.get("/planning").text


def test_a_leave_day_and_its_note_show_on_the_consultant_s_month(desk: Desk) -> None:
    http, token = desk.signed_in("planner")
    r = http.post("/planning/leave", data={"user_id": str(consultant_id(desk)),
                                           "start": "2027-03-08", "end": "2027-03-10",
                                           "note": "formation Veeam", "csrf_token": token})
    assert r.status_code == 303
    page = http.get("/planning?month=2027-03").text
    assert page.count("formation Veeam") >= 3 and 'data-day="2027-03-09"' in page


def test_the_technical_document_is_versioned_with_its_diagram(desk: Desk) -> None:
    cid = desk.clients["client-a"]
    http, token = desk.signed_in("consultant")
    r = http.post(f"/clients/{cid}/techdoc",
                  data={"network": "LAN 192.168.10.0/24, passerelle .254", "csrf_token": token},
                  files={"diagram": ("schéma réseau\".png", b"\x89PNG fake", "image/png")})
    assert r.status_code == 303
    page = http.get(f"/clients/{cid}/techdoc").text
    assert "Version 1" in page and "SRV-DC01" in page  # servers from the inventory
    assert "192.168.10.0/24" in page
    got = http.get(f"/clients/{cid}/techdoc/diagram")
    assert got.content == b"\x89PNG fake"
    assert '"' not in got.headers["content-disposition"].split("filename=")[1].strip('"')
    # saving the same text again writes no new version; a change does
    http.post(f"/clients/{cid}/techdoc", data={"network": "LAN 192.168.10.0/24, passerelle "
                                               ".254", "csrf_token": token})
    same = http.get(f"/clients/{cid}/techdoc").text
    assert "Version 1" in same and "Version 2" not in same
    http.post(f"/clients/{cid}/techdoc", data={"network": "LAN 192.168.20.0/24",
                                               "csrf_token": token})
    assert "Version 2" in http.get(f"/clients/{cid}/techdoc").text
    # the client reads its own in the portal, not another company's diagram
    client, _ = desk.signed_in("client")
    assert "192.168.20.0/24" in client.get("/portal/documents").text
    assert client.get(f"/clients/{cid}/techdoc/diagram").status_code == 200
    other = desk.clients["client-b"]
    assert client.get(f"/clients/{other}/techdoc/diagram").status_code == 404
    assert client.get(f"/clients/{cid}/techdoc").status_code == 403


def test_a_report_with_no_recipient_is_not_marked_sent(desk: Desk) -> None:
    visit = a_visit(desk, state="report_written")
    http, token = desk.signed_in("admin")
    r = http.post(f"/visits/{visit.id}/act/send_report", data={"csrf_token": token})
    assert r.status_code == 303
    assert "pas de destinataire" in http.get(f"/visits/{visit.id}").text
    with Session(desk.engine) as s:
        assert s.get(Visit, visit.id).state == "report_written"  # type: ignore[union-attr]


def test_the_planner_s_inbox_lists_what_waits_with_its_action(desk: Desk) -> None:
    from models.tables import Communication
    from models.visits import VisitEvent

    with session_scope(desk.engine) as s:
        rows = s.exec(select(Visit).order_by(Visit.id)).all()
        none_suits, undelivered, waiting = rows[0], rows[1], rows[2]
        none_suits.state, none_suits.proposal = "planned", 1
        none_suits.proposed_dates = ["2027-03-16", "2027-03-17"]
        s.add(VisitEvent(visit_id=none_suits.id or 0, seq=1, at=utcnow(),
                         action="client_answer", actor="client", from_state="awaiting_client",
                         to_state="planned", data={"proposal": "1", "date": "aucune"}))
        undelivered.state = "report_sent"
        s.add(Communication(key=f"VIS-{undelivered.id:05d}:visit_report:1",
                            step="visit_report", status="no_recipient", recipient=""))
        waiting.state, waiting.proposal = "awaiting_client", 2
        waiting.proposed_dates = ["2027-03-18", "2027-03-19"]
        waiting.answer_deadline = utcnow() + dt.timedelta(days=3)
        s.add(Communication(key=f"VIS-{waiting.id:05d}:visit_reminder:2.1",
                            step="visit_reminder", status="sent", recipient="x@y.example"))
        unsent = rows[3]
        unsent.state, unsent.proposal = "proposed", 1
        unsent.proposed_dates = ["2027-03-22", "2027-03-23"]
        s.add(Communication(key=f"VIS-{unsent.id:05d}:visit_proposal:1",
                            step="visit_proposal", status="no_recipient", recipient=""))
        s.add_all([none_suits, undelivered, waiting, unsent])
        ids = (none_suits.id, undelivered.id, waiting.id, unsent.id)
    http, _ = desk.signed_in("planner")
    found = {(r["kind"], r["visit_id"]): r for r in
             http.get("/api/planning/inbox").json()["rows"]}
    assert found[("none_suits", ids[0])]["url"] == f"/visits/{ids[0]}#propose"
    assert ("report_undelivered", ids[1]) in found
    assert found[("proposal_undelivered", ids[3])]["url"] == f"/visits/{ids[3]}#confirm"
    row = found[("awaiting", ids[2])]
    assert row["reminders"] == 1 and row["deadline"] and row["dates"] == ["2027-03-18",
                                                                          "2027-03-19"]
    page = http.get("/planning/inbox").text
    assert f'data-kind="none_suits" data-visit="{ids[0]}"' in page
    to_act = sum(1 for kind, _ in found if kind != "awaiting")  # what waits on a planner
    assert f'id="inbox-count">{to_act}<' in http.get("/planning").text
    assert "18/03/2027, 19/03/2027" in page
