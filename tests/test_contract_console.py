"""The contract pages in the console (no Temporal needed for these): the checklist recorded
by an administrator, a waiver by a manager, the client's own contract in the portal, and the
log of who viewed which client's data, readable by managers only."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from contracts import store
from models.contracts import DataAccess, Prerequisite
from tests.browser.support import Desk, add_case, make_desk


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(engine, tmp_path)


def test_admin_records_evidence_a_manager_waives_and_the_client_sees_its_checklist(
    desk: Desk,
) -> None:
    a, b = desk.clients["client-a"], desk.clients["client-b"]
    contract = store.create_contract(desk.engine, a, dt.date(2026, 12, 1), by="admin")
    other = store.create_contract(desk.engine, b, dt.date(2026, 12, 1), by="admin")
    admin, token = desk.signed_in("admin")
    admin.post(f"/contracts/{contract.id}/prerequisites/fixed_ip",
               data={"status": "met", "value": "203.0.113.9", "evidence": "contrat FAI n°42",
                     "csrf_token": token})
    page = admin.get(f"/contracts/{contract.id}").text
    assert "contrat FAI n°42" in page and "203.0.113.9" in page
    manager, mtoken = desk.signed_in("manager")
    manager.post(f"/contracts/{contract.id}/prerequisites/server_room_phone/waive",
                 data={"reason": "GSM de secours", "csrf_token": mtoken})
    tech, ttoken = desk.signed_in("technician")
    denied = tech.post(f"/contracts/{contract.id}/prerequisites/remote_assistance/waive",
                       data={"reason": "non", "csrf_token": ttoken})
    assert denied.status_code == 403
    with Session(desk.engine) as s:
        items = {p.code: p for p in s.exec(select(Prerequisite).where(
            Prerequisite.contract_id == contract.id))}
    assert items["fixed_ip"].status == "met" and items["fixed_ip"].checked_by == "admin"
    assert items["server_room_phone"].status == "waived"
    assert items["server_room_phone"].waived_by == "manager"
    assert items["remote_assistance"].status == "open"
    listing = manager.get("/contracts?lang=en").text
    assert "What blocks it" in listing and "Open prerequisite" in listing

    client, _ = desk.signed_in("client")
    mine = client.get("/portal/contract")
    assert mine.status_code == 200 and "dérogé" in mine.text and 'id="contract-status"' in mine.text
    assert "GSM de secours" not in mine.text  # the desk's reasons stay on the desk's side
    api = client.get("/api/contracts").json()
    assert [c["id"] for c in api] == [contract.id]
    # the API gives the client what its portal page shows, no more
    assert set(api[0]) == {"id", "status", "prerequisites"}
    assert all(set(p) == {"code", "label", "status"} for p in api[0]["prerequisites"])
    assert client.get(f"/api/contracts/{other.id}").status_code == 404
    assert client.get(f"/contracts/{contract.id}").status_code == 403


def test_who_viewed_which_clients_data_is_logged_and_readable_by_managers(desk: Desk) -> None:
    a = desk.clients["client-a"]
    case_id = add_case(desk.engine, a)
    tech, _ = desk.signed_in("technician")
    assert tech.get(f"/cases/{case_id}").status_code == 200
    assert tech.get("/privacy/access").status_code == 403
    with Session(desk.engine) as s:
        rows = s.exec(select(DataAccess)).all()
    # signing in lands on the queue, which shows the client's case (issue 20: logged too)
    assert [(r.username, r.client_id, r.subject, r.subject_id) for r in rows] == [
        ("tech", a, "queue", None), ("tech", a, "case", case_id)]
    manager, _ = desk.signed_in("manager")
    log = manager.get(f"/privacy/access?client={a}").text
    assert "tech" in log and f"n°{case_id}" in log
    contract = store.create_contract(desk.engine, a, dt.date(2026, 12, 1), by="admin")
    blob = manager.get(f"/contracts/{contract.id}/export.zip")
    assert blob.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(blob.content)).namelist()
    assert {"contacts.csv", "messages.json", "communications.json", "access_log.csv"} <= set(
        names)


def test_the_planner_tracks_sensor_deployment_per_monitored_element(desk: Desk) -> None:
    a = desk.clients["client-a"]
    contract = store.create_contract(desk.engine, a, dt.date(2026, 12, 1), by="admin",
                                     options=["antivirus"])
    planned = store.plan_sensors(desk.engine, contract.id or 0)
    assert store.plan_sensors(desk.engine, contract.id or 0) == 0  # once per element
    with Session(desk.engine) as s:
        lines = store.sensors(s, contract.id or 0)
        servers = {d.server_id for d in lines}
    assert planned == len(lines) == 4 * len(servers)  # agent, hardware, backup, antivirus
    planner, token = desk.signed_in("planner")
    done = planner.post(f"/contracts/{contract.id}/sensors/{lines[0].id}",
                        data={"status": "installed", "note": "HP Event Notifier 7.2",
                              "csrf_token": token})
    assert done.status_code == 303
    page = planner.get(f"/contracts/{contract.id}").text
    assert "Sondes à déployer" in page and str(len(lines) - 1) in page
    with Session(desk.engine) as s:
        first = store.sensors(s, contract.id or 0)[0]
        events = [e.action for e in store.timeline(s, contract.id or 0)]
    assert (first.status, first.by) == ("installed", "planner") and "sensor_installed" in events
    client, ctoken = desk.signed_in("client")
    refused = client.post(f"/contracts/{contract.id}/sensors/{lines[1].id}",
                          data={"status": "installed", "csrf_token": ctoken})
    assert refused.status_code == 403


def test_reading_messages_visits_and_the_technical_document_is_logged_too(desk: Desk) -> None:
    """Besides case pages: the communications API (who was mailed, called or texted, and
    what they were told), a visit page, a visit report and the technical document (its
    contacts section). One line per client whose people were read; a client user reading
    its own report is not logged."""
    from models.tables import Communication
    from planning.visits import create_visit

    a, b = desk.clients["client-a"], desk.clients["client-b"]
    case_a, case_b = add_case(desk.engine, a), add_case(desk.engine, b)
    with store.session_scope(desk.engine) as s:
        mails = [Communication(key=f"k{n}", case_id=cid, recipient=f"p{n}@example.com",
                               subject="Consignes", body="Redémarrez le serveur", step="x")
                 for n, cid in enumerate((case_a, case_b, case_a))]
        s.add_all(mails)
        visit = create_visit(s, a, "preventive", dt.date(2027, 1, 4), dt.date(2027, 3, 31))
        s.flush()
        mail_id, visit_id = mails[1].id, visit.id
    tech, _ = desk.signed_in("technician")
    assert tech.get("/api/comms").status_code == 200
    assert tech.get(f"/api/comms/{mail_id}").status_code == 200
    planner, _ = desk.signed_in("planner")
    assert planner.get(f"/visits/{visit_id}").status_code == 200
    assert planner.get(f"/clients/{a}/techdoc").status_code == 200
    with Session(desk.engine) as s:
        rows = s.exec(select(DataAccess).order_by(DataAccess.id)).all()  # type: ignore[arg-type]
    assert sorted((r.username, r.client_id, r.subject, r.subject_id) for r in rows) == sorted([
        ("tech", a, "queue", None), ("tech", b, "queue", None),  # signed in on the queue
        ("tech", a, "communications", None), ("tech", b, "communications", None),
        ("tech", b, "communication", mail_id),
        ("planner", a, "visit", visit_id), ("planner", a, "techdoc", None)])
    manager, _ = desk.signed_in("manager")
    log = manager.get("/privacy/access?lang=en").text
    assert "communications list" in log and "technical document" in log
    assert "cases" not in log  # "cas" is "case" here
    assert "liste des communications" in manager.get("/privacy/access?lang=fr").text


def test_the_queue_the_portal_the_sla_pages_and_visit_mails_are_logged_too(desk: Desk) -> None:
    """Issue 20: every page that shows a client's people or their words leaves a line: the
    queue (case titles), the portal (read by the client's own users), the SLA pages of one
    client, and /api/comms for a visit's mails (no case behind them)."""
    from models.tables import Communication
    from planning.visits import create_visit

    a = desk.clients["client-a"]
    add_case(desk.engine, a)
    with store.session_scope(desk.engine) as s:
        visit = create_visit(s, a, "preventive", dt.date(2027, 1, 4), dt.date(2027, 3, 31))
        s.add(Communication(key="vk", case_id=None, workflow_id=visit.workflow_id,
                            recipient="paul@client-a.example", subject="Dates", body="x"))
    tech, _ = desk.signed_in("technician")
    assert tech.get("/api/comms").status_code == 200
    client, _ = desk.signed_in("client")
    assert client.get("/portal").status_code == 200
    manager, _ = desk.signed_in("manager")
    assert manager.get(f"/sla?client={a}").status_code == 200
    with Session(desk.engine) as s:
        rows = {(r.username, r.role, r.client_id, r.subject)
                for r in s.exec(select(DataAccess)).all()}
    assert {("tech", "technician", a, "queue"), ("tech", "technician", a, "communications"),
            ("client-a", "client", a, "portal"), ("manager", "manager", a, "sla")} <= rows
    log = manager.get("/privacy/access?lang=en").text
    assert "client portal" in log and "SLA figures" in log
