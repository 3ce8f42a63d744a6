"""A router that reads less per event (issue 24) still honours every change at its next batch.

Silences and inhibition rules are kept with the reference data (they move its generation);
open site incidents are read once per batch. Each scenario runs one long-lived router, as
``vigie router`` does, on SQLite and PostgreSQL: a silence, a rule or an incident created
(or ended) between two batches is honoured by the very next one. And the statements a batch
costs are counted: a one-message batch, and a twenty-message one per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bench.router_cost import DryRouter
from bench.router_cost import count_statements as statements
from intake.router import Route, Router
from intake.store import accept
from models.incidents import IncidentChild
from models.tables import AlertEventRow, Outbox
from models.types import utcnow
from records.incidents import CHILD, SITE_FAMILY, site_fingerprint
from records.inhibitions import INHIBITED, RuleRequest, create_rule, revoke_rule
from records.silences import SILENCED, SilenceRequest, create_silence, end_silence
from tests.test_absence_support import Inventory, case_row, make_inventory, probe
from tests.test_routing import probe as demo_probe
from vigie.demo import load_demo


class Desk:
    """One router living across batches; each message is its own batch."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.router = Router(engine, client=None, task_queue="unused")  # type: ignore[arg-type]

    def route(self, raw: bytes) -> tuple[AlertEventRow, list[Route]]:
        accept(self.engine, raw, peer_ip="127.0.0.1")
        ids, batch = self.router._claim_and_materialize()
        assert len(ids) == 1
        with Session(self.engine) as s:
            row = s.exec(select(AlertEventRow).order_by(
                AlertEventRow.id.desc())).first()  # type: ignore[union-attr]
        assert row is not None
        return row, [r for _, routes in batch for r in routes]


def test_a_silence_created_or_ended_between_two_batches_is_honoured_by_the_next(
        engine: Engine) -> None:
    inv = make_inventory(engine)
    desk = Desk(engine)
    row, routes = desk.route(probe(inv, "SRV-A", "cpu", "PROBLEM"))
    assert row.triage == "none" and len(routes) == 1  # nothing silenced yet: a case
    now = utcnow()
    sil = create_silence(engine, SilenceRequest(
        starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1),
        reason="maintenance", created_by="tech", server_id=inv.srv_a))
    row, routes = desk.route(probe(inv, "SRV-A", "disk_free", "PROBLEM"))
    assert row.triage == SILENCED and routes == []
    other, routes = desk.route(probe(inv, "SRV-B", "disk_free", "PROBLEM"))  # not its server
    assert other.triage == "none" and len(routes) == 1
    end_silence(engine, sil.id or 0, by="tech")
    row, routes = desk.route(probe(inv, "SRV-A", "cpu", "PROBLEM"))
    assert row.triage == "none" and len(routes) == 1


def cause(engine: Engine, inv: Inventory) -> int:
    return case_row(engine, ref=f"VIG-R{inv.code}", workflow_id=f"case-raid-{inv.code}",
                    fingerprint=f"{inv.code}|san|hardware|raid|", client_id=inv.client_id,
                    server_id=inv.srv_a, host="san", family="hardware", check="raid",
                    opened_at=utcnow())


def test_a_rule_created_or_revoked_between_two_batches_is_honoured_by_the_next(
        engine: Engine) -> None:
    inv = make_inventory(engine)
    source = cause(engine, inv)
    desk = Desk(engine)
    row, _ = desk.route(probe(inv, "SRV-A2", "cpu", "PROBLEM"))
    assert row.triage == "none"  # no rule yet
    rule = create_rule(engine, RuleRequest(
        name="SAN en panne", created_by="admin", expires_at=utcnow() + timedelta(hours=4),
        source_family="hardware", source_check="raid", target_check="cpu"))
    row, routes = desk.route(probe(inv, "SRV-B", "cpu", "PROBLEM"))
    assert row.triage == INHIBITED and row.case_id == source and routes == []
    revoke_rule(engine, rule.id or 0, by="admin")
    row, routes = desk.route(probe(inv, "SRV-A", "cpu", "PROBLEM"))
    assert row.triage == "none" and len(routes) == 1


