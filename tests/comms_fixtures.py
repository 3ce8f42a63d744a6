"""What the communication tests share: a client with contacts and a case in the database, a
recording SMTP relay on loopback (aiosmtpd), and the desk's settings pointed at them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy.engine import Engine

from activities.cases import case_ref
from models.db import session_scope
from models.tables import Case, Client, Contact
from tests.conftest import fresh_id
from tests.smtp_helpers import ServerThread

OPENED = datetime(2025, 3, 10, 9, 15, tzinfo=UTC)  # Monday 10:15 in Paris
CONTACTS = (
    ("Élodie Martin", "elodie@client-a.example", "+33450000011", "primary", 1),
    ("Marc Durand", "marc@client-a.example", "+33450000012", "backup", 1),
    ("Astreinte Client A", "astreinte@client-a.example", "+33450000013", "after_hours", 1),
)


@dataclass(frozen=True)
class Seeded:
    case_id: int
    ref: str
    client_id: int
    contact_ids: list[int]
    workflow_id: str


def seed_client(
    engine: Engine, contacts: tuple[tuple[str, str, str, str, int], ...] = CONTACTS
) -> tuple[int, list[int]]:
    """A client and its contacts (name, email, phone, role, rank); no case yet."""
    with session_scope(engine) as s:
        client = Client(code=fresh_id("CLI"), name="Client A — Transports Lyonnais")
        s.add(client)
        s.flush()
        ids = []
        for name, email, phone, role, rank in contacts:
            c = Contact(client_id=client.id or 0, name=name, email=email, phone=phone,
                        role=role, rank=rank)
            s.add(c)
            s.flush()
            ids.append(c.id or 0)
        return client.id or 0, ids


def seed_case(
    engine: Engine,
    contacts: tuple[tuple[str, str, str, str, int], ...] = CONTACTS,
    *,
    workflow_id: str | None = None,
    run_id: str = "run-1",
    title: str = "SRV-DC01 — disque D: presque plein",
    demande_ref: str | None = None,
) -> Seeded:
    client_id, ids = seed_client(engine, contacts)
    with session_scope(engine) as s:
        case = Case(workflow_id=workflow_id or fresh_id("case"), run_id=run_id,
                    client_id=client_id, host="SRV-DC01", title=title, opened_at=OPENED,
                    demande_ref=demande_ref)
        s.add(case)
        s.flush()
        case.ref = case_ref(case.id or 0)
        return Seeded(case.id or 0, case.ref, client_id, ids, case.workflow_id)


@dataclass
class Relay:
    """An SMTP relay that keeps what it accepts; ``refuse`` maps a recipient to its answer."""

    messages: list[Envelope] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return f"250 2.0.0 Ok: queued as Q{len(self.messages)}"


def relay_server(relay: Relay, users: dict[str, str] | None = None) -> ServerThread:
    """A real aiosmtpd server on loopback; ``users`` turns on AUTH (without TLS, loopback)."""

    def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and users is not None and users.get(
            data.login.decode()) == data.password.decode()
        return AuthResult(success=ok)

    def factory() -> SMTP:
        if users is None:
            return SMTP(relay, hostname="relay.test")
        return SMTP(relay, hostname="relay.test", authenticator=authenticator,
                    auth_required=True, auth_require_tls=False)

    return ServerThread(factory)
