"""Several routers on one database: each message is claimed by one of them, a dead router's
batch is taken over once its lease has run out, and a case's events keep their order.

The claim step is pure database work: these run on SQLite and PostgreSQL without Temporal
(the whole path with processes, Temporal and a kill is ``test_scale_out.py``).
"""

from __future__ import annotations

import threading
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
