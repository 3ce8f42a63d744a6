"""The router keeps the reference data it judges messages against (clients, servers,
aliases, sender domains, source rules, contract statuses, case policy) between batches, and
every change to it takes effect at the very next batch, whoever makes it and however.

Each scenario runs one long-lived router, as ``vigie router`` does, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from base.metrics import REFERENCE_LOADS
from intake.router import Router
from intake.store import accept
from models.contracts import Contract
from models.db import session_scope
from models.refstamp import generation
from models.tables import AlertEventRow, Client, Server, ServerAlias
from models.trust import SourceRule
from tests.conftest import fresh_id
from vigie.demo import load_demo

ATTACKER = "203.0.113.9"


def probe(host: str, *, status: str = "PROBLEM", check: str = "cpu",
          sender: str = "vigie-probe@client-a.example") -> bytes:
    n = fresh_id("m")
    return (
        f"From: {sender}\r\nTo: alerts@desk.example\r\nMessage-ID: <{n}@x>\r\n"
        f"Subject: [VIGIE] {host} {status} {check}\r\n\r\n"
        f"Host: {host}\r\nCheck: {check}\r\nStatus: {status}\r\n"
    ).encode()


class Desk:
    """One router that lives across batches, and a way to feed it one message at a time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.router = Router(engine, client=None, task_queue="unused")  # type: ignore[arg-type]

    def route(self, raw: bytes, peer_ip: str = "127.0.0.1") -> AlertEventRow:
        accept(self.engine, raw, peer_ip=peer_ip)
        self.router._materialize(self.router._claim())
        with Session(self.engine) as s:
            return s.exec(select(AlertEventRow).order_by(AlertEventRow.id.desc())  # type: ignore[union-attr]
                          ).first()


@pytest.fixture
def desk(engine: Engine) -> Iterator[Desk]:
    load_demo(engine)
    yield Desk(engine)


def loads() -> float:
    return REFERENCE_LOADS._value.get()  # type: ignore[attr-defined]


def test_a_router_loads_its_reference_once_while_nothing_changes(desk: Desk) -> None:
    before = loads()
    for _ in range(5):
        desk.route(probe("SRV-DC01"))
        desk.route(probe("SRV-DC01", check="heartbeat", status="OK"))  # writes the server row
    assert loads() - before == 1, "reloaded although nothing changed"


def test_a_heartbeat_does_not_move_the_generation_but_a_rename_does(desk: Desk) -> None:
    with Session(desk.engine) as s:
        start = generation(s)
    beat = desk.route(probe("SRV-DC01", check="heartbeat", status="OK"))
    with session_scope(desk.engine) as s:
        assert generation(s) == start
        srv = s.get(Server, beat.server_id)
        assert srv is not None and srv.last_heartbeat_at is not None
        srv.display_name = "Contrôleur de domaine"
        s.add(srv)
    with Session(desk.engine) as s:
        assert generation(s) == (start or 0) + 1


def test_a_server_registered_while_the_router_runs_is_matched_at_the_next_batch(
    desk: Desk,
) -> None:
    host = fresh_id("srv-new")
    assert desk.route(probe(host)).server_id is None  # not known yet
    with session_scope(desk.engine) as s:
        client = s.exec(select(Client).where(Client.code == "client-a")).one()
        s.add(Server(client_id=client.id or 0, hostname=host))
    assert desk.route(probe(host)).server_id is not None


def test_an_alias_added_while_the_router_runs_is_matched_at_the_next_batch(desk: Desk) -> None:
    alias = fresh_id("dc-alias")
    dc01 = desk.route(probe("SRV-DC01")).server_id
    assert desk.route(probe(alias)).server_id is None
    with session_scope(desk.engine) as s:
        srv = s.get(Server, dc01)
        assert srv is not None
        s.add(ServerAlias(client_id=srv.client_id, server_id=srv.id or 0, alias=alias))
    assert desk.route(probe(alias)).server_id == dc01


def test_a_source_rule_added_in_the_console_verifies_the_very_next_message(desk: Desk) -> None:
    assert desk.route(probe("SRV-DC01"), peer_ip=ATTACKER).source_check == "unverified"
    with session_scope(desk.engine) as s:
        client = s.exec(select(Client).where(Client.code == "client-a")).one()
        s.add(SourceRule(client_id=client.id or 0, kind="relay", value=ATTACKER))
    assert desk.route(probe("SRV-DC01"), peer_ip=ATTACKER).source_check == "relay"


def test_a_rule_removed_stops_verifying_at_once(desk: Desk) -> None:
    with session_scope(desk.engine) as s:
        client = s.exec(select(Client).where(Client.code == "client-a")).one()
        s.add(SourceRule(client_id=client.id or 0, kind="relay", value=ATTACKER))
    assert desk.route(probe("SRV-DC01"), peer_ip=ATTACKER).source_check == "relay"
    with session_scope(desk.engine) as s:
        rule = s.exec(select(SourceRule).where(SourceRule.value == ATTACKER)).one()
        s.delete(rule)
    assert desk.route(probe("SRV-DC01"), peer_ip=ATTACKER).source_check == "unverified"


def test_a_bulk_update_statement_moves_the_generation_too(desk: Desk) -> None:
    """A fixed IP changed by an UPDATE statement, not through an object: the old address
    stops verifying at the next batch."""
    assert desk.route(probe("SRV-DC01"), peer_ip="127.0.0.1").source_check == "ip"
    with session_scope(desk.engine) as s:
        s.exec(update(Client).where(Client.code == "client-a")  # type: ignore[call-overload]
               .values(fixed_ips="198.51.100.7"))
    assert desk.route(probe("SRV-DC01"), peer_ip="127.0.0.1").source_check == "unverified"


def test_a_client_taken_out_of_service_opens_no_case_from_the_next_batch(desk: Desk) -> None:
    assert desk.route(probe("SRV-DC01")).triage != "out_of_contract"
    with session_scope(desk.engine) as s:
        client = s.exec(select(Client).where(Client.code == "client-a")).one()
        contract = s.exec(select(Contract).where(Contract.client_id == client.id)).first()
        contract = contract or Contract(client_id=client.id or 0, start_date=date(2026, 1, 5))
        contract.status = "terminated"
        s.add(contract)
    assert desk.route(probe("SRV-DC01")).triage == "out_of_contract"


def test_a_change_rolled_back_leaves_the_generation_alone(desk: Desk) -> None:
    with Session(desk.engine) as s:
        start = generation(s)
    with pytest.raises(RuntimeError), session_scope(desk.engine) as s:
        s.add(SourceRule(client_id=1, kind="relay", value=ATTACKER))
        s.flush()
        raise RuntimeError("the page's form failed after the flush")
    with Session(desk.engine) as s:
        assert generation(s) == start
