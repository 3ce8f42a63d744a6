"""Starting a visit's workflow and talking to it, for the console and the demo.

The visit row is committed first (it holds the workflow id); starting twice is harmless: a
workflow already running under ``visit-{id}`` is simply kept.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from messages.visits import VisitInput, visit_workflow_id
from models.tables import Site
from models.visits import Visit
from planning.site_days import own_days

VISIT_WORKFLOW = "VisitWorkflow"


def reminder_hours(text: str) -> tuple[int, ...]:
    """``VIGIE_VISIT_REMINDER_HOURS`` ("48,96") as hours, ignoring blanks."""
    return tuple(int(p) for p in (x.strip() for x in text.split(",")) if p)


def visit_input(session: Session, visit: Visit, settings: Any) -> VisitInput:
    site = session.get(Site, visit.site_id) if visit.site_id else None
    days = own_days(session, site)
    return VisitInput(
        visit_id=visit.id or 0,
        client_id=visit.client_id,
        kind=visit.kind,
        days=visit.days,
        due_start=visit.due_start.isoformat(),
        due_end=visit.due_end.isoformat(),
        site_subdiv=site.calendar_subdiv if site else None,
        timezone=settings.timezone,
        reminder_hours=reminder_hours(settings.visit_reminder_hours),
        answer_hours=settings.visit_answer_hours,
        day_before_at=settings.visit_day_before_at,
        consultant_id=visit.consultant_id,
        site_closed=tuple(sorted(d.isoformat() for d in days.closed)),
        site_open=tuple(sorted(d.isoformat() for d in days.opened)),
    )


async def start_visit_workflow(
    client: Client, engine: Engine, visit_id: int, settings: Any, task_queue: str | None = None
) -> WorkflowHandle[Any, Any]:
    """Start (or find) the workflow of a committed visit row."""
    with Session(engine) as s:
        visit = s.get(Visit, visit_id)
        if visit is None:
            raise ValueError(f"visite {visit_id} introuvable")
        inp = visit_input(s, visit, settings)
    wid = visit_workflow_id(visit_id)
    try:
        return await client.start_workflow(
            VISIT_WORKFLOW,
            inp,
            id=wid,
            task_queue=task_queue or settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # a finished visit (report sent, cancelled) is never started again
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(wid)


def visit_handle(client: Client, visit_id: int) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(visit_workflow_id(visit_id))


async def ensure_visit_workflows(client: Client, engine: Engine, settings: Any) -> int:
    """Starts the workflow of every open visit row that has none running (rows created by
    the demo, or while Temporal was down); already running ones are kept as they are."""
    from sqlmodel import col, select

    from messages.visits import FINAL_STATES

    with Session(engine) as s:
        ids = list(s.exec(select(Visit.id).where(
            col(Visit.state).not_in(list(FINAL_STATES)))).all())
    for vid in ids:
        await start_visit_workflow(client, engine, vid or 0, settings)
    return len(ids)
