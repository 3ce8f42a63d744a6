"""A client's answer to a visit proposal, from a verified link to the visit workflow.

Only a link the desk signed, before its deadline, reaches the workflow (the verified source
of the answer), and only while the visit still waits for that proposal's answer: the visit
is asked first, then the answer goes as the update ``answer`` under the id
``answer-{proposal}`` (concurrent copies of it are one update, and a completed one is not
run again), and the workflow's validator checks once more. A replayed link therefore leaves
no trace in the history; the page it shows says what the visit really is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from messages.visits import AnswerResult, ClientAnswer, VisitState, VisitView
from planning.launch import visit_handle
from planning.links import Answer, read_answer

WAITING = frozenset({VisitState.AWAITING_CLIENT, VisitState.PROPOSED})
ATTEMPTS = 3


@dataclass(frozen=True)
class AnswerOutcome:
    answer: Answer
    state: str  # the visit's state after the answer (or as found)
    date: str | None  # the visit's booked date, as the desk recorded it
    decided: bool  # this link made the proposal's decision


def update_id(answer: Answer) -> str:
    return f"answer-{answer.proposal}"


async def take_answer(client: Client, secret: str, token: str, now: datetime,
                      contact: str = "") -> AnswerOutcome:
    """Verify ``token`` (raises ``LinkRefused``) and give the answer to the visit, at most
    once per proposal."""
    answer = read_answer(secret, token, now)
    handle = visit_handle(client, answer.visit_id)
    for _ in range(ATTEMPTS):
        view: VisitView = await handle.query("view", result_type=VisitView)
        if view.state not in WAITING or view.proposal != answer.proposal:
            return AnswerOutcome(answer, view.state, view.date, False)  # nothing sent
        try:
            result: AnswerResult = await handle.execute_update(
                "answer", ClientAnswer(proposal=answer.proposal, date=answer.date,
                                       via="link", contact=contact),
                id=update_id(answer), result_type=AnswerResult)
            break
        except (WorkflowUpdateFailedError, RPCError):
            continue  # refused (an answer came first) or the run continued as new: look again
    else:
        return AnswerOutcome(answer, view.state, view.date, False)
    mine = result.decided and (result.date == answer.date if answer.date else
                               result.state not in WAITING and result.date is None)
    return AnswerOutcome(answer, result.state, result.date, mine)


async def answer_from_link(client: Client, secret: str, token: str, now: datetime,
                           contact: str = "") -> tuple[Answer, str]:
    """``take_answer`` as (answer, state reached), for scripts and tests."""
    outcome = await take_answer(client, secret, token, now, contact)
    return outcome.answer, outcome.state
