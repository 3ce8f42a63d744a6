"""The unmatched queue: attach to a server (teaching an alias), dismiss, refuse plainly."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from intake.router import route_for
from intake.store import accept
from models.tables import AlertEventRow, Outbox, Server, ServerAlias
from records.triage import TriageError, attach, dismiss
from tests.test_routing import drain_db_step, probe
from vigie.demo import load_demo


def pending(engine: Engine) -> list[int]:
    """The unmatched queue as the console lists it: event rows waiting in triage."""
    with Session(engine) as s:
        return list(s.exec(select(AlertEventRow.id).where(AlertEventRow.triage == "pending")))


def server(engine: Engine, client_id: int, hostname: str) -> Server:
    with Session(engine) as s:
        return s.exec(
            select(Server).where(Server.client_id == client_id, Server.hostname == hostname)
        ).one()


def test_attaching_an_unmatched_event_teaches_an_alias_and_requeues_it(engine: Engine) -> None:
    ids = load_demo(engine)
    accept(engine, probe("SRV-COMPTA", "agent@unknown-relay.example"))
    (ev,) = drain_db_step(engine)
    assert pending(engine) == [ev.id]
    target = server(engine, ids["client-b"], "srv-app")
    attach(engine, ev.id or 0, target.id or 0, teach_alias=True, actor="alice")
    with Session(engine) as s:
        row = s.get(AlertEventRow, ev.id)
        assert row is not None
        assert (row.client_id, row.server_id, row.triage) == (ids["client-b"], target.id,
                                                              "attached")
        assert row.fingerprint.startswith("client-b")
        assert s.exec(select(ServerAlias).where(ServerAlias.alias == "srv-compta")).one()
        assert s.exec(select(Outbox)).one().done_at is None  # back in the router's queue
        route = route_for(row)
    assert route is not None and route.start is not None
    assert pending(engine) == []
    # the next message from that host is matched by the alias
    accept(engine, probe("srv-compta.lan", "agent@unknown-relay.example", n=2))
    drain_db_step(engine)
    with Session(engine) as s:
        last = s.exec(select(AlertEventRow).order_by(AlertEventRow.id.desc())).first()  # type: ignore[union-attr]
        assert last is not None and last.server_id == target.id


def test_an_attached_event_cannot_be_attached_again_and_bad_ids_are_refused(
    engine: Engine,
) -> None:
    ids = load_demo(engine)
    accept(engine, probe("SRV-X", "agent@unknown-relay.example"))
    (ev,) = drain_db_step(engine)
    target = server(engine, ids["client-a"], "srv-dc01")
    with pytest.raises(TriageError):
        attach(engine, 999_999, target.id or 0, teach_alias=False, actor="alice")
    with pytest.raises(TriageError):
        attach(engine, ev.id or 0, 999_999, teach_alias=False, actor="alice")
    attach(engine, ev.id or 0, target.id or 0, teach_alias=False, actor="alice")
    with pytest.raises(TriageError):
        attach(engine, ev.id or 0, target.id or 0, teach_alias=False, actor="bob")


def test_a_newsletter_can_be_dismissed_from_triage(engine: Engine) -> None:
    load_demo(engine)
    accept(engine, b"From: news@client-a.example\r\nSubject: Promo\r\n\r\nSoldes !\r\n")
    (ev,) = drain_db_step(engine)
    assert ev.family == "unknown" and ev.triage == "pending"
    dismiss(engine, ev.id or 0, actor="alice")
    assert pending(engine) == []
