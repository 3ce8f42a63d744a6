"""The desk spread over several processes: two intakes and two workers (each the desk's own
command, in its own process) on one Temporal dev server and one PostgreSQL, fed by a real SMTP
client that fails over between the intakes like an MTA facing an MX with two hosts.

First a burst with every process up: every message stored once, every event told to Temporal
exactly once (read back from the cases' histories: no two routers took the same message),
every case opened once, and the processes' /metrics agree. Then a burst during which one
intake and one worker are killed (SIGKILL): nothing lost, nothing doubled in the database,
the dead intake's claimed batch taken over after its lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bench.cluster import Cluster, MxSender, probe, scrape
from contracts.codec import signal_inputs, with_codec
from models.db import make_engine, migrate
from models.tables import AlertEventRow, AuditEvent, Case, Outbox, RawMessage
from tests.conftest import _PG, IN_CI, PG_URL, fresh_id, pg_schema_url
from vigie.demo import load_demo

pytestmark = pytest.mark.slow

LEASE_SECONDS = 3  # short, so the takeover of the dead intake's batch fits the test


def postgres_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one module's processes (required in CI)."""
    if not _PG:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and not reachable at {PG_URL}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} (allowed outside CI only)")
    yield from pg_schema_url()


def demo_database(url: str) -> Iterator[Engine]:
    """The schema migrated, with the demo clients the probes come from."""
    migrate(url)
    eng = make_engine(url)
    load_demo(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    yield from postgres_schema()


@pytest.fixture(scope="module")
def engine(pg_url: str) -> Iterator[Engine]:
    yield from demo_database(pg_url)


@contextlib.asynccontextmanager
async def running_cluster(dev_env, pg_url: str, logs: Path, *, routers: int = 0,
                          **extra: str) -> AsyncIterator[Cluster]:
    """Two workers and two intakes (and ``routers`` router processes) on the session's dev
    server and this module's schema, with a lease short enough for a takeover to fit."""
    c = Cluster(
        env={
            "DATABASE_URL": pg_url,
            "VIGIE_VAR_DIR": str(logs),
            "VIGIE_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "VIGIE_TASK_QUEUE": fresh_id("scale"),
            "VIGIE_ROUTER_LEASE_SECONDS": str(LEASE_SECONDS),
            "VIGIE_CONSOLE_METRICS_PORT": "0",
            **extra,
        },
        logs=logs,
    )
    try:
        await asyncio.to_thread(c.start, 2, 2, routers)
        yield c
    finally:  # never leave a process behind, whatever failed
        await asyncio.to_thread(c.stop)


@pytest.fixture(scope="module")
async def cluster(dev_env, pg_url: str, engine: Engine,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    async with running_cluster(dev_env, pg_url, tmp_path_factory.mktemp("scale-out")) as c:
        yield c


def burst(prefix: str, cases: int, per_case: int) -> list[bytes]:
    """``per_case`` problem mails for each of ``cases`` fingerprints, interleaved as they
    would arrive from many servers."""
    return [probe(f"{prefix}-svc{i}", n) for n in range(per_case) for i in range(cases)]


async def burst_killing(cluster: Cluster, messages: list[bytes], *roles: str
                        ) -> list[MxSender]:
    """Two paced MX senders; once a third of the burst is acknowledged, the first process of
    each role is killed (SIGKILL). Returns the senders once every message was acknowledged
    (by the survivors, after failing over)."""
    senders = [MxSender(cluster.smtp_ports, messages[i::2], pace=0.01, start_at=i)
               for i in range(2)]
    for s in senders:
        s.start()
    await until(lambda: sum(len(s.acked) for s in senders) >= len(messages) // 3, 60,
                "a third acknowledged")
    for role in roles:
        cluster.kill(cluster.of(role)[0])
    for s in senders:
        await asyncio.to_thread(s.join, 180)
    assert sum(len(s.acked) for s in senders) == len(messages)
    return senders


async def until(predicate, within: float, what: str, explain=None) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.25)
    detail = await asyncio.to_thread(explain) if explain is not None else ""
    raise AssertionError(f"timed out waiting for {what}{detail}")


def state(engine: Engine, prefix: str, per_case: int) -> str:
    """What is left when a scale-out test times out: unfinished outbox rows, and cases whose
    projection does not count all their events (read the process logs next)."""
    with Session(engine) as s:
        left = s.exec(select(Outbox).where(
            Outbox.done_at.is_(None))).all()  # type: ignore[union-attr]
        rows = s.exec(select(Case).where(col(Case.target).like(f"{prefix}-%"))).all()
        events = Counter(e.target for e in s.exec(select(AlertEventRow).where(
            col(AlertEventRow.target).like(f"{prefix}-%"))).all())
        unrouted = s.exec(select(func.count()).select_from(AlertEventRow).where(
            col(AlertEventRow.target).like(f"{prefix}-%"),
            AlertEventRow.routed_at.is_(None))).one()  # type: ignore[union-attr]
    behind = [(c.target, c.repeat_count, c.state) for c in rows
              if c.repeat_count + 1 != per_case]
    outbox = [(o.id, o.claimed_by, o.attempts, o.last_error[:80]) for o in left][:5]
    return (f": {len(left)} outbox rows left {outbox}; {len(rows)} cases; "
            f"events per target {sorted(set(events.values()))}; {unrouted} unrouted; "
            f"behind {behind[:5]}")


def settled(engine: Engine, prefix: str, cases: int, per_case: int) -> bool:
    """Everything routed and every case's projection counts all its events."""
    with Session(engine) as s:
        if s.exec(select(func.count()).select_from(Outbox).where(
                Outbox.done_at.is_(None))).one():  # type: ignore[union-attr]
            return False
        rows = s.exec(select(Case).where(col(Case.target).like(f"{prefix}-%"))).all()
        return len(rows) == cases and all(c.repeat_count + 1 == per_case for c in rows)


def assert_each_once(engine: Engine, prefix: str, acked: list[bytes], cases: int,
                     per_case: int) -> None:
    with Session(engine) as s:
        digests = Counter(s.exec(select(RawMessage.sha256)).all())
        assert all(n == 1 for n in digests.values()), "a message was stored twice"
        for raw in acked:
            assert hashlib.sha256(raw).hexdigest() in digests, "an acknowledged message is lost"
        events = s.exec(select(AlertEventRow).where(
            col(AlertEventRow.target).like(f"{prefix}-%"))).all()
        assert len(events) == cases * per_case
        assert all(e.routed_at is not None for e in events), "an event was not routed"
        opened = Counter(c.fingerprint for c in s.exec(select(Case).where(
            col(Case.target).like(f"{prefix}-%"))).all())
        assert len(opened) == cases and set(opened.values()) == {1}, "a case opened twice"
        by_case = {c.id: c for c in s.exec(select(Case).where(
            col(Case.target).like(f"{prefix}-%"))).all()}
        # every event linked to its own case, and counted once on its ledger
        assert all(by_case[e.case_id].fingerprint == e.fingerprint for e in events)
        lines = s.exec(select(AuditEvent).where(col(AuditEvent.case_id).in_(list(by_case)))
                       ).all()
        repeats = Counter(line.case_id for line in lines if line.action == "repeat")
        assert all(repeats[cid] == per_case - 1 for cid in by_case)
        assert len({(line.case_id, line.seq) for line in lines}) == len(lines)


async def signals_per_event(client, engine: Engine, prefix: str) -> Counter[int]:
    """How many times Temporal was told of each event, read from the cases' histories
    (sealed by the cluster's codec: opened with the desk's, on this database)."""
    with Session(engine) as s:
        workflow_ids = list(s.exec(select(Case.workflow_id).where(
            col(Case.target).like(f"{prefix}-%"))).all())
    client = with_codec(client, engine)
    told: Counter[int] = Counter()
    for wid in workflow_ids:
        for signal_input in await signal_inputs(client, wid, "alert"):
            told[signal_input["event_id"]] += 1
    return told


async def test_scale_out_two_intakes_and_two_workers_tell_each_event_once(
    cluster: Cluster, engine: Engine, dev_env
) -> None:
    prefix, cases, per_case = fresh_id("so"), 40, 4
    messages = burst(prefix, cases, per_case)
    senders = [MxSender(cluster.smtp_ports, messages[i::2], start_at=i) for i in range(2)]
    for s in senders:
        s.start()
    for s in senders:
        await asyncio.to_thread(s.join, 120)
    acked = [raw for s in senders for raw in s.acked]
    assert len(acked) == len(messages)
    await until(lambda: settled(engine, prefix, cases, per_case), 120, "every case settled",
                lambda: state(engine, prefix, per_case))
    assert_each_once(engine, prefix, acked, cases, per_case)
    told = await signals_per_event(dev_env.client, engine, prefix)
    assert len(told) == cases * per_case and set(told.values()) == {1}, (
        "an event was told to Temporal twice: two routers took the same message")
    # both intakes took mail and routed it; /metrics of each process says so
    intakes = [scrape(p.metrics_port) for p in cluster.of("ingest")]
    workers = [scrape(p.metrics_port) for p in cluster.of("worker")]
    assert all(m["vigie_messages_accepted_total"] > 0 for m in intakes)
    assert sum(m["vigie_messages_accepted_total"] for m in intakes) == len(messages)
    assert sum(m["vigie_events_routed_total"] for m in intakes) == cases * per_case
    assert sum(m["vigie_cases_opened_total"] for m in workers) == cases
    assert all("vigie_outbox_oldest_age_seconds" in m for m in intakes)


async def test_scale_out_killing_an_intake_and_a_worker_mid_burst_loses_and_doubles_nothing(
    cluster: Cluster, engine: Engine
) -> None:
    prefix, cases, per_case = fresh_id("sk"), 50, 5
    senders = await burst_killing(cluster, burst(prefix, cases, per_case), "ingest", "worker")
    acked = [raw for s in senders for raw in s.acked]
    assert sum(s.failovers for s in senders) > 0  # the MX fallback was exercised
    await until(lambda: settled(engine, prefix, cases, per_case), 150, "every case settled",
                lambda: state(engine, prefix, per_case))
    assert_each_once(engine, prefix, acked, cases, per_case)

