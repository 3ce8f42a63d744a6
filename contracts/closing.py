"""A terminated client's open cases: closed through their own workflows before erasure.

Termination stops the monitoring; a case still open would keep its timers, its contact runs
and its Demande, and would block the erasure (an open Demande holds the data). Each open case
is resolved then closed by the ``resolve`` and ``close`` updates its workflow already has, as
``system`` with the termination's reason, so its ledger says why. A case whose workflow is
gone (its row only is open) has its row closed; a case whose workflow refuses is listed for
the planners to hand over by hand.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from messages.cases import ActionInput
from models.db import session_scope
from models.tables import Case

SYSTEM = "system"


def open_cases(engine: Engine, client_id: int) -> list[tuple[int, str, str]]:
    with Session(engine) as s:
        return [(c.id or 0, c.ref, c.workflow_id) for c in s.exec(
            select(Case).where(Case.client_id == client_id, col(Case.closed).is_(False))
            .order_by(col(Case.id)))]


def _close_row(engine: Engine, case_id: int) -> None:
    with session_scope(engine) as s:
        case = s.get(Case, case_id)
        if case is not None:
            case.closed, case.state = True, "closed"
            s.add(case)


async def close_open_cases(client: Client, engine: Engine, client_id: int, reason: str,
                           ) -> tuple[list[str], list[str]]:
    """(closed, to hand over by hand), by case reference; idempotent: a closed case is no
    longer listed, and a refused update changes nothing."""
    closed: list[str] = []
    by_hand: list[str] = []
    for case_id, ref, workflow_id in await asyncio.to_thread(open_cases, engine, client_id):
        handle = client.get_workflow_handle(workflow_id)
        try:
            for update in ("resolve", "close"):
                try:
                    await handle.execute_update(update, ActionInput(SYSTEM, reason))
                except WorkflowUpdateFailedError as exc:
                    message = str(getattr(exc.cause, "message", exc))
                    if "déjà" not in message and "already" not in message:
                        raise
        except WorkflowUpdateFailedError as exc:
            by_hand.append(f"{ref} : {getattr(exc.cause, 'message', exc)}")
            continue
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            await asyncio.to_thread(_close_row, engine, case_id)  # no workflow behind it
        closed.append(ref)
    return closed, by_hand
