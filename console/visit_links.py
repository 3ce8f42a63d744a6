"""The client's answer to a visit proposal, by the signed link of the mail (no sign-in).

``GET`` only shows what the link stands for (mail scanners follow links); the button
``POST``s it. The link is verified on both (``planning.links``): a tampered one answers 400,
an expired one 410, each with a sentence for the client. A link whose proposal no longer
waits for an answer (confirmed, refused, replaced, cancelled) shows the visit as the desk
recorded it, with no button, and reaches nothing; otherwise the answer goes to the visit
workflow once (``planning.answers``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session
from temporalio.client import WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError

from console.auth import get_principal
from console.deps import Services, TemporalUnavailable
from console.i18n_visits import date_label
from console.web import lang_of, render
from models.tables import Client, Site
from models.types import utcnow
from models.visits import Visit
from planning.answers import WAITING, take_answer
from planning.links import Answer, LinkRefused, link_secret, read_answer
from planning.notify import primary_contact

router = APIRouter()

# States in which the visit's booked date holds (the page may say "confirmed on ...").
BOOKED = frozenset({"confirmed", "in_progress", "report_written", "report_sent"})


@dataclass(frozen=True)
class Found:
    """The visit as the desk recorded it, and who the link speaks for."""

    exists: bool
    state: str
    proposal: int
    date: str | None
    client_name: str
    site_name: str
    contact: str

    def waits_for(self, answer: Answer) -> bool:
        return self.exists and self.state in WAITING and self.proposal == answer.proposal


def _svc(request: Request) -> Services:
    return request.app.state.services


def _found(svc: Services, answer: Answer) -> Found:
    with Session(svc.engine) as s:
        visit = s.get(Visit, answer.visit_id)
        if visit is None:
            return Found(False, "", 0, None, "", "", "")
        client = s.get(Client, visit.client_id)
        site = s.get(Site, visit.site_id) if visit.site_id else None
        contact = primary_contact(s, visit.client_id)
        return Found(True, visit.state, visit.proposal,
                     visit.date.isoformat() if visit.date else None,
                     client.name if client else "", site.name if site else "",
                     contact.email if contact else "")


async def _page(request: Request, token: str, **extra: object) -> Response:
    principal = await get_principal(request)
    status = int(str(extra.pop("status", 200)))
    return render(request, principal, "visit_answer.html", status_code=status, token=token,
                  **extra)


async def _settled(request: Request, token: str, answer: Answer, state: str,
                   date: str | None, mine: bool = False) -> Response:
    """The visit as it stands: no button; a date only if the desk booked one."""
    booked = date if state in BOOKED and date else None
    return await _page(request, token, settled=True, answer=answer, state=state, mine=mine,
                       booked=booked, booked_label=date_label(lang_of(request), booked))


@router.get("/visits/answer/{token}")
async def show_answer(request: Request, token: str) -> Response:
    svc = _svc(request)
    try:
        answer = read_answer(link_secret(svc.settings), token, utcnow())
    except LinkRefused as exc:
        return await _page(request, token, refused=str(exc), status=_status(exc))
    found = await asyncio.to_thread(_found, svc, answer)
    if not found.exists:
        return await _page(request, token, status=410, refused=GONE)
    if not found.waits_for(answer):
        return await _settled(request, token, answer, found.state, found.date)
    return await _page(request, token, answer=answer, client_name=found.client_name,
                       site_name=found.site_name, label=date_label(lang_of(request),
                                                                   answer.date))


@router.post("/visits/answer/{token}")
async def give_answer(request: Request, token: str) -> Response:
    svc = _svc(request)
    secret = link_secret(svc.settings)
    try:
        answer = read_answer(secret, token, utcnow())
        found = await asyncio.to_thread(_found, svc, answer)
        if not found.exists:
            return await _page(request, token, status=410, refused=GONE)
        if not found.waits_for(answer):  # checked before the workflow is asked
            return await _settled(request, token, answer, found.state, found.date)
        client = await svc.temporal()
        outcome = await asyncio.wait_for(
            take_answer(client, secret, token, utcnow(), contact=found.contact), ANSWER_WAIT_S)
    except LinkRefused as exc:
        return await _page(request, token, refused=str(exc), status=_status(exc))
    except (TemporalUnavailable, RPCError, WorkflowQueryFailedError,
            WorkflowQueryRejectedError, TimeoutError):  # the same link works later
        return await _page(request, token, status=503, refused=(
            "Le service est momentanément indisponible : merci de réessayer dans quelques "
            "minutes avec le même lien."))
    return await _settled(request, token, answer, outcome.state, outcome.date,
                          mine=outcome.decided)


ANSWER_WAIT_S = 20.0
GONE = "Cette visite n'existe plus : votre interlocuteur va vous recontacter."


def _status(exc: LinkRefused) -> int:
    return 410 if "expiré" in str(exc) else 400
