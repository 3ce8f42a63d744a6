"""The desk watches its own intake: when no mail at all arrives while sources of several
clients are late, that is one desk incident, not one absence case per client; when mail
flows again the incident is resolved and the sources are watched afresh."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select, update

from messages.cases import case_workflow_id
from models.db import session_scope
from models.tables import RawMessage
from models.types import utcnow
from records.absence import plan_sweep
from records.desk_watch import DESK_FAMILY, DESK_FINGERPRINT
from tests.test_absence_support import (
    Inventory,
    case_row,
    expectation,
    ingest,
    make_inventory,
    probe,
    watch_heartbeat,
)

MIN = timedelta(minutes=1)


def mail_stored_at(engine: Engine, at: datetime) -> None:
    """The intake stored its last message at ``at`` (the router's clock is the wall's)."""
    with session_scope(engine) as s:
        s.exec(update(RawMessage).values(received_at=at))  # type: ignore[call-overload]


def late_clients(engine: Engine, n: int, mail: bool = True) -> tuple[list[Inventory], datetime]:
    """``n`` clients whose one watched server was heard at t0; the desk's last message then
    (unless ``mail`` is False: a desk that never stored one)."""
    invs = [make_inventory(engine) for _ in range(n)]
    t0 = utcnow()
    for inv in invs:
        watch_heartbeat(engine, inv.srv_b, t0)
    if mail:
        ingest(engine, probe(invs[0], "SRV-B", "heartbeat"))
        mail_stored_at(engine, t0)  # then nothing reaches the desk
    return invs, t0


def desk_case(engine: Engine, at: datetime) -> int:
    """The desk incident's row, as the workflow's opening writes it."""
    return case_row(engine, ref="VIG-DESK", workflow_id=case_workflow_id(DESK_FINGERPRINT),
                    fingerprint=DESK_FINGERPRINT, family=DESK_FAMILY, check="intake_silent",
                    opened_at=at)


def test_silence_from_every_client_is_one_desk_incident_not_one_absence_each(
        engine: Engine) -> None:
    invs, t0 = late_clients(engine, 3)

    plan = plan_sweep(engine, t0 + 80 * MIN)
    (order,) = plan.opens  # one desk incident, no client's absence case
    assert order.case.fingerprint == DESK_FINGERPRINT and order.case.client_id is None
    assert order.case.preset_criticality is None  # nobody outside is called for our fault
    assert plan.muted == 3
    assert {expectation(engine, inv.srv_b).state for inv in invs} == {"muted"}

    again = plan_sweep(engine, t0 + 85 * MIN)  # its row not written yet: still held, no case
    assert [o.case.fingerprint for o in again.opens] == [DESK_FINGERPRINT]
    desk = desk_case(engine, t0 + 81 * MIN)
    held = plan_sweep(engine, t0 + 90 * MIN)
    assert held.opens == [] and held.resolves == []
    assert {expectation(engine, inv.srv_b).muted_by_case_id for inv in invs} == {desk}

    back = t0 + 95 * MIN
    mail_stored_at(engine, back)  # the relay works again
    resumed = plan_sweep(engine, t0 + 96 * MIN)
    assert [r.workflow_id for r in resumed.resolves] == [case_workflow_id(DESK_FINGERPRINT)]
    assert resumed.opens == []  # a heartbeat on its way is not an absence
    exp = expectation(engine, invs[1].srv_b)
    assert exp.state == "ok" and exp.next_due_at is not None
    assert exp.next_due_at >= t0 + 96 * MIN + 60 * MIN


def test_two_clients_late_while_the_desk_hears_nothing_are_their_own_absences(
        engine: Engine) -> None:
    _, t0 = late_clients(engine, 2)
    plan = plan_sweep(engine, t0 + 80 * MIN)
    assert sorted(o.case.family for o in plan.opens) == ["heartbeat", "heartbeat"]


def test_a_desk_that_never_received_mail_is_not_silent(engine: Engine) -> None:
    _, t0 = late_clients(engine, 3, mail=False)
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(RawMessage)).one() == 0
    plan = plan_sweep(engine, t0 + 80 * MIN)
    assert len(plan.opens) == 3 and all(o.case.family == "heartbeat" for o in plan.opens)

