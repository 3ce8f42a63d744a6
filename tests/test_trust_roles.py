"""Issue 11, finding 1: every read is scoped by role in one place, and the API shows a client
no more than its portal page.

The walk goes over **every** route the application registers (``app.routes``, nested routers
included), as each role and anonymously, over real HTTP (uvicorn on loopback). It fails on a
route with no declared policy in ``console/access.py``, on a role let in where the policy says
no, and on any answer to the client user that carries staff-only data.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from console.access import (
    MACHINE,
    PUBLIC,
    ROUTE_POLICY,
    SIGNED_IN,
    SIGNED_LINK,
    check_policies,
    policy_for,
    registered_routes,
)
from console.app import create_app
from console.auth import PERMISSIONS, ROLES, create_api_token
from console.client_view import DETAIL_FIELDS, SUMMARY_FIELDS
from models.db import session_scope
from models.tables import AlertEventRow, Communication, RawMessage, User
from tests.browser.support import ROLE_USERS, Desk, add_case, csrf_of, make_desk, sign_in

# What only the desk may read; planted in client-a's own case below.
NOTE = "NOTE INTERNE: client négligent, ne pas lui dire"
ASSIGNEE = "technicien-caché"
L2_SUBJECT = "Transfert N2 interne : voir le journal"
EVENT_TEXT = "texte-brut-de-alerte-interne"
WAIVER = "dérogation-interne-du-desk"
EVIDENCE = "preuve-interne-du-desk"
STAFF_ONLY = (NOTE, ASSIGNEE, L2_SUBJECT, EVENT_TEXT, "next_steps", "ledger", '"actor"',
              "assignee", WAIVER, EVIDENCE, '"waiver_reason"', '"evidence"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """The console under uvicorn on a free loopback port: real HTTP."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "console did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def planted(sqlite_engine: Engine, tmp_path: Path) -> Iterator[tuple[Desk, int, str]]:
    """A desk whose client-a case holds every kind of staff-only data, served over HTTP."""
    desk = make_desk(sqlite_engine, tmp_path)
    case_id = add_case(
        desk.engine, desk.clients["client-a"], title="SRV-DC01 — disque plein",
        assignee=ASSIGNEE, criticality="minor",  # triaged: the portal shows it
        ledger=[(5, "add_note", {"text": NOTE}), (6, "assign", {"assignee": ASSIGNEE}),
                (7, "classify", {"criticality": "minor"})],
    )
    with session_scope(desk.engine) as s:
        s.add(Communication(key=f"VIG-{case_id:06d}:l2_handover:1", case_id=case_id,
                            channel="email", recipient="n2@desk.example", subject=L2_SUBJECT,
                            step="l2_handover", status="sent"))
        s.add(Communication(key=f"VIG-{case_id:06d}:instructions:1", case_id=case_id,
                            channel="email", recipient="elodie@client-a.example",
                            subject="Consignes pour votre serveur", step="instructions",
                            status="sent"))
        raw = RawMessage(sha256="b" * 64, data=f"Subject: x\r\n\r\n{EVENT_TEXT}\r\n".encode())
        s.add(raw)
        s.flush()
        s.add(AlertEventRow(raw_message_id=raw.id or 0, family="disk_space", status="problem",
                            check="disk_free", summary=EVENT_TEXT, case_id=case_id,
                            client_id=desk.clients["client-a"]))
    plant_visit_and_contract(desk)
    with Served(desk.app) as base:
        yield desk, case_id, base


def plant_visit_and_contract(desk: Desk) -> None:
    """Client-a's visit (assigned to the consultant, in progress, with its report) and its
    contract (a prerequisite met with its evidence, one waived with the desk's reason, the
    sensors to deploy): real rows for the visit and contract routes."""
    import datetime as dt

    from contracts import store
    from models.visits import VisitReport
    from planning.visits import create_visit

    a = desk.clients["client-a"]
    with session_scope(desk.engine) as s:
        s.add(User(username="walk-target", full_name="Walk Target", password_hash="x",
                   role="technician"))
        visit_in_progress(s, a, dt.date(2027, 3, 16), "<p>Fiche</p>")
        consultant = s.exec(select(User.id).where(User.username == "conseil")).one()
        for code in ("client-a", "client-b"):  # a report sent to each client
            sent = create_visit(s, desk.clients[code], "preventive", dt.date(2026, 9, 1),
                                dt.date(2026, 10, 30))
            sent.state, sent.consultant_id = "report_sent", consultant
            s.add(sent)
            s.flush()
            s.add(VisitReport(visit_id=sent.id or 0, html=f"<p>Fiche {code}</p>",
                              pdf=b"%PDF-1.4"))
    contract = store.create_contract(desk.engine, a, dt.date(2026, 12, 1), by="admin")
    store.record_prerequisite(desk.engine, contract.id or 0, "fixed_ip", status="met",
                              evidence=EVIDENCE, value="203.0.113.9", by="admin")
    store.waive_prerequisite(desk.engine, contract.id or 0, "server_room_phone",
                             reason=WAIVER, by="manager", role="manager")
    store.plan_sensors(desk.engine, contract.id or 0)