def test_a_site_incident_opened_between_two_batches_takes_the_next_alert_as_a_child(
        engine: Engine) -> None:
    inv = make_inventory(engine)
    desk = Desk(engine)
    row, routes = desk.route(probe(inv, "SRV-A", "cpu", "PROBLEM"))
    assert row.triage == "none" and len(routes) == 1
    incident = case_row(engine, ref="VIG-SITE", workflow_id=f"case-site-{inv.code}",
                        family=SITE_FAMILY, fingerprint=site_fingerprint(inv.code, inv.lyon),
                        check="outage", client_id=inv.client_id, target="Lyon — siège",
                        opened_at=utcnow())
    row, routes = desk.route(probe(inv, "SRV-A", "disk_free", "PROBLEM"))
    assert row.triage == CHILD and row.case_id == incident and routes == []
    # the link comes back (a heartbeat of the site) in the next batch: the failing child
    # is promoted and its case told with the return
    row, routes = desk.route(probe(inv, "SRV-A2", "heartbeat"))
    assert row.extra.get("site_return") == f"case-site-{inv.code}"
    opened = [r for r in routes if r.start is not None]
    assert [r.start.check for r in opened] == ["disk_free"]  # type: ignore[union-attr]
    with Session(engine) as s:
        child = s.exec(select(IncidentChild).where(
            IncidentChild.incident_case_id == incident)).one()
    assert child.state == "promoted"


def test_two_site_alerts_in_one_batch_share_the_incident_read(engine: Engine) -> None:
    """Within one batch the incident is read once, and the link's return in the same batch
    as a child's problem still releases it (the batch's own reads see the release)."""
    inv = make_inventory(engine)
    case_row(engine, ref="VIG-SITE2", workflow_id=f"case-site-{inv.code}",
             family=SITE_FAMILY, fingerprint=site_fingerprint(inv.code, inv.lyon),
             check="outage", client_id=inv.client_id, target="Lyon — siège",
             opened_at=utcnow())
    for raw in (probe(inv, "SRV-A", "cpu", "PROBLEM"), probe(inv, "SRV-A2", "heartbeat"),
                probe(inv, "SRV-A", "disk_free", "PROBLEM")):
        accept(engine, raw, peer_ip="127.0.0.1")
    router = Router(engine, client=None, task_queue="unused")  # type: ignore[arg-type]
    ids, batch = router._claim_and_materialize()
    assert len(ids) == 3
    routes = [r for _, rs in batch for r in rs]
    with Session(engine) as s:
        rows = s.exec(select(AlertEventRow).order_by(AlertEventRow.id)).all()  # type: ignore[arg-type]
    assert [r.triage for r in rows] == [CHILD, "none", "none"]  # after the return: a case
    assert sorted(r.start.check for r in routes if r.start is not None) == [  # type: ignore[union-attr]
        "cpu", "disk_free"]


# a router whose Temporal calls succeed at once, and the statement counter: the bench's own
# (``bench.router_cost``), so the test counts what the bench prints

async def test_a_batch_costs_few_statements_and_a_larger_one_fewer_per_message(
        engine: Engine) -> None:
    """Before issue 24 a one-message batch cost 18 statements and a twenty-message one 9.6
    per message; the reads that remain are per batch, not per event."""
    load_demo(engine)
    router = DryRouter(engine, client=None, task_queue="unused")  # type: ignore[arg-type]
    accept(engine, demo_probe("SRV-DC01", n=1))
    await router.drain_once()  # the reference data loaded once
    counter = statements(engine)
    accept(engine, demo_probe("SRV-DC01", check="memory", n=2))
    before = counter[0]
    assert await router.drain_once() == 1
    one = counter[0] - before
    for n in range(20):
        accept(engine, demo_probe(f"SRV-{n:03d}", check="disk", n=100 + n))
    before = counter[0]
    assert await router.drain_once() == 20
    twenty = counter[0] - before
    assert one <= 10, one
    assert twenty <= 20 * 3, twenty
    with Session(engine) as s:
        assert all(o.done_at is not None for o in s.exec(select(Outbox)).all())
        assert all(e.routed_at is not None for e in s.exec(select(AlertEventRow)).all()
                   if e.triage == "none")


