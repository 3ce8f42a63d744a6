"""The contract workflows' recorded scenarios (``python -m tests.record_histories --contracts``
writes their histories, ``tests/test_replay.py`` replays them): the real activities on a
throw-away SQLite database, on the time-skipping server."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlmodel import Session
from temporalio.client import WorkflowUpdateFailedError

from base.settings import Settings
from contracts import store
from messages.contracts import Activate, DecideDuration, Remedied, TerminationView
from models.db import make_engine, migrate
from planning.launch import start_visit_workflow
from planning.visits import create_visit
from tests.test_contract_workflows import PARIS, ContractDesk, contract_desk, skip, view_of
from tests.test_contracts import meet_all
from workflows.onboarding import OnboardingWorkflow
from workflows.termination import TerminationWorkflow

Scenario = Callable[[ContractDesk], Awaitable[list[str]]]


async def onboarding_activated(desk: ContractDesk) -> list[str]:
    contract, handle = await desk.onboard("client-a", users=5, servers=1)
    await view_of(handle, "installing")
    meet_all(desk.engine, contract.id or 0, but=("remote_assistance",))
    try:
        await handle.execute_update(OnboardingWorkflow.activate, Activate("admin", "admin"))
    except WorkflowUpdateFailedError:
        pass  # refused: a mandatory item is open
    store.waive_prerequisite(desk.engine, contract.id or 0, "remote_assistance",
                             reason="VPN en commande", by="manager", role="manager")
    await handle.execute_update(OnboardingWorkflow.activate, Activate("manager", "manager"))
    await handle.result()
    return [handle.id]


async def onboarding_planner_decision(desk: ContractDesk) -> list[str]:
    _contract, handle = await desk.onboard("client-b", users=5, servers=3)
    await view_of(handle, "awaiting_decision")
    await handle.execute_update(OnboardingWorkflow.decide_duration,
                                DecideDuration("planner", 2, "3 serveurs"))
    await view_of(handle, "installing")
    return [handle.id]


async def notice_terminated(desk: ContractDesk) -> list[str]:
    contract = await desk.active_contract("client-c")
    received = (await desk.now()).astimezone(PARIS).date()
    handle = await desk.notice(contract, received, False)
    await desk.status(contract.id or 0, "notice")
    await skip(desk.env, dt.timedelta(days=21))
    await view_of(handle, "terminated", TerminationView)
    return [handle.id]


async def notice_remedied(desk: ContractDesk) -> list[str]:
    contract = await desk.active_contract("client-a")
    received = (await desk.now()).astimezone(PARIS).date()
    handle = await desk.notice(contract, received, True)
    await desk.status(contract.id or 0, "notice")
    await skip(desk.env, dt.timedelta(days=12))
    await handle.signal(TerminationWorkflow.remedied, Remedied("manager", "corrigé"))
    await handle.result()
    return [handle.id]


async def immediate_termination_cancels_visits(desk: ContractDesk) -> list[str]:
    contract = await desk.active_contract("client-b")
    today = (await desk.now()).astimezone(PARIS).date()
    with Session(desk.engine) as s:
        visit = create_visit(s, contract.client_id, "preventive",
                             today + dt.timedelta(days=20), today + dt.timedelta(days=80))
        s.commit()
        vid = visit.id or 0
    await start_visit_workflow(desk.env.client, desk.engine, vid,
                               Settings(task_queue=desk.queue), desk.queue)
    handle = await desk.notice(contract, today, False, kind="immediate",
                               reason="Windows Server 2003")
    await desk.status(contract.id or 0, "terminated")
    await desk.until(lambda: any(e.action == "planner_notice" for e in _timeline(desk, contract)))
    return [handle.id]


def _timeline(desk: ContractDesk, contract: Any) -> list[Any]:
    with Session(desk.engine) as s:
        return store.timeline(s, contract.id or 0)


SCENARIOS: dict[str, Scenario] = {
    "contract_onboarding_activated": onboarding_activated,
    "contract_onboarding_planner_decision": onboarding_planner_decision,
    "contract_notice_terminated": notice_terminated,
    "contract_notice_remedied": notice_remedied,
    "contract_immediate_termination": immediate_termination_cancels_visits,
    # issue 20: termination closes the client's open cases first (PATCH_CLOSE_CASES)
    "contract_immediate_termination_closes_cases": immediate_termination_cancels_visits,
}


async def record(env: Any, histories: Path) -> list[Path]:
    """Writes each scenario's history unless a recording of that name exists (never
    replaced: the old ones are what catches an incompatible change)."""
    written = []
    for name, scenario in SCENARIOS.items():
        path = histories / f"{name}.json"
        if path.exists():
            continue
        with tempfile.TemporaryDirectory() as d:
            url = f"sqlite:///{Path(d) / 'rec.sqlite3'}"
            migrate(url)
            engine = make_engine(url)
            async with contract_desk(env, engine) as desk:
                (wid,) = await scenario(desk)
                history = await env.client.get_workflow_handle(wid).fetch_history()
            engine.dispose()
        import json

        path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
        written.append(path)
    return written
