"""Silences (maintenance windows): matching events are recorded, open no case, page nobody,
and leave an audit trail; absences inside a window are kept quiet the same way."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.expectations import AbsenceEvent, SilenceHit
from models.types import utcnow
from records.absence import plan_sweep
from records.silences import SilenceRequest, create_silence, end_silence, list_silences
from tests.test_absence_support import (
    events,
    expectation,
    ingest,
    make_inventory,
    probe,
    watch_heartbeat,
)

HOUR = timedelta(hours=1)


def test_a_silenced_problem_is_recorded_but_opens_no_case(engine: Engine) -> None:
    inv = make_inventory(engine)
    now = utcnow()
    sil = create_silence(engine, SilenceRequest(
        starts_at=now - HOUR, ends_at=now + HOUR, reason="remplacement de l'onduleur",
        created_by="tech", server_id=inv.srv_a))
    assert sil.client_id == inv.client_id  # filled in from the server
    routes = ingest(
        engine,
        probe(inv, "SRV-A", "cpu", "PROBLEM"),  # silenced
        probe(inv, "SRV-A", "cpu", "RECOVERY"),  # still routed: it can only end a case
        probe(inv, "SRV-A2", "cpu", "PROBLEM"),  # another server: routed
        probe(inv, "SRV-A", "heartbeat"),  # alive is alive, even in maintenance
    )
    rows = events(engine)
    assert [r.triage for r in rows] == ["silenced", "none", "none", "none"]
    routed = {r.event_id for r in routes}
    assert rows[0].id not in routed and {rows[1].id, rows[2].id} <= routed
    with Session(engine) as s:
        (hit,) = s.exec(select(SilenceHit)).all()
    assert (hit.silence_id, hit.event_id) == (sil.id, rows[0].id)
    assert expectation(engine, inv.srv_a).last_seen_at is not None


def test_a_silence_can_target_a_site_and_a_check(engine: Engine) -> None:
    inv = make_inventory(engine)
    now = utcnow()
    create_silence(engine, SilenceRequest(
        starts_at=now - HOUR, ends_at=now + HOUR, reason="coupure VPN prévue",
        created_by="tech", site_id=inv.lyon, check="link"))
    ingest(engine, probe(inv, "SRV-A", "vpn", "PROBLEM", target="SITE-ANNECY"),
           probe(inv, "SRV-A", "cpu", "PROBLEM"),
           probe(inv, "SRV-B", "vpn", "PROBLEM", target="SITE-LYON"))
    assert [(r.host, r.check, r.triage) for r in events(engine)] == [
        ("SRV-A", "vpn", "silenced"), ("SRV-A", "cpu", "none"), ("SRV-B", "vpn", "none")]


def test_a_silence_keeps_an_absence_quiet_until_it_ends(engine: Engine) -> None:
    inv = make_inventory(engine)
    t0 = utcnow()
    watch_heartbeat(engine, inv.srv_a, t0)
    sil = create_silence(engine, SilenceRequest(
        starts_at=t0, ends_at=t0 + 3 * HOUR, reason="déménagement de la baie",
        created_by="tech", client_id=inv.client_id))
    plan = plan_sweep(engine, t0 + 2 * HOUR)
    assert (plan.opens, plan.silenced) == ([], 1)
    assert expectation(engine, inv.srv_a).state == "silenced"
    assert plan_sweep(engine, t0 + 2 * HOUR + timedelta(minutes=5)).silenced == 0  # once
    with Session(engine) as s:
        (ev,) = s.exec(select(AbsenceEvent).where(AbsenceEvent.silence_id == sil.id)).all()
        (hit,) = s.exec(select(SilenceHit).where(SilenceHit.silence_id == sil.id)).all()
    assert ev.kind == "heartbeat_silenced" and hit.absence_event_id == ev.id
    end_silence(engine, sil.id or 0, "tech", at=t0 + 2 * HOUR + timedelta(minutes=10))
    (order,) = plan_sweep(engine, t0 + 2 * HOUR + timedelta(minutes=15)).opens
    assert order.case.server_id == inv.srv_a
    assert list_silences(engine, client_id=inv.client_id)[0].revoked_by == "tech"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"client_id": None}, "porte sur un client"),
        ({"reason": " "}, "raison"),
        ({"ends_at": "start"}, "suivre son début"),
    ],
)
def test_a_silence_must_say_what_when_and_why(sqlite_engine: Engine, changes: dict,
                                              message: str) -> None:
    inv = make_inventory(sqlite_engine)
    now = utcnow()
    fields: dict = {"starts_at": now, "ends_at": now + HOUR, "reason": "maintenance",
                    "created_by": "tech", "client_id": inv.client_id}
    fields.update(changes)
    if fields["ends_at"] == "start":
        fields["ends_at"] = now
    with pytest.raises(ValueError, match=message):
        create_silence(sqlite_engine, SilenceRequest(**fields))
