"""Issue 21, finding 14: a router's lease renewal and its done-marking cannot deadlock.

On PostgreSQL a router deadlocked with itself once: the thread renewing the lease of its
batch locked the rows in one order while the thread recording the batch (done, deferred)
locked them in another. Now the release writes in ascending id order and the renewal takes
only rows nobody holds (``SKIP LOCKED``). Both run here at once, on real PostgreSQL, with a
trigger that makes each row's update slow, so that the two transactions overlap row by row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from intake.router import Router
from intake.store import accept
from models.tables import Outbox
from tests.test_routing import probe

SLOW_UPDATES = """
CREATE FUNCTION slow_outbox_update() RETURNS trigger AS $$
BEGIN PERFORM pg_sleep(0.01); RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER slow_outbox BEFORE UPDATE ON outbox
FOR EACH ROW EXECUTE FUNCTION slow_outbox_update();
"""


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_renewing_a_lease_while_the_batch_is_recorded_never_deadlocks(engine: Engine) -> None:
    for n in range(60):
        accept(engine, probe(f"SRV-{n:03d}", n=n))
    with engine.begin() as conn:
        conn.execute(text(SLOW_UPDATES))
    router = Router(engine, client=None, task_queue="unused", name="r",  # type: ignore[arg-type]
                    batch=20, lease=timedelta(seconds=30))
    errors: list[BaseException] = []

    def run(work: Callable[..., object], *args: object) -> None:
        try:
            work(*args)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    for _round in range(3):
        ids = router._claim()
        assert len(ids) == 20
        # the newer half told, the older half deferred (Temporal refused those)
        done, deferred = ids[10:], {oid: "UNAVAILABLE" for oid in ids[:10]}
        record = threading.Thread(target=run, args=(router._record, [], done, deferred))
        renew = threading.Thread(target=run, args=(router._renew, list(ids)))
        renew.start()
        time.sleep(0.03)  # the renewal holds the oldest rows, and the release starts
        record.start()
        for thread in (record, renew):
            thread.join(60)
        assert errors == [], errors  # no "deadlock detected" on either side
        with Session(engine) as s:
            rows = {o.id: o for o in s.exec(select(Outbox).where(col(Outbox.id).in_(ids))).all()}
        assert all(rows[oid].done_at is not None for oid in done)
        assert all(rows[oid].done_at is None and rows[oid].last_error == "UNAVAILABLE"
                   and rows[oid].next_attempt_at is not None for oid in deferred)
        assert all(row.lease_until is None or row.done_at is None for row in rows.values())
