"""From stored message to case, through a real Temporal dev server and a real worker.

Also the intake's fault scenarios: the intake process killed in the middle of a burst sent by a
retrying SMTP client, and Temporal stopped during a burst then started again. Afterwards every
acknowledged message is stored exactly once and every event routed exactly once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.worker import Worker

from intake.router import Router
from intake.store import accept
from models.db import make_engine, migrate
from models.tables import AlertEventRow, Case, Outbox, RawMessage
from tests.conftest import TEMPORAL_CLI, fresh_id
from vigie.demo import load_demo
from vigie.stack import wait_port
from vigie.temporal import build_worker
from workflows.shared import CaseView

pytestmark = pytest.mark.slow


def probe(target: str, n: int, status: str = "PROBLEM", host: str = "SRV-DC01") -> bytes:
    return (
        f"From: vigie-probe@client-a.example\r\nTo: alerts@desk.example\r\n"
        f"Message-ID: <{target}-{n}-{status}@probe>\r\n"
        f"Subject: [VIGIE] {host} {status} service: {target}\r\n\r\n"
        f"Host: {host}\r\nCheck: service\r\nTarget: {target}\r\nStatus: {status}\r\n"
    ).encode()


def cases(engine: Engine) -> list[Case]:
    with Session(engine) as s:
        return list(s.exec(select(Case).order_by(Case.id)).all())


async def until(predicate, within: float = 30.0, what: str = "condition") -> None:
    """Polls a synchronous predicate (a database read) until it holds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Desk:
    """Worker and router on one engine and task queue, in this process."""

    def __init__(self, client: Client, engine: Engine) -> None:
        self.client = client
        self.engine = engine
        self.task_queue = fresh_id("q")
        self.router = Router(engine, client, self.task_queue)
        self.pool = concurrent.futures.ThreadPoolExecutor(16)
        self.worker: Worker = build_worker(client, engine, self.task_queue, self.pool)

    async def drain(self) -> None:
        while await self.router.drain_once():
            pass


@pytest.fixture
async def desk(dev_env, sqlite_engine: Engine) -> AsyncIterator[Desk]:
    load_demo(sqlite_engine)
    d = Desk(dev_env.client, sqlite_engine)
    async with d.worker:
        yield d
    d.pool.shutdown()


async def test_a_problem_opens_a_case_and_its_repeats_fold_into_it(desk: Desk) -> None:
    target = fresh_id("svc")
    accept(desk.engine, probe(target, 1))
    await desk.drain()
    await until(lambda: any(c.target == target for c in cases(desk.engine)), what="case")
    for n in (2, 3):
        accept(desk.engine, probe(target, n))
    await desk.drain()
    await until(
        lambda: [c.repeat_count for c in cases(desk.engine) if c.target == target] == [2],
        what="two repeats",
    )
    (case,) = [c for c in cases(desk.engine) if c.target == target]
    with Session(desk.engine) as s:
        linked = s.exec(select(AlertEventRow).where(AlertEventRow.case_id == case.id)).all()
    assert len(linked) == 3


async def test_a_recovery_resolves_an_unclassified_case(desk: Desk) -> None:
    target = fresh_id("svc")
    accept(desk.engine, probe(target, 1))
    await desk.drain()
    await until(lambda: any(c.target == target for c in cases(desk.engine)), what="case")
    accept(desk.engine, probe(target, 1, status="RECOVERY"))
    await desk.drain()
    await until(
        lambda: [c.state for c in cases(desk.engine) if c.target == target] == ["resolved"],
        what="resolved",
    )


async def test_an_event_routed_twice_after_a_crash_counts_once(desk: Desk) -> None:
    target = fresh_id("svc")
    accept(desk.engine, probe(target, 1))
    accept(desk.engine, probe(target, 2))
    await desk.drain()
    await until(
        lambda: [c.repeat_count for c in cases(desk.engine) if c.target == target] == [1],
        what="one repeat",
    )
    # the router died after Temporal's acknowledgement, before it wrote it down
    with Session(desk.engine) as s:
        for ev in s.exec(select(AlertEventRow)).all():
            ev.routed_at = None
            s.add(ev)
        for ob in s.exec(select(Outbox)).all():
            ob.done_at = None
            s.add(ob)
        s.commit()
    await desk.drain()
    handle = desk.client.get_workflow_handle(
        next(c.workflow_id for c in cases(desk.engine) if c.target == target)
    )
    view = await handle.query("view", result_type=CaseView)
    assert view.repeat_count == 1


# --- faults -------------------------------------------------------------------------------


class RetryingSender(threading.Thread):
    """An MTA-like client: resends a message until it gets a 250, reconnecting as needed."""

    def __init__(self, port: int, messages: list[bytes]) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.messages = messages
        self.acked: list[bytes] = []

    def run(self) -> None:
        smtp: smtplib.SMTP | None = None
        for raw in self.messages:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if smtp is None:
                        smtp = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
                    smtp.sendmail("vigie-probe@client-a.example", ["alerts@desk.example"], raw)
                    self.acked.append(raw)
                    break
                except (OSError, smtplib.SMTPException):
                    smtp = None
                    time.sleep(0.2)