class Counting(DryRouter):
    """Records how many messages each claim took."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.claims: list[int] = []

    def _claim_and_materialize(self):  # type: ignore[no-untyped-def]
        ids, batch = super()._claim_and_materialize()
        if ids:
            self.claims.append(len(ids))
        return ids, batch


async def test_messages_nudged_together_are_taken_in_one_batch_with_a_gathering_window(
        sqlite_engine: Engine) -> None:
    """Three messages stored a few ms apart, each with its nudge: with a gathering window
    the router claims them together; without one, the first nudge's claim takes the first
    message alone."""
    load_demo(sqlite_engine)
    taken: dict[float, list[int]] = {}
    for gather_ms, n0 in ((0.0, 10), (200.0, 20)):
        r = Counting(sqlite_engine, client=None, task_queue="unused",  # type: ignore[arg-type]
                     gather=timedelta(milliseconds=gather_ms))
        running = asyncio.create_task(r.run(idle=60))
        await asyncio.sleep(0.2)  # its first (empty) claim done: it waits for a nudge
        for k in range(3):
            await asyncio.to_thread(accept, sqlite_engine,
                                    demo_probe("SRV-DC01", check=f"c{k}", n=n0 + k))
            r.wake.set()
            await asyncio.sleep(0.02)
        deadline = time.monotonic() + 10
        while sum(r.claims) < 3 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        running.cancel()
        taken[gather_ms] = r.claims
    assert sum(taken[0.0]) == 3 and taken[0.0][0] == 1
    assert taken[200.0] == [3]


async def test_a_batchs_outcome_is_written_with_the_next_claim_or_on_its_own(
        sqlite_engine: Engine, monkeypatch: Any) -> None:
    """At a steady rate the outcome of a batch (events routed, message done) goes in the
    transaction of the next claim: two messages, two transactions; a router stopped (or
    left without news for ``RECORD_HOLD``) still writes what Temporal acknowledged."""
    import intake.router as router_module

    monkeypatch.setattr(router_module, "RECORD_HOLD", timedelta(seconds=30))
    load_demo(sqlite_engine)
    commits = [0]

    def count(*_args: Any) -> None:
        commits[0] += 1

    r = Counting(sqlite_engine, client=None, task_queue="unused")  # type: ignore[arg-type]
    running = asyncio.create_task(r.run(idle=60))
    await asyncio.sleep(0.2)  # its first (empty) claim done
    event.listen(sqlite_engine, "commit", count)

    def done() -> list[bool]:
        with Session(sqlite_engine) as s:
            return [o.done_at is not None for o in s.exec(select(Outbox).order_by(
                Outbox.id)).all()]  # type: ignore[arg-type]

    async def until(n: int) -> None:
        deadline = time.monotonic() + 10
        while sum(r.claims) < n and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # told (no Temporal here)

    try:
        for k in range(2):
            await asyncio.to_thread(accept, sqlite_engine,
                                    demo_probe("SRV-DC01", check=("cpu", "memory")[k],
                                               n=40 + k))
            r.wake.set()
            await until(k + 1)
            assert done() == [True] * k + [False]  # the last one's outcome held back
        # two stored (the intake's two commits), two batches: one transaction each, the
        # first batch's record riding the second claim (without it: six)
        assert commits[0] == 4
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert done() == [True, True]  # written on the way out
    with Session(sqlite_engine) as s:
        told = [e for e in s.exec(select(AlertEventRow)).all() if e.triage == "none"]
    assert len(told) == 2 and all(e.routed_at is not None for e in told)
    # and on its own when no claim follows within RECORD_HOLD
    monkeypatch.setattr(router_module, "RECORD_HOLD", timedelta(milliseconds=50))
    r = Counting(sqlite_engine, client=None, task_queue="unused")  # type: ignore[arg-type]
    running = asyncio.create_task(r.run(idle=60))
    try:
        await asyncio.to_thread(accept, sqlite_engine, demo_probe("SRV-DC01", check="h9", n=49))
        r.wake.set()
        deadline = time.monotonic() + 10
        while not all(done()) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert all(done())
    finally:
        running.cancel()
