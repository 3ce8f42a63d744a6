"""Group commit at the intake (issue 24), with real SMTP clients on loopback and a real
database (SQLite file and PostgreSQL): each ``250`` follows the commit that holds its
message, the loop keeps taking messages while a commit is in flight, a failed commit refuses
its own batch only (``451``), a redelivered copy is recognised across batches, and outbox
ids follow acceptance.

A commit is held in flight by a real lock: another connection holds the database's write
lock on ``raw_message`` (SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``LOCK TABLE``), as a long
transaction of the router would; the writer thread waits on it while the test watches."""

from __future__ import annotations

import asyncio
import smtplib
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

import intake.store as store_module
from intake.smtp import IntakeHandler, SmtpLimits, make_smtp_factory
from intake.store import Accepted, GroupCommit, Incoming
from tests.smtp_helpers import ServerThread
from tests.test_intake_smtp import MAILBOXES

POISON = "<poison@test.example>"


def mail(tag: str) -> bytes:
    return (
        f"From: probe@client-a.example\r\nTo: alerts@desk.example\r\n"
        f"Message-ID: <{tag}@test.example>\r\nSubject: [VIGIE] SRV-{tag} PROBLEM cpu\r\n\r\n"
        f"Host: SRV-{tag}\r\nCheck: cpu\r\nStatus: PROBLEM\r\n"
    ).encode()


def serve(handler: IntakeHandler) -> ServerThread:
    """The real SMTP server; every test sender comes from 127.0.0.1, so room for them all."""
    return ServerThread(make_smtp_factory(
        handler, max_bytes=1_000_000, limits=SmtpLimits(max_per_peer=100)))


def send(port: int, data: bytes) -> int:
    """One SMTP transaction; the reply code to the end of DATA (250, or 451 refused)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        try:
            smtp.sendmail("probe@client-a.example", ["alerts@desk.example"], data)
        except smtplib.SMTPDataError as exc:
            return exc.smtp_code
        return 250


def stored_ids(engine: Engine) -> dict[str, tuple[int, int | None]]:
    """Message-ID -> (raw message id, its outbox id) as another connection sees them now."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT r.message_id, r.id, o.id FROM raw_message r"
            " LEFT JOIN outbox o ON o.raw_message_id = r.id"))
        return {m: (rid, oid) for m, rid, oid in rows}


@contextmanager
def write_lock(engine: Engine) -> Iterator[None]:
    """Holds the write lock on ``raw_message`` from another connection until the block ends."""
    if engine.dialect.name == "sqlite":
        with engine.connect():
            pass  # the engine's first connection turns the file to WAL: readers go on
        path = str(engine.url.database)
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    with engine.connect() as pg:
        pg.exec_driver_sql("LOCK TABLE raw_message IN SHARE ROW EXCLUSIVE MODE")
        try:
            yield
        finally:
            pg.rollback()


@contextmanager
def serving(engine: Engine, senders: int
            ) -> Iterator[tuple[ServerThread, ThreadPoolExecutor, GroupCommit]]:
    """A real SMTP intake on ``engine``, a pool of ``senders`` and the intake's group commit."""
    handler = IntakeHandler(engine, MAILBOXES)
    with serve(handler) as srv, ThreadPoolExecutor(senders) as pool:
        yield srv, pool, handler.store


def in_flight(srv: ServerThread, pool: ThreadPoolExecutor, store: GroupCommit, tag: str
              ) -> Future[int]:
    """Sends message ``tag`` and waits until its commit is under way (held by a lock)."""
    first = pool.submit(send, srv.port, mail(tag))
    wait_until(lambda: store.batches == 1, "in flight")
    return first


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"still not {what} after {timeout} s"
        time.sleep(0.01)