def start_ingest(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "vigie", "ingest"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_exactly_once(engine: Engine, acked: list[bytes]) -> None:
    import hashlib

    with Session(engine) as s:
        digests = list(s.exec(select(RawMessage.sha256)).all())
        assert len(digests) == len(set(digests)), "a message was stored twice"
        for raw in acked:
            assert hashlib.sha256(raw).hexdigest() in digests, "an acknowledged message is lost"
        assert s.exec(select(func.count()).select_from(Outbox).where(
            Outbox.done_at.is_(None))).one() == 0  # type: ignore[union-attr]
        events = s.exec(select(AlertEventRow)).all()
        assert all(e.routed_at is not None for e in events)
        # each target's case saw each of its events once: 1 opening + repeats
        per_target: dict[str, int] = {}
        for e in events:
            per_target[e.target or ""] = per_target.get(e.target or "", 0) + 1
        for c in s.exec(select(Case)).all():
            assert c.repeat_count + 1 == per_target[c.target or ""], c.target


async def test_killing_the_intake_mid_burst_loses_and_doubles_nothing(
    dev_env, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    load_demo(engine)
    port = free_port()
    queue = fresh_id("q")
    env = dict(os.environ)
    env.update(
        VIGIE_VAR_DIR=str(tmp_path),
        VIGIE_SMTP_PORT=str(port),
        VIGIE_TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        VIGIE_TASK_QUEUE=queue,
        DATABASE_URL=url,
        VIGIE_SECRET_KEY="test-only-" + "k" * 40,  # a DATABASE_URL means production rules
    )
    prefix = fresh_id("k")  # workflow ids follow fingerprints: keep them apart from other tests
    messages = [probe(f"{prefix}-svc{i % 7}", i) for i in range(300)]
    pool = concurrent.futures.ThreadPoolExecutor(16)
    async with build_worker(dev_env.client, engine, queue, pool):
        proc = start_ingest(env, tmp_path / "ingest.log")
        try:
            assert await asyncio.to_thread(wait_port, "127.0.0.1", port, 30)
            sender = RetryingSender(port, messages)
            sender.start()
            await until(lambda: len(sender.acked) >= 100, what="first 100 acknowledged")
            proc.send_signal(signal.SIGKILL)  # no goodbye: the worst moment for the intake
            proc.wait(10)
            await asyncio.sleep(1)
            proc = start_ingest(env, tmp_path / "ingest.log")
            await asyncio.to_thread(sender.join, 180)
            assert len(sender.acked) == len(messages)
            await until(
                lambda: _all_routed(engine), within=90, what="every message routed"
            )
            await until(lambda: _repeats_settled(engine), within=60, what="case projections")
            assert_exactly_once(engine, sender.acked)
        finally:  # never leave an intake process behind, whatever failed
            proc.kill()
            proc.wait(20)
    pool.shutdown()
    engine.dispose()


def _all_routed(engine: Engine) -> bool:
    with Session(engine) as s:
        pending = s.exec(select(func.count()).select_from(Outbox).where(
            Outbox.done_at.is_(None))).one()  # type: ignore[union-attr]
        return pending == 0


def _repeats_settled(engine: Engine) -> bool:
    with Session(engine) as s:
        per_target: dict[str, int] = {}
        for e in s.exec(select(AlertEventRow)).all():
            per_target[e.target or ""] = per_target.get(e.target or "", 0) + 1
        all_cases = s.exec(select(Case)).all()
        return bool(all_cases) and all(
            c.repeat_count + 1 == per_target.get(c.target or "", -1) for c in all_cases
        )


async def test_stopping_temporal_during_a_burst_delays_routing_but_loses_nothing(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    assert TEMPORAL_CLI
    load_demo(sqlite_engine)
    port = free_port()
    db_file = tmp_path / "temporal.sqlite3"

    def start_temporal() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [TEMPORAL_CLI, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
             "--port", str(port), "--db-filename", str(db_file), "--log-level", "error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        assert wait_port("127.0.0.1", port, 60)
        return proc

    temporal = start_temporal()
    try:
        client = await Client.connect(f"127.0.0.1:{port}")
        queue = fresh_id("q")
        router = Router(sqlite_engine, client, queue)
        pool = concurrent.futures.ThreadPoolExecutor(16)
        async with build_worker(client, sqlite_engine, queue, pool):
            prefix = fresh_id("t")
            first = [probe(f"{prefix}-{i % 5}", i) for i in range(40)]
            for raw in first:
                accept(sqlite_engine, raw)
            while await router.drain_once():
                pass
            temporal.send_signal(signal.SIGTERM)
            temporal.wait(30)
            second = [probe(f"{prefix}-{i % 5}", i) for i in range(40, 100)]
            for raw in second:  # the intake keeps accepting while Temporal is away
                accept(sqlite_engine, raw)
            await router.drain_once()  # fails and defers, does not lose
            assert not _all_routed(sqlite_engine)
            temporal = start_temporal()
            deadline = time.monotonic() + 120
            while not _all_routed(sqlite_engine) and time.monotonic() < deadline:
                with Session(sqlite_engine) as s:  # skip the back-off in the test
                    for ob in s.exec(select(Outbox).where(Outbox.done_at.is_(None))).all():  # type: ignore[union-attr]
                        ob.next_attempt_at = None
                        s.add(ob)
                    s.commit()
                try:
                    await router.drain_once()
                except Exception:  # the client is still reconnecting
                    await asyncio.sleep(0.5)
            await until(lambda: _repeats_settled(sqlite_engine), within=60,
                        what="case projections")
            assert_exactly_once(sqlite_engine, first + second)
        pool.shutdown()
    finally:
        temporal.terminate()
        temporal.wait(30)
