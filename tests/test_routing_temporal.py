"""From stored message to case, through a real Temporal dev server and a real worker.

Also the intake's fault scenarios: the intake process killed in the middle of a burst sent by a
retrying SMTP client, and Temporal stopped during a burst then started again. Afterwards every
acknowledged message is stored exactly once and every event routed exactly once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
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

from contracts import keys
from contracts.codec import KEY_META, signal_inputs, with_codec
from intake.router import Router
from intake.store import accept
from messages.cases import ActionInput, ActionResult, CaseView, Criticality
from messages.search import DEV_SERVER_ARGS
from models.db import make_engine, migrate
from models.tables import AlertEventRow, Case, Outbox, RawMessage
from tests.conftest import TEMPORAL_CLI, fresh_id
from vigie.demo import load_demo
from vigie.stack import wait_port
from vigie.temporal import build_worker

pytestmark = pytest.mark.slow
CLIENT_A_IP = "127.0.0.1"  # client-a's registered fixed IP: its probes come from there


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


def forget_routing(engine: Engine) -> None:
    """As after a router that told Temporal and died before writing it down: every event
    unrouted and every outbox row to do again."""
    with Session(engine) as s:
        for ev in s.exec(select(AlertEventRow)).all():
            ev.routed_at = None
            s.add(ev)
        for ob in s.exec(select(Outbox)).all():
            ob.done_at = None
            s.add(ob)
        s.commit()


class Desk:
    """Worker and router on one engine and task queue, in this process."""

    def __init__(self, client: Client, engine: Engine) -> None:
        self.client = with_codec(client, engine)  # the desk's codec, as its processes have
        self.engine = engine
        self.task_queue = fresh_id("q")
        self.router = Router(engine, self.client, self.task_queue)
        self.pool = concurrent.futures.ThreadPoolExecutor(16)
        self.worker: Worker = build_worker(self.client, engine, self.task_queue, self.pool)

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
    accept(desk.engine, probe(target, 1), peer_ip=CLIENT_A_IP)
    await desk.drain()
    await until(lambda: any(c.target == target for c in cases(desk.engine)), what="case")
    for n in (2, 3):
        accept(desk.engine, probe(target, n), peer_ip=CLIENT_A_IP)
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
    accept(desk.engine, probe(target, 1), peer_ip=CLIENT_A_IP)
    await desk.drain()
    await until(lambda: any(c.target == target for c in cases(desk.engine)), what="case")
    accept(desk.engine, probe(target, 1, status="RECOVERY"), peer_ip=CLIENT_A_IP)
    await desk.drain()
    await until(
        lambda: [c.state for c in cases(desk.engine) if c.target == target] == ["resolved"],
        what="resolved",
    )


async def problem_and_repeat(desk: Desk) -> str:
    """A problem and its repeat on a check of its own, routed; its target."""
    target = fresh_id("svc")
    accept(desk.engine, probe(target, 1), peer_ip=CLIENT_A_IP)
    accept(desk.engine, probe(target, 2), peer_ip=CLIENT_A_IP)
    await desk.drain()
    await until(
        lambda: [c.repeat_count for c in cases(desk.engine) if c.target == target] == [1],
        what="one repeat",
    )
    return target


async def test_an_event_routed_twice_after_a_crash_counts_once(desk: Desk) -> None:
    target = await problem_and_repeat(desk)
    forget_routing(desk.engine)  # the router died after Temporal's acknowledgement
    await desk.drain()
    handle = desk.client.get_workflow_handle(
        next(c.workflow_id for c in cases(desk.engine) if c.target == target)
    )
    view = await handle.query("view", result_type=CaseView)
    assert view.repeat_count == 1
    assert await alert_signals(desk.client, handle.id, events=2) == [1, 1], (
        "Temporal recorded an event twice")


async def test_the_router_seals_an_alert_under_its_client_key_not_the_desk_one(
    desk: Desk,
) -> None:
    """Erasing a client destroys its key and so every payload sealed with it: the alerts
    the router tells a case (the opening and the repeats, whose summaries name the client's
    servers) must be sealed under that client's key, never the desk's shared one."""
    target = await problem_and_repeat(desk)
    (case,) = [c for c in cases(desk.engine) if c.target == target]
    history = await desk.client.get_workflow_handle(case.workflow_id).fetch_history()
    sealed_with = [
        p.metadata[KEY_META].decode()
        for event in history.events
        if event.HasField("workflow_execution_signaled_event_attributes")
        for p in event.workflow_execution_signaled_event_attributes.input.payloads
    ]
    assert sealed_with == [keys.key_id(case.client_id)] * 2


async def signals_by_event(client: Client, workflow_id: str) -> dict[int, int]:
    """How many times each event id reached the case, in the order of its history (its
    signals sealed by the desk's codec: opened by the desk's client)."""
    seen: dict[int, int] = {}
    for signal_input in await signal_inputs(client, workflow_id, "alert"):
        eid = signal_input["event_id"]
        seen[eid] = seen.get(eid, 0) + 1
    return seen


async def alert_signals(client: Client, workflow_id: str, events: int) -> list[int]:
    """``signals_by_event`` once ``events`` events are there. A signal that comes while the
    workflow is busy waits in Temporal's buffer until its task ends: the history is read
    until it has them all, then again a moment later (a repeat still buffered shows then)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(await signals_by_event(client, workflow_id)) >= events:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    return list((await signals_by_event(client, workflow_id)).values())