def poison(engine: Engine) -> None:
    """A real storage failure for one message: a trigger refuses its row, so the whole
    transaction holding it fails."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE INSERT ON raw_message"
                f" WHEN NEW.message_id = '{POISON}' BEGIN SELECT RAISE(ABORT, 'poisoned'); END")
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN"
                f" IF NEW.message_id = '{POISON}' THEN RAISE EXCEPTION 'poisoned'; END IF;"
                " RETURN NEW; END $$ LANGUAGE plpgsql")
            conn.exec_driver_sql("CREATE TRIGGER poison BEFORE INSERT ON raw_message"
                                 " FOR EACH ROW EXECUTE FUNCTION poison()")


def test_each_250_follows_the_commit_holding_its_message(engine: Engine) -> None:
    """24 senders at once, 5 messages each: at the moment a sender hears 250, its message
    and its outbox row are visible to another connection (committed, not merely written)."""
    handler = IntakeHandler(engine, MAILBOXES)

    def sender(n: int) -> list[str]:
        missing: list[str] = []
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=60) as smtp:
            for i in range(5):
                tag = f"s{n}-{i}"
                smtp.sendmail("probe@client-a.example", ["alerts@desk.example"], mail(tag))
                raw, outbox = stored_ids(engine).get(f"<{tag}@test.example>", (None, None))
                if raw is None or outbox is None:
                    missing.append(tag)
        return missing

    with serve(handler) as srv:
        with ThreadPoolExecutor(24) as pool:
            missing = [m for ms in pool.map(sender, range(24)) for m in ms]
    assert missing == []
    assert len(stored_ids(engine)) == 120
    store = handler.store
    assert store.messages == 120
    assert store.batches < 120  # some messages did share a commit


def test_the_loop_takes_messages_while_a_commit_is_in_flight(engine: Engine) -> None:
    """The first message's commit waits on a lock; meanwhile five more senders get through
    their whole SMTP dialogue up to DATA and wait as the next batch. Nobody hears 250 and
    nothing is visible until the lock goes; then two commits answer everyone."""
    with serving(engine, 6) as (srv, pool, store):
        with write_lock(engine):
            first = in_flight(srv, pool, store, "first")
            rest = [pool.submit(send, srv.port, mail(f"next{i}")) for i in range(5)]
            wait_until(lambda: store.waiting == 5, "gathered")
            time.sleep(0.3)
            assert not first.done() and not any(f.done() for f in rest)
        assert first.result(30) == 250
        assert [f.result(30) for f in rest] == [250] * 5
    assert store.batches == 2
    ids = stored_ids(engine)
    assert len(ids) == 6
    first_outbox = ids["<first@test.example>"][1]
    assert first_outbox is not None
    assert all((ids[f"<next{i}@test.example>"][1] or 0) > first_outbox for i in range(5))


def test_a_failed_commit_refuses_its_own_batch_only(engine: Engine) -> None:
    """Batch 1 (one message) commits; batch 2 holds a message the database refuses, so its
    three senders, and only they, hear 451 and nothing of it is stored; the next message
    commits. The two innocent senders retry, as an MTA does, and are stored once."""
    poison(engine)
    with serving(engine, 4) as (srv, pool, store):
        with write_lock(engine):
            first = in_flight(srv, pool, store, "ok1")
            batch2: list[Future[int]] = [
                pool.submit(send, srv.port, mail("b")),
                pool.submit(send, srv.port, mail("poison")),
                pool.submit(send, srv.port, mail("c")),
            ]
            wait_until(lambda: store.waiting == 3, "gathered")
        assert first.result(30) == 250
        assert [f.result(30) for f in batch2] == [451, 451, 451]
        assert send(srv.port, mail("ok2")) == 250
        assert stored_ids(engine).keys() == {"<ok1@test.example>", "<ok2@test.example>"}
        assert send(srv.port, mail("b")) == 250
        assert send(srv.port, mail("c")) == 250
    ids = stored_ids(engine)
    assert set(ids) == {f"<{t}@test.example>" for t in ("ok1", "ok2", "b", "c")}
    assert all(outbox is not None for _, outbox in ids.values())


async def test_duplicates_and_order_across_batches(engine: Engine) -> None:
    """A copy of a message already committed (redelivery, next batch) and a copy inside one
    batch are both acknowledged as duplicates with the first's id, and queued once; outbox
    ids follow the order messages were accepted, inside a batch too. The nudge runs once
    per commit that queued something, after the commit."""
    nudged: list[list[Accepted]] = []

    def on_commit(results: list[Accepted]) -> None:
        visible = {rid for rid, _ in stored_ids(engine).values()}
        assert {r.raw_message_id for r in results} <= visible  # committed before the nudge
        nudged.append(results)

    store = GroupCommit(engine, on_commit=on_commit)
    order = ["m5", "m1", "m9", "m3", "m7", "m2"]
    try:
        first = await store.accept(Incoming(mail("a")))
        loop = asyncio.get_running_loop()
        with write_lock(engine):
            held = asyncio.ensure_future(store.accept(Incoming(mail("x"))))
            await loop.run_in_executor(None, wait_until, lambda: store.batches == 2, "held")
            later = [asyncio.ensure_future(store.accept(Incoming(mail(t)))) for t in order]
            again = asyncio.ensure_future(store.accept(Incoming(mail("a"))))  # redelivered
            twice = [asyncio.ensure_future(store.accept(Incoming(mail("d")))) for _ in "12"]
            await loop.run_in_executor(
                None, wait_until, lambda: store.waiting == len(order) + 3, "gathered")
            await loop.run_in_executor(None, time.sleep, 0.2)
            assert not held.done()
        results = await asyncio.gather(held, *later, again, *twice)
        only_dups = await asyncio.gather(*(store.accept(Incoming(mail(t))) for t in "ax"))
    finally:
        store.close()
    *fresh, redelivered, d1, d2 = results
    assert not first.duplicate and all(not r.duplicate for r in fresh)
    assert redelivered.duplicate and redelivered.raw_message_id == first.raw_message_id
    assert not d1.duplicate and d2.duplicate and d2.raw_message_id == d1.raw_message_id
    assert all(r.duplicate for r in only_dups)
    ids = stored_ids(engine)
    assert len(ids) == 3 + len(order) and all(o is not None for _, o in ids.values())
    by_outbox = sorted(ids, key=lambda m: ids[m][1] or 0)
    assert by_outbox == [f"<{t}@test.example>" for t in ["a", "x", *order, "d"]]
    assert store.batches == 4 and len(nudged) == 3  # the all-duplicate batch nudges nobody


async def test_the_writer_gives_its_connection_back_when_quiet(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load the writer keeps one connection from commit to commit; a quiet intake
    holds none (on PostgreSQL, no backend kept for nothing)."""
    monkeypatch.setattr(store_module, "HOLD_SECONDS", 0.3)
    store = GroupCommit(engine)
    try:
        await asyncio.gather(*(store.accept(Incoming(mail(f"q{i}"))) for i in range(3)))
        assert engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        await asyncio.sleep(1.0)
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert not (await store.accept(Incoming(mail("q9")))).duplicate  # and takes one again
    finally:
        store.close()
    assert len(stored_ids(engine)) == 4