def visit_in_progress(s: Session, client_id: int, day: Any, html: str) -> Any:
    """A 2027 preventive visit of ``client_id``, the consultant on site on ``day``, with
    its report written."""
    import datetime as dt

    from models.visits import VisitReport
    from planning.visits import create_visit

    consultant = s.exec(select(User.id).where(User.username == "conseil")).one()
    visit = create_visit(s, client_id, "preventive", dt.date(2027, 3, 1), dt.date(2027, 4, 30))
    visit.consultant_id, visit.state, visit.date = consultant, "in_progress", day
    s.add(visit)
    s.flush()
    s.add(VisitReport(visit_id=visit.id or 0, html=html, pdf=b"%PDF-1.4"))
    return visit


def params_for(path: str, desk: Desk, case_id: int) -> str:
    """A concrete URL for a route: ids of real rows where the route reads one."""
    from contracts import store
    from models.contracts import Contract
    from models.visits import Visit

    with Session(desk.engine) as s:
        # POST /admin/users/{user_id} with an empty form may change the user: not a walker
        user_id = s.exec(select(User.id).where(User.username == "walk-target")).one()
        event_id = s.exec(select(AlertEventRow.id)).first() or 1
        visit_id = s.exec(select(Visit.id).where(Visit.contract_year == 2027,
                                                 Visit.state == "in_progress")).one()
        contract_id = s.exec(select(Contract.id).where(
            Contract.client_id == desk.clients["client-a"])).one()
        deployment_id = store.sensors(s, contract_id or 0)[0].id
    values = {"case_id": case_id, "client_id": desk.clients["client-a"], "event_id": event_id,
              "user_id": user_id, "action": "add_note", "kind": "aliases", "key": "x",
              "change": "confirm", "visit_id": visit_id, "contract_id": contract_id,
              "deployment_id": deployment_id, "code": "fixed_ip",
              # no walker's own token (id 1 is the technician's: revoking it broke the
              # technician for every route registered after /admin/tokens)
              "token_id": 10**6,
              # the signed links get a bogus signature: refused whoever asks
              "sig": "bogus-signature", "token": "bogus-token"}
    if path.startswith("/visits/{visit_id:int}/checklist/") or \
            path.startswith("/api/visits/{visit_id:int}/checklist/"):
        values["key"] = "ups"  # an item of the checklist template

    def fill(m: re.Match[str]) -> str:
        return str(values.get(m.group(1), 1))

    return re.sub(r"\{(\w+)(?::\w+)?\}", fill, path)


def test_every_registered_route_declares_a_policy(planted: tuple[Desk, int, str]) -> None:
    desk, _, _ = planted
    routes = registered_routes(desk.app.routes)
    assert len(routes) >= 80  # the walk really sees the nested routers
    missing = [r for r in routes if policy_for(*r) is None]
    assert missing == []
    # and a route added without a policy stops the console from starting
    stray = APIRouter()

    @stray.get("/api/forgotten")
    def forgotten() -> dict[str, str]:
        return {"secret": "x"}

    app = FastAPI()
    app.include_router(stray)
    with pytest.raises(RuntimeError, match="/api/forgotten"):
        check_policies(app.routes)
    with pytest.raises(RuntimeError, match="/api/forgotten"):
        create_app(desk.settings, desk.engine, extra_routers=[stray])


def _allowed(policy: str, role: str | None) -> bool:
    if policy == PUBLIC:
        return True
    if role is None or policy in MACHINE:
        return False
    return policy == SIGNED_IN or role in PERMISSIONS[policy]


