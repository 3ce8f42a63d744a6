"""What the absence, silence and backup-audit tests share: a small inventory, probe mails,
the router's database step, and a worker with the real activities (no tests here)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import Worker

from activities.absence import AbsenceActivities, AbsencePolicy
from activities.cases import CaseActivities
from intake.router import Route, Router
from intake.store import accept
from models.db import session_scope
from models.expectations import Expectation
from models.tables import AlertEventRow, Case, Client, SenderDomain, Server, Site
from records.absence import upsert_expectation
from workflows.absence import AbsenceSweepWorkflow, BackupAuditWorkflow
from workflows.case import CaseWorkflow


@dataclass(frozen=True)
class Inventory:
    """One client, two sites: Lyon (probes call it SITE-LYON) with two servers, Annecy."""

    client_id: int
    code: str
    lyon: int
    annecy: int
    srv_a: int  # Lyon
    srv_a2: int  # Lyon
    srv_b: int  # Annecy

    @property
    def domain(self) -> str:
        return f"{self.code}.example"


def make_inventory(engine: Engine) -> Inventory:
    code = f"c{uuid.uuid4().hex[:10]}"
    with session_scope(engine) as s:
        c = Client(code=code, name=f"Client {code}")
        s.add(c)
        s.flush()
        s.add(SenderDomain(domain=f"{code}.example", client_id=c.id or 0))
        lyon = Site(client_id=c.id or 0, name="Lyon — siège", link_names="SITE-LYON")
        annecy = Site(client_id=c.id or 0, name="Annecy")
        s.add_all([lyon, annecy])
        s.flush()
        ids = []
        for host, site in (("srv-a", lyon), ("srv-a2", lyon), ("srv-b", annecy)):
            srv = Server(client_id=c.id or 0, site_id=site.id, hostname=host,
                         display_name=host.upper())
            s.add(srv)
            s.flush()
            ids.append(srv.id or 0)
        return Inventory(c.id or 0, code, lyon.id or 0, annecy.id or 0, *ids)


def probe(inv: Inventory, host: str, check: str, status: str = "OK",
          target: str | None = None) -> bytes:
    """A mail of the desk's own probe (``docs/alert-event.md``), unique Message-ID."""
    lines = [f"Host: {host}", f"Check: {check}", f"Status: {status}"]
    if target:
        lines.append(f"Target: {target}")
    return (
        f"From: vigie-probe@{inv.domain}\r\nTo: alerts@desk.example\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@probe>\r\n"
        f"Subject: [VIGIE] {host} {status} {check}\r\n\r\n" + "\r\n".join(lines) + "\r\n"
    ).encode()


def tar_status(inv: Inventory, host: str, status: str) -> bytes:
    """A Linux backup script's status mail (no job name: known by host and product)."""
    return (f"From: root@{host}.{inv.domain}\r\nTo: alerts@desk.example\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@x>\r\nSubject: Backup status\r\n\r\n"
            f"Hostname: {host}\r\nStatus: {status}\r\n").encode()


def ingest(engine: Engine, *messages: bytes) -> list[Route]:
    """Stores the messages and runs the router's database step; the routes it would send."""
    for raw in messages:
        accept(engine, raw, peer_ip="127.0.0.1")  # the demo clients' registered address
    router = Router(engine, client=None, task_queue="unused")  # type: ignore[arg-type]
    return [r for _, routes in router._materialize(router._claim()) for r in routes]


def events(engine: Engine) -> list[AlertEventRow]:
    with Session(engine) as s:
        return list(s.exec(select(AlertEventRow).order_by(AlertEventRow.id)).all())  # type: ignore[arg-type]


def expectation(engine: Engine, server_id: int, kind: str = "heartbeat") -> Expectation:
    with Session(engine) as s:
        return s.exec(select(Expectation).where(Expectation.server_id == server_id,
                                                Expectation.kind == kind)).one()


def watch_heartbeat(engine: Engine, server_id: int, at: datetime, period: int = 60,
                    grace: int = 15) -> Expectation:
    return upsert_expectation(engine, server_id, "heartbeat", by="tech", period_minutes=period,
                              grace_minutes=grace, at=at)


def cases(engine: Engine, **where: object) -> list[Case]:
    with Session(engine) as s:
        q = select(Case).order_by(Case.id)  # type: ignore[arg-type]
        for k, v in where.items():
            q = q.where(getattr(Case, k) == v)
        return list(s.exec(q).all())


async def until(predicate: Callable[[], bool], within: float = 20.0,
                what: str = "condition") -> None:
    """Polls a database predicate (the worker acts after the call that woke it returns)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class AbsenceDesk:
    """A worker with the real case and absence activities on one engine and task queue."""

    def __init__(self, client: TemporalClient, engine: Engine,
                 policy: AbsencePolicy = AbsencePolicy()) -> None:
        self.client = client
        self.engine = engine
        self.task_queue = f"absence-{uuid.uuid4().hex[:8]}"
        self.pool = concurrent.futures.ThreadPoolExecutor(4)
        self.started: list[str] = []
        self.worker = Worker(
            client,
            task_queue=self.task_queue,
            workflows=[CaseWorkflow, AbsenceSweepWorkflow, BackupAuditWorkflow],
            activities=[*CaseActivities(engine).all(), *AbsenceActivities(engine, policy).all()],
            activity_executor=self.pool,
        )

    async def cleanup(self) -> None:
        """Terminates whatever still runs: its timers would fire in later tests' time skips."""
        ids = set(self.started) | {c.workflow_id for c in cases(self.engine)}
        for wid in ids:
            handle = self.client.get_workflow_handle(wid)
            try:
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate("fin du test")
            except Exception:  # never started, or already gone
                pass
        self.pool.shutdown()


def case_row(engine: Engine, **fields: object) -> int:
    """A case's projection row as a workflow's opening writes it (tests without Temporal)."""
    with session_scope(engine) as s:
        c = Case(run_id="r", **fields)  # type: ignore[arg-type]
        s.add(c)
        s.flush()
        return c.id or 0