async def test_the_metrics_show_each_commit_its_messages_and_its_wait(engine: Engine) -> None:
    """``vigie_intake_commit_seconds`` and ``vigie_intake_commit_messages`` (what an operator
    reads to see the intake's rate coming: the senders wait for their commit): one
    observation per commit, the messages it held, and a commit held by a lock timed as long
    as the lock held it."""
    from prometheus_client import REGISTRY

    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name) or 0.0

    before = {n: sample(n) for n in ("vigie_intake_commit_seconds_count",
                                     "vigie_intake_commit_seconds_sum",
                                     "vigie_intake_commit_messages_sum")}
    store = GroupCommit(engine)
    try:
        await store.accept(Incoming(mail("alone")))
        loop = asyncio.get_running_loop()
        with write_lock(engine):
            held = asyncio.ensure_future(store.accept(Incoming(mail("held"))))
            await loop.run_in_executor(None, wait_until, lambda: store.batches == 2, "held")
            await loop.run_in_executor(None, time.sleep, 0.3)
        await held
    finally:
        store.close()
    assert sample("vigie_intake_commit_seconds_count") - before[
        "vigie_intake_commit_seconds_count"] == 2
    assert sample("vigie_intake_commit_messages_sum") - before[
        "vigie_intake_commit_messages_sum"] == 2
    assert sample("vigie_intake_commit_seconds_sum") - before[
        "vigie_intake_commit_seconds_sum"] >= 0.3
