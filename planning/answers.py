"""A client's answer to a visit proposal, from a verified link to the visit workflow.

Only a link the desk signed, before its deadline, reaches the workflow (the verified source
of the answer); the workflow checks again that the proposal is the current one.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio.client import Client

from planning.launch import visit_handle
from planning.links import Answer, read_answer
from workflows.visit_types import ClientAnswer, VisitState, VisitView

WAIT_STEP_S = 0.1


async def answer_from_link(client: Client, secret: str, token: str, now: datetime,
                           contact: str = "", wait_s: float = 5.0) -> tuple[Answer, str]:
    """Verify ``token`` (raises ``LinkRefused``), signal the answer, and return it with the
    state the visit reached (waited for briefly, so the page can say "confirmed")."""
    answer = read_answer(secret, token, now)
    handle = visit_handle(client, answer.visit_id)
    await handle.signal("client_answer", ClientAnswer(
        proposal=answer.proposal, date=answer.date, via="link", contact=contact))
    state = ""
    loop = asyncio.get_running_loop()
    until = loop.time() + wait_s
    while loop.time() < until:
        view: VisitView = await handle.query("view", result_type=VisitView)
        state = view.state
        if state not in (VisitState.AWAITING_CLIENT, VisitState.PROPOSED) or \
                view.proposal != answer.proposal:
            break
        last: Any = view.timeline[-1] if view.timeline else None
        if last is not None and last.action == "client_answer_refused":
            break
        await asyncio.sleep(WAIT_STEP_S)
    return answer, state