def test_the_route_walk_as_every_role(planted: tuple[Desk, int, str]) -> None:
    """Each route, each role: refused exactly where its policy says, and the client user's
    answers never carry staff-only data."""
    desk, case_id, base = planted
    tokens = {role: create_api_token(desk.engine, ROLE_USERS[role], f"walk-{role}")
              for role in ROLES}
    walked = 0
    problems: list[str] = []
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as http:
        for method, path in registered_routes(desk.app.routes):
            policy = policy_for(method, path)
            assert policy is not None, (method, path)
            url = params_for(path, desk, case_id)
            if path == "/static":
                url = "/static/console.js"
            for role in (None, *ROLES):
                headers = {"Accept": "application/json"}
                if role is not None:
                    headers["Authorization"] = f"Bearer {tokens[role]}"
                r = http.request(method, url, headers=headers,
                                 json={} if method == "POST" else None)
                walked += 1
                refused = r.status_code in (401, 403) or (
                    r.status_code in (302, 303, 307)
                    and r.headers.get("location", "").startswith("/login?next="))
                if _allowed(policy, role) and refused and policy != PUBLIC:
                    problems.append(f"{role} refused on {method} {path}: {r.status_code}")
                if not _allowed(policy, role) and not refused and policy not in MACHINE:
                    problems.append(f"{role} let in on {method} {path}: {r.status_code}")
                if policy in MACHINE and r.status_code < 400:
                    problems.append(f"{role} got past a machine check on {method} {path}")
                if role == "client":
                    leaked = [m for m in STAFF_ONLY if m in r.text]
                    if leaked:
                        problems.append(f"client read {leaked} on {method} {path}")
    problems += signed_links_open_without_a_session(desk, base)
    problems += client_reads_only_its_own_reports(desk, base, tokens["client"])
    assert problems == [], "\n".join(problems)
    assert walked >= 80 * (len(ROLES) + 1)


