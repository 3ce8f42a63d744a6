"""Several routers on one database: each message is claimed by one of them, a dead router's
batch is taken over once its lease has run out, and a case's events keep their order.

The claim step is pure database work: these run on SQLite and PostgreSQL without Temporal
(the whole path with processes, Temporal and a kill is ``test_scale_out.py``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from intake.router import WAITING, Router, outbox_stats
from intake.store import accept
from models.tables import AlertEventRow, Outbox
from models.types import utcnow
from tests.test_routing import probe
from vigie.demo import load_demo


def router(engine: Engine, name: str, batch: int = 200,
           lease: timedelta = timedelta(seconds=20)) -> Router:
    return Router(engine, client=None, task_queue="unused", batch=batch,  # type: ignore[arg-type]
                  name=name, lease=lease)


def test_two_routers_claiming_at_once_never_take_the_same_message(engine: Engine) -> None:
    load_demo(engine)
    for n in range(120):
        accept(engine, probe(f"SRV-{n:03d}", n=n))
    a, b = router(engine, "a", batch=10), router(engine, "b", batch=10)
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def drain(r: Router) -> None:
        try:
            while ids := r._claim():
                claimed[r.name].extend(ids)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(r,)) for r in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    both = claimed["a"] + claimed["b"]
    assert len(both) == len(set(both)) == 120  # every message claimed, none twice
    with Session(engine) as s:
        holders = {o.id: o.claimed_by for o in s.exec(select(Outbox)).all()}
    assert all(holders[i] == "a" for i in claimed["a"])
    assert all(holders[i] == "b" for i in claimed["b"])


def test_a_dead_routers_batch_is_taken_over_after_its_lease_and_not_before(
    engine: Engine,
) -> None:
    load_demo(engine)
    for n in range(5):
        accept(engine, probe(f"SRV-{n:03d}", n=n))
    dead = router(engine, "dead", lease=timedelta(seconds=30))
    taken = dead._claim()
    assert len(taken) == 5
    heir = router(engine, "heir")
    assert heir._claim() == []  # the lease still runs: the batch is somebody's
    with Session(engine) as s:  # the dead router's lease runs out
        for ob in s.exec(select(Outbox)).all():
            ob.lease_until = utcnow() - timedelta(seconds=1)
            s.add(ob)
        s.commit()
    assert heir._claim() == taken
    heir._materialize(taken)
    dead._materialize(taken)  # the old holder waking up does nothing: no longer its rows
    with Session(engine) as s:
        events = s.exec(select(AlertEventRow)).all()
    assert len(events) == 5  # parsed once, by the heir
    assert outbox_stats(engine)[0] == 5  # still to route


async def test_a_case_waits_while_an_older_message_of_it_is_in_another_routers_hands(
    engine: Engine,
) -> None:
    load_demo(engine)
    # from the demo client's registered address: a verified source, whose recovery counts
    accept(engine, probe("SRV-DC01", n=1), peer_ip="127.0.0.1")  # the problem, first
    accept(engine, probe("SRV-DC01", status="RECOVERY", n=2),
           peer_ip="127.0.0.1")  # its recovery, after
    first = router(engine, "first", batch=1)
    older = first._claim()
    first._materialize(older)  # parsed, then (say) slow to reach Temporal
    second = router(engine, "second", batch=1)
    # the recovery must not overtake its problem: held back, nothing told to Temporal
    # (this router has no Temporal client: telling it would fail the test)
    assert await second.drain_once() == 0
    with Session(engine) as s:
        waiting = s.exec(select(Outbox).where(Outbox.id != older[0])).one()
        assert (waiting.done_at, waiting.last_error, waiting.lease_until) == (
            None, WAITING, None)
        assert waiting.next_attempt_at is not None


class SlowRouter(Router):
    """A router whose Temporal takes ``delay`` seconds per call: a batch that outlasts its
    lease. Nothing is sent anywhere; each call is counted."""

    def __init__(self, *args, delay: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.delay = delay
        self.told: list[int] = []

    async def dispatch(self, route) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(self.delay)
        self.told.append(route.event_id)


async def test_a_batch_that_outlasts_its_lease_keeps_it_and_is_told_once(
    engine: Engine,
) -> None:
    load_demo(engine)
    for n, check in enumerate(("cpu", "memory", "service")):  # three cases of a known server
        accept(engine, probe("SRV-DC01", check=check, n=n), peer_ip="127.0.0.1")
    lease = timedelta(seconds=0.6)
    slow = SlowRouter(engine, client=None, task_queue="unused", name="slow",  # type: ignore[arg-type]
                      lease=lease, delay=2.0)  # three times the lease
    other = router(engine, "other", lease=lease)
    draining = asyncio.create_task(slow.drain_once())
    await asyncio.sleep(0.3)
    grabbed: list[int] = []
    while not draining.done():  # another router keeps trying, well past the first lease
        grabbed += await asyncio.to_thread(other._claim)
        await asyncio.sleep(0.2)
    assert await draining == 3
    assert grabbed == [], "a batch still in hand was taken over: its lease ran out"
    assert sorted(slow.told) == sorted(set(slow.told)) and len(slow.told) == 3
    with Session(engine) as s:
        rows = s.exec(select(Outbox)).all()
        assert all(o.done_at is not None and o.lease_until is None for o in rows)


async def test_a_renewal_never_takes_back_a_row_another_router_holds(engine: Engine) -> None:
    load_demo(engine)
    accept(engine, probe("SRV-001", n=1))
    first = router(engine, "first", lease=timedelta(seconds=30))
    taken = first._claim()
    with Session(engine) as s:  # first's lease ran out (it was stuck) and the heir took it
        ob = s.get(Outbox, taken[0])
        ob.claimed_by, ob.lease_until = "heir", utcnow() + timedelta(seconds=30)
        s.add(ob)
        s.commit()
    assert first._renew(taken) == 0
    with Session(engine) as s:
        assert s.get(Outbox, taken[0]).claimed_by == "heir"


class SlowParser(Router):
    """A router whose parsing of its batch takes longer than its lease (a large batch on a
    busy machine)."""

    def _materialize_in(self, s, outbox_ids):  # type: ignore[no-untyped-def]
        out = super()._materialize_in(s, outbox_ids)
        time.sleep(self.lease.total_seconds() * 1.5)
        return out


def test_a_batch_whose_parsing_outlasts_its_lease_is_still_its_routers_at_commit(
    engine: Engine,
) -> None:
    load_demo(engine)
    for n in range(3):
        accept(engine, probe(f"SRV-{n:03d}", n=n))
    lease = timedelta(seconds=0.5)
    slow = SlowParser(engine, client=None, task_queue="unused", name="slow",  # type: ignore[arg-type]
                      lease=lease)
    ids, _ = slow._claim_and_materialize()
    assert len(ids) == 3
    # right after the commit, the lease runs for its whole length again: nobody takes it
    assert router(engine, "other", lease=lease)._claim() == []


class NudgedDuringAnEmptyClaim(SlowRouter):
    """A router whose first empty claim races a new message: the intake stores it and
    nudges while the claim is reading (it finds nothing: the message came just after)."""

    def __init__(self, *args, engine: Engine, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.raced = False
        self._engine = engine

    def _claim_and_materialize(self):  # type: ignore[no-untyped-def]
        ids, batch = super()._claim_and_materialize()
        if not ids and not self.raced:
            self.raced = True
            accept(self._engine, probe("SRV-DC01", check="memory", n=99), peer_ip="127.0.0.1")
            self.wake.set()  # the intake's nudge, from the loop's point of view: during the claim
        return ids, batch


async def test_a_nudge_that_comes_during_a_claim_is_not_lost(engine: Engine) -> None:
    """The router polls only once a minute here, so the message stored while it was
    claiming (and finding nothing) is routed within seconds only if that nudge still wakes
    it."""
    load_demo(engine)
    r = NudgedDuringAnEmptyClaim(engine, client=None, task_queue="unused",  # type: ignore[arg-type]
                                 name="nudged", delay=0.0, engine=engine)
    running = asyncio.create_task(r.run(idle=60))
    try:
        deadline = time.monotonic() + 5
        while not r.told and time.monotonic() < deadline:  # noqa: ASYNC110 (a deadline)
            await asyncio.sleep(0.05)
    finally:
        running.cancel()
    assert r.raced and len(r.told) == 1, "the nudge that came during the claim was lost"
