"""Helpers for the console tests: an app on a test database, users of every role, cases with
ledgers written directly (no Temporal needed), and signing in through the real login form."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from base.settings import Settings
from console.app import create_app
from console.auth import hash_password
from models.db import session_scope
from models.tables import AuditEvent, Case, Client, User
from vigie.demo import load_demo

PASSWORD = "correct horse battery staple"
_HASH = hash_password(PASSWORD)  # once per session: argon2 is slow on purpose
ROLE_USERS = {
    "technician": "tech",
    "level2": "n2",
    "manager": "manager",
    "planner": "planner",
    "admin": "admin",
    "client": "client-a",
    "consultant": "conseil",
}
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
# Monday 23 November 2026, 09:00 Paris: a working day, business hours all day
MONDAY_9H = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@dataclass
class Desk:
    app: FastAPI
    engine: Engine
    settings: Settings
    clients: dict[str, int]

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def signed_in(self, role: str) -> tuple[TestClient, str]:
        """A browser-like client signed in as the demo user of ``role``, and its CSRF token."""
        http = self.client()
        sign_in(http, ROLE_USERS[role])
        return http, csrf_of(http)


def make_desk(engine: Engine, tmp_path: Path, **overrides: Any) -> Desk:
    """The demo inventory, one user per role, and a console without Temporal."""
    clients = load_demo_clients(engine)
    settings = Settings(
        var_dir=tmp_path,
        temporal_address=overrides.pop("temporal_address", ""),
        secret_key="test-secret-key",
        **overrides,
    )
    return Desk(create_app(settings, engine), engine, settings, clients)


def load_demo_clients(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as s:
        existing = {u for u in s.exec(select(User.username)).all()}
        for role, username in ROLE_USERS.items():
            if username in existing:
                continue
            s.add(
                User(username=username, full_name=username.title(), password_hash=_HASH, role=role)
            )
    # the demo's own users would need VIGIE_DEMO_PASSWORD; ours exist first, so it keeps them
    ids = load_demo(engine)
    with session_scope(engine) as s:
        user = s.exec(select(User).where(User.username == "client-a")).one()
        user.client_id = ids["client-a"]
        s.add(user)
    return ids


def sign_in(http: TestClient, username: str, password: str = PASSWORD) -> Any:
    page = http.get("/login")
    token = CSRF_RE.search(page.text)
    assert token, page.text
    return http.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
    )


def csrf_of(http: TestClient) -> str:
    """The session's CSRF token, as every form of a page carries it."""
    page = http.get("/", follow_redirects=True)
    found = CSRF_RE.search(page.text)
    assert found, page.text[:2000]
    return found.group(1)


def add_case(
    engine: Engine,
    client_id: int | None,
    *,
    title: str = "SRV-DC01 — disque C: 4 %",
    opened_at: datetime = MONDAY_9H,
    criticality: str | None = None,
    state: str | None = None,
    closed: bool = False,
    family: str = "disk_space",
    host: str = "srv-dc01",
    assignee: str | None = None,
    ledger: list[tuple[int, str, dict[str, str]]] | None = None,
) -> int:
    """A case row and its ledger: ``ledger`` is (minutes after opening, action, data)."""
    with session_scope(engine) as s:
        case = Case(
            workflow_id=f"case-test-{uuid.uuid4().hex}",
            run_id="run",
            client_id=client_id,
            host=host,
            family=family,
            check="disk_free",
            title=title,
            state=state or ("classified" if criticality else "new"),
            closed=closed,
            criticality=criticality,
            assignee=assignee,
            opened_at=opened_at,
            last_seen=opened_at,
        )
        s.add(case)
        s.flush()
        case.ref = f"VIG-{case.id:06d}"
        entries = [(0, "open", {}), *(ledger or [])]
        for seq, (minutes, action, data) in enumerate(entries, start=1):
            actor = data.pop("actor", "system" if action == "open" else "tech")
            s.add(
                AuditEvent(
                    case_id=case.id or 0,
                    seq=seq,
                    at=opened_at + timedelta(minutes=minutes),
                    action=action,
                    actor=actor,
                    data=data,
                )
            )
        return case.id or 0


def client_id_of(engine: Engine, code: str) -> int:
    with session_scope(engine) as s:
        return s.exec(select(Client.id).where(Client.code == code)).one() or 0