def client_reads_only_its_own_reports(desk: Desk, base: str, token: str) -> list[str]:
    """A client reads the reports sent to its company (page and PDF), no other's."""
    from models.visits import Visit

    with Session(desk.engine) as s:
        sent = {v.client_id: v.id for v in s.exec(select(Visit).where(
            Visit.state == "report_sent", Visit.contract_year == 2026,
            Visit.consultant_id.is_not(None)))}  # type: ignore[union-attr]
    mine, other = sent[desk.clients["client-a"]], sent[desk.clients["client-b"]]
    problems = []
    with httpx.Client(base_url=base, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as http:
        for suffix in ("report", "report.pdf"):
            own = http.get(f"/visits/{mine}/{suffix}")
            if own.status_code != 200:
                problems.append(f"client refused its own {suffix}: {own.status_code}")
            if [m for m in STAFF_ONLY if m in own.text]:
                problems.append(f"client read staff-only data in its {suffix}")
            if http.get(f"/visits/{other}/{suffix}").status_code != 404:
                problems.append(f"client read another client's {suffix}")
    return problems


def signed_links_open_without_a_session(desk: Desk, base: str) -> list[str]:
    """The ``signed_link`` routes are their own authentication: a real signature opens them
    to anyone (a calendar program, a client's mail), a changed one is refused above."""
    import datetime as dt

    from console.feed_links import ics_url
    from models.types import utcnow
    from models.visits import Visit
    from planning.links import link_secret, sign_answer

    with Session(desk.engine) as s:
        consultant = s.exec(select(User.id).where(User.username == "conseil")).one() or 0
        visit_id = s.exec(select(Visit.id).where(Visit.contract_year == 2027)).one() or 0
    token = sign_answer(link_secret(desk.settings), visit_id, 1, "2027-03-16",
                        utcnow() + dt.timedelta(days=3))
    problems = []
    with httpx.Client(base_url=base, timeout=30) as http:
        for url in (ics_url(desk.app.state.services, consultant), f"/visits/answer/{token}"):
            r = http.get(url)
            if r.status_code != 200:
                problems.append(f"signed link {url} refused: {r.status_code}")
            if policy_for("GET", re.sub(r"/\d+/[^/]+\.ics$", "/{user_id:int}/{sig}.ics",
                          url).replace(token, "{token}")) != SIGNED_LINK:
                problems.append(f"{url} is not declared signed_link")
    return problems


def test_a_client_reads_through_the_api_exactly_its_portal_page(
    planted: tuple[Desk, int, str],
) -> None:
    """Finding 1: ``GET /api/cases/{id}`` of its own case gave a client the whole ledger."""
    desk, case_id, base = planted
    client = {"Authorization": f"Bearer {create_api_token(desk.engine, 'client-a', 'c')}"}
    tech = {"Authorization": f"Bearer {create_api_token(desk.engine, 'tech', 't')}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        staff_view = http.get(f"/api/cases/{case_id}", headers=tech)
        assert staff_view.status_code == 200
        assert NOTE in staff_view.text and ASSIGNEE in staff_view.text  # the data is there
        mine = http.get(f"/api/cases/{case_id}", headers=client)
        assert mine.status_code == 200
        body: dict[str, Any] = mine.json()
        assert set(body) == set(DETAIL_FIELDS)
        assert [h["action"] for h in body["history"]] == ["open", "classify"]
        assert [m["subject"] for m in body["messages"]] == ["Consignes pour votre serveur"]
        for marker in STAFF_ONLY:
            assert marker not in mine.text
        # filtering on a staff-only field tells nothing either
        assert http.get(f"/api/cases?assignee={ASSIGNEE}", headers=client).json() == http.get(
            "/api/cases?assignee=personne", headers=client).json()
        listed = http.get("/api/cases?all=true", headers=client).json()
        assert [set(c) for c in listed] == [set(SUMMARY_FIELDS)]
        assert ASSIGNEE not in str(listed)
        # the portal page shows the same lines, from the same serializer
        portal = http.get(f"/portal/cases/{case_id}", headers=client).text
        assert "Consignes pour votre serveur" in portal and L2_SUBJECT not in portal
        assert NOTE not in portal
        # the desk's map of routes is for staff only
        assert http.get("/api/openapi.json", headers=client).status_code == 403
        assert http.get("/api/openapi.json", headers=tech).status_code == 200
        assert http.get("/api/openapi.json").status_code == 401


def test_the_registry_names_only_known_policies() -> None:
    for (method, path), policy in ROUTE_POLICY.items():
        assert method in ("GET", "POST", "OPTIONS"), path  # OPTIONS: the codec preflight
        assert policy in {PUBLIC, SIGNED_IN, *MACHINE, *PERMISSIONS}, (path, policy)
    # the client role reaches only its portal and the scoped reads (its cases, its contract,
    # its visits' reports and its technical document's diagram)
    client_routes = {k for k, p in ROUTE_POLICY.items()
                     if _allowed(p, "client") and k != ("OPTIONS", "/codec/decode")}
    assert {p for _, p in client_routes} - {"/", "/login", "/logout", "/api/healthz",
                                            "/static", "/visits/report.css"} == {
        "/api/cases", "/api/cases/{case_id}", "/portal", "/portal/cases/{case_id}",
        "/portal/documents", "/portal/contract", "/api/contracts",
        "/api/contracts/{contract_id}", "/visits/{visit_id:int}/report",
        "/visits/{visit_id:int}/report.pdf", "/clients/{client_id:int}/techdoc/diagram"}
    # the links in mails and calendar feeds are signed, and only they
    assert {p for (_, p), pol in ROUTE_POLICY.items() if pol == SIGNED_LINK} == {
        "/calendar/{user_id:int}/{sig}.ics", "/visits/answer/{token}"}


def test_the_registry_itself_is_the_gate(
    planted: tuple[Desk, int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry is enforced before any route code: tightening a route's policy there is
    enough to close it, whatever the route's own dependencies say."""
    desk, case_id, base = planted
    tech = {"Authorization": f"Bearer {create_api_token(desk.engine, 'tech', 'gate')}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get(f"/api/cases/{case_id}", headers=tech).status_code == 200
        monkeypatch.setitem(ROUTE_POLICY, ("GET", "/api/cases/{case_id}"), "admin")
        assert http.get(f"/api/cases/{case_id}", headers=tech).status_code == 403
        monkeypatch.delitem(ROUTE_POLICY, ("GET", "/api/cases/{case_id}"))
        assert http.get(f"/api/cases/{case_id}", headers=tech).status_code == 403


# --- another client's triaged data (issue 21, finding 17) -----------------------------------

OTHER_TITLE = "SRV-B-COMPTA — base corrompue chez client-b"
OTHER_NOTE = "note-de-client-b-jamais-chez-a"
OTHER_TECHDOC = "schéma-réseau-de-client-b"


def plant_other_client(desk: Desk) -> dict[str, int]:
    """Client-b's data as the portal would show it to client-b: a triaged (major) case with
    history, an event, a visit in progress with its report, a contract with its sensors and
    a technical document. Hidden from client-a for one reason only: it is client-b's."""
    import datetime as dt

    from contracts import store
    from planning import techdoc

    b = desk.clients["client-b"]
    case_id = add_case(desk.engine, b, title=OTHER_TITLE, criticality="major",
                       ledger=[(3, "classify", {"criticality": "major"}),
                               (9, "add_note", {"text": OTHER_NOTE})])
    with session_scope(desk.engine) as s:
        raw = RawMessage(sha256="c" * 64, data=f"Subject: {OTHER_TITLE}\r\n\r\nb\r\n".encode())
        s.add(raw)
        s.flush()
        event = AlertEventRow(raw_message_id=raw.id or 0, family="disk_space",
                              status="problem", check="disk_free", summary=OTHER_TITLE,
                              case_id=case_id, client_id=b)
        s.add(event)
        visit = visit_in_progress(s, b, dt.date(2027, 3, 17), f"<p>{OTHER_TITLE}</p>")
        techdoc.save_version(s, b, {"network": OTHER_TECHDOC}, "admin")
        s.flush()
        ids = {"case_id": case_id, "event_id": event.id or 0, "visit_id": visit.id or 0}
    contract = store.create_contract(desk.engine, b, dt.date(2026, 12, 1), by="admin")
    store.plan_sensors(desk.engine, contract.id or 0)
    with Session(desk.engine) as s:
        deployment = store.sensors(s, contract.id or 0)[0].id or 0
    return {**ids, "client_id": b, "contract_id": contract.id or 0,
            "deployment_id": deployment}


def url_for_other(path: str, other: dict[str, int]) -> str | None:
    """The route's URL naming client-b's rows; None for a route that names none of them."""
    names = set(re.findall(r"\{(\w+)(?::\w+)?\}", path))
    if not names & set(other):
        return None
    values = {**{k: str(v) for k, v in other.items()}, "action": "add_note",
              "kind": "aliases", "key": "ups", "change": "confirm", "code": "fixed_ip"}
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "1"), path)


def test_a_client_never_reads_another_clients_triaged_data(
    planted: tuple[Desk, int, str],
) -> None:
    """Finding 17: the earlier cross-client checks met an untriaged case, which the portal
    hides anyway, so they passed with the client check removed. Here client-b's case is
    triaged (the portal shows it to client-b): every route that names one of client-b's
    rows, read or posted as client-a, by API token and by session, is refused (401, 403,
    404 or the sign-in page) and its answer never carries client-b's data."""
    desk, _, base = planted
    other = plant_other_client(desk)
    # client-b's own user sees its case: what hides it from client-a is the client check
    with httpx.Client(base_url=base, timeout=30) as http:
        b_user = {"Authorization": "Bearer " + create_api_token_for_client_b(desk)}
        assert http.get(f"/api/cases/{other['case_id']}", headers=b_user).status_code == 200
        assert OTHER_TITLE in http.get(f"/portal/cases/{other['case_id']}",
                                       headers=b_user).text
    token = create_api_token(desk.engine, ROLE_USERS["client"], "walk-other")
    session = desk.client()
    sign_in(session, ROLE_USERS["client"])
    csrf = csrf_of(session)
    problems: list[str] = []
    walked = 0
    with httpx.Client(base_url=base, timeout=30, follow_redirects=False) as http:
        for method, path in registered_routes(desk.app.routes):
            url = url_for_other(path, other)
            if url is None or policy_for(method, path) in MACHINE:
                continue
            answers = [http.request(method, url, headers={
                "Authorization": f"Bearer {token}", "Accept": "application/json"},
                json={} if method == "POST" else None)]
            answers.append(session.request(method, url, data={"csrf_token": csrf})
                           if method == "POST" else session.get(url))
            for r in answers:
                walked += 1
                refused = r.status_code in (401, 403, 404) or (
                    r.status_code in (302, 303, 307)
                    and r.headers.get("location", "").startswith("/login"))
                if not refused:
                    problems.append(f"client-a got {r.status_code} on {method} {url}")
                leaked = [m for m in (OTHER_TITLE, OTHER_NOTE, OTHER_TECHDOC) if m in r.text]
                if leaked:
                    problems.append(f"client-a read {leaked} on {method} {url}")
        # the lists a client reads never carry client-b's rows either
        for url in ("/api/cases?all=true", "/api/contracts", "/portal", "/portal/documents",
                    "/portal/contract", f"/api/cases?client_id={other['client_id']}"):
            r = http.get(url, headers={"Authorization": f"Bearer {token}"})
            if OTHER_TITLE in r.text or str(other["contract_id"]) in re.findall(
                    r'"id":\s*(\d+)', r.text):
                problems.append(f"client-a read client-b's rows on GET {url}")
    assert problems == [], "\n".join(problems)
    assert walked >= 40  # cases, events, visits, contracts, the client's technical document


def create_api_token_for_client_b(desk: Desk) -> str:
    with session_scope(desk.engine) as s:
        s.add(User(username="client-b-user", full_name="Client B", password_hash="x",
                   role="client", client_id=desk.clients["client-b"]))
    return create_api_token(desk.engine, "client-b-user", "b")
