"""A "ko" on the on-site checklist opens a case, or a Demande, in one click.

The case is an ordinary case workflow (the one the intake starts), named after the visit and
the item (fingerprint ``visit:{visit_id}:{item}``), so a second click finds the same case
instead of opening another. A case is classified minor; a Demande is a significant case
whose support request is registered at once (3.2.3).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client

from messages.cases import (
    CASE_PATH,
    ActionInput,
    AlertSignal,
    CaseInput,
    Criticality,
    case_workflow_id,
)
from models.tables import Case
from models.types import utcnow
from models.visits import Visit
from planning import checklist
from planning.notify import visit_ref

CASE_WORKFLOW = "CaseWorkflow"


REF_WAIT_S = 10.0  # how long the console waits for the new case's row (its reference)


async def _case_ref(engine: Engine, fingerprint: str, wait_s: float) -> str | None:
    """The reference of the case the workflow is writing (its first activity), once there."""
    loop = asyncio.get_running_loop()
    until = loop.time() + wait_s
    while True:
        with Session(engine) as s:
            ref = s.exec(select(Case.ref).where(Case.fingerprint == fingerprint)
                         .order_by(col(Case.id).desc())).first()
        if ref or loop.time() >= until:
            return ref or None
        await asyncio.sleep(0.1)


async def open_case_from_item(client: Client, engine: Engine, settings: Any, visit_id: int,
                              key: str, kind: str, actor: str,
                              wait_s: float = REF_WAIT_S) -> str:
    """The case's reference, as the queue and the case page show it (never a workflow id:
    a person reads it); while the case's row is still being written, a sentence naming the
    visit and item. Raises ValueError when the item is not "ko"."""
    with Session(engine) as s:
        visit = s.get(Visit, visit_id)
        if visit is None:
            raise ValueError("Visite introuvable")
        item = next((it for it in checklist.items_of(s, visit_id) if it.key == key), None)
        if item is None or item.answer != "ko":
            raise ValueError("Seul un point « KO » ouvre un cas")
        client_id = visit.client_id
        fingerprint = f"visit:{visit_id}:{key}"
        pending = f"{visit_ref(visit_id)}, {item.label} (référence attribuée sous peu)"
        existing = s.exec(select(Case).where(Case.fingerprint == fingerprint,
                                             col(Case.closed).is_(False))).first()
        if existing is not None and existing.ref:
            return existing.ref
    if existing is not None:  # a second click while the first case's row is written
        return await _case_ref(engine, fingerprint, wait_s) or pending
    title = f"Visite {visit_ref(visit_id)} : {item.label} KO"
    if item.notes:
        title += f" — {item.notes[:200]}"
    now = utcnow()
    criticality = Criticality.SIGNIFICANT if kind == "demande" else Criticality.MINOR
    wid = case_workflow_id(fingerprint)
    handle = await client.start_workflow(
        CASE_WORKFLOW,
        CaseInput(fingerprint=fingerprint, client_id=client_id, server_id=None, host=None,
                  family="visit", check=key, target=None, title=title, opened_at=now,
                  preset_criticality=criticality,
                  preset_reason=f"constaté sur site par {actor} (visite {visit_ref(visit_id)})",
                  timezone=settings.timezone, business_start=settings.business_start,
                  business_end=settings.business_end, l1_minutes=settings.l1_minutes,
                  auto_close_hours=settings.auto_close_hours, path=CASE_PATH),
        id=wid,
        task_queue=settings.task_queue,
        start_signal="alert",
        start_signal_args=[AlertSignal(event_id=None, status="problem", received_at=now,
                                       summary=title, opening=True)],
    )
    if kind == "demande":
        try:
            await handle.execute_update("register_demande", ActionInput(
                actor=actor, reason=f"point de contrôle KO : {item.label}"))
        except Exception as exc:  # already registered (second click): the case is the same
            if "impossible" not in str(getattr(exc, "cause", exc)):
                raise
    return await _case_ref(engine, fingerprint, wait_s) or pending
