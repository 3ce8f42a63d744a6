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
    check_policies,
    policy_for,
    registered_routes,
)
from console.app import create_app
from console.auth import PERMISSIONS, ROLES, create_api_token
from console.client_view import DETAIL_FIELDS, SUMMARY_FIELDS
from models.db import session_scope
from models.tables import AlertEventRow, Communication, RawMessage, User
from tests.browser.support import ROLE_USERS, Desk, add_case, make_desk

# What only the desk may read; planted in client-a's own case below.
NOTE = "NOTE INTERNE: client négligent, ne pas lui dire"
ASSIGNEE = "technicien-caché"
L2_SUBJECT = "Transfert N2 interne : voir le journal"
EVENT_TEXT = "texte-brut-de-alerte-interne"
STAFF_ONLY = (NOTE, ASSIGNEE, L2_SUBJECT, EVENT_TEXT, "next_steps", "ledger", '"actor"',
              "assignee")


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
    with Served(desk.app) as base:
        yield desk, case_id, base


def params_for(path: str, desk: Desk, case_id: int) -> str:
    """A concrete URL for a route: ids of real rows where the route reads one."""
    with Session(desk.engine) as s:
        user_id = s.exec(select(User.id).where(User.username == "tech")).one()
        event_id = s.exec(select(AlertEventRow.id)).first() or 1
    values = {"case_id": case_id, "client_id": desk.clients["client-a"], "event_id": event_id,
              "user_id": user_id, "action": "add_note", "kind": "aliases", "key": "x",
              "change": "confirm"}

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
    assert problems == []
    assert walked >= 80 * (len(ROLES) + 1)


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
        assert method in ("GET", "POST"), path
        assert policy in {PUBLIC, SIGNED_IN, *MACHINE, *PERMISSIONS}, (path, policy)
    # the client role reaches only its portal and the scoped case reads
    client_routes = {k for k, p in ROUTE_POLICY.items() if _allowed(p, "client")}
    assert {p for _, p in client_routes} - {"/", "/login", "/logout", "/api/healthz",
                                            "/static"} == {
        "/api/cases", "/api/cases/{case_id}", "/portal", "/portal/cases/{case_id}",
        "/portal/documents"}


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