async def test_an_event_told_again_after_a_lost_answer_reaches_temporal_once(
    desk: Desk,
) -> None:
    """Temporal applied the call but its answer never came back (a timeout, a router killed
    before it wrote the mark, a batch taken over after its lease): the router tells the same
    events again. The opening (signal-with-start), a repeat and a recovery (plain signals)
    each stay one signal in the case's history; a new event still gets through."""
    target = fresh_id("svc")
    for n, status in ((1, "PROBLEM"), (2, "PROBLEM"), (3, "RECOVERY")):
        accept(desk.engine, probe(target, n, status=status), peer_ip=CLIENT_A_IP)
    ids = await asyncio.to_thread(desk.router._claim)
    batch = await asyncio.to_thread(desk.router._materialize, ids)
    routes = [route for _, rs in batch for route in rs]
    assert [r.start is not None for r in routes] == [True, True, False]
    assert len({r.request_id for r in routes}) == 3  # one per event, stable per attempt
    for _ in range(2):  # told, then told again as after a lost answer
        for route in routes:
            await desk.router.dispatch(route)
    handle = desk.client.get_workflow_handle(routes[0].workflow_id)
    assert await alert_signals(desk.client, handle.id, events=3) == [1, 1, 1]
    await asyncio.to_thread(desk.router._record, [r.event_id for r in routes], ids, {})
    accept(desk.engine, probe(target, 4), peer_ip=CLIENT_A_IP)
    await desk.drain()
    assert await alert_signals(desk.client, handle.id, events=4) == [1, 1, 1, 1]


async def test_an_opening_told_again_after_its_case_closed_opens_no_second_case(
    desk: Desk,
) -> None:
    """The router told Temporal of a problem and died before it wrote that down; the case
    was judged, resolved and closed before an heir took the batch over. Temporal's request
    ids only dedupe within a run, and a closed case's id may start again (a new problem on
    the same check is a new case): the heir must see that the event already reached a case
    (it is linked to it) and not open a second one for the same mail."""
    target = fresh_id("svc")
    accept(desk.engine, probe(target, 1), peer_ip=CLIENT_A_IP)
    await desk.drain()
    await until(lambda: any(c.target == target for c in cases(desk.engine)), what="case")
    (case,) = [c for c in cases(desk.engine) if c.target == target]
    handle = desk.client.get_workflow_handle(case.workflow_id)
    for action, fields in (("classify", {"criticality": Criticality.NO_IMPACT}),
                           ("resolve", {}), ("close", {})):
        await handle.execute_update(action, ActionInput(actor="alice", **fields),
                                    result_type=ActionResult)
    await handle.result()
    forget_routing(desk.engine)  # the mark the dead router never wrote
    await desk.drain()
    await asyncio.sleep(1.0)  # a second run would have opened its row by now
    assert [c.id for c in cases(desk.engine) if c.target == target] == [case.id]
    assert (await handle.describe()).run_id == case.run_id, "a second run was started"
    with Session(desk.engine) as s:  # and the heir wrote the mark down
        (event,) = s.exec(select(AlertEventRow).where(AlertEventRow.target == target)).all()
    assert event.routed_at is not None and event.case_id == case.id


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
        VIGIE_SECRET_KEY=secrets.token_urlsafe(48),  # a production start needs one
        # one desk, one master key: the intake seals what this process's worker opens
        VIGIE_CODEC_MASTER_KEY=keys.master_key().hex(),
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
             "--port", str(port), "--db-filename", str(db_file), "--log-level", "error",
             *DEV_SERVER_ARGS],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            assert wait_port("127.0.0.1", port, 60)
        except BaseException:  # not left running beside the rest of the suite
            proc.kill()
            proc.wait(30)
            raise
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
