"""The client's answer to a visit proposal, by the signed link of the mail (no sign-in).

``GET`` only shows what the link stands for (mail scanners follow links); the button
``POST``s it. The link is verified on both (``planning.links``): a tampered one answers 400,
an expired one 410, each with a sentence for the client; only then does the answer reach the
visit workflow as a signal.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from console.auth import get_principal
from console.deps import Services, TemporalUnavailable
from console.i18n_visits import date_label
from console.web import lang_of, render
from models.tables import Client, Site
from models.types import utcnow
from models.visits import Visit
from planning.answers import answer_from_link
from planning.links import Answer, LinkRefused, link_secret, read_answer
from planning.notify import primary_contact

router = APIRouter()


def _svc(request: Request) -> Services:
    return request.app.state.services


def _facts(svc: Services, answer: Answer) -> dict[str, str]:
    with Session(svc.engine) as s:
        visit = s.get(Visit, answer.visit_id)
        client = s.get(Client, visit.client_id) if visit else None
        site = s.get(Site, visit.site_id) if visit and visit.site_id else None
        contact = primary_contact(s, visit.client_id) if visit else None
    return {"client_name": client.name if client else "", "site_name": site.name if site else "",
            "contact": contact.email if contact else ""}


async def _page(request: Request, token: str, **extra: object) -> Response:
    principal = await get_principal(request)
    status = int(str(extra.pop("status", 200)))
    return render(request, principal, "visit_answer.html", status_code=status, token=token,
                  **extra)


@router.get("/visits/answer/{token}")
async def show_answer(request: Request, token: str) -> Response:
    svc = _svc(request)
    try:
        answer = read_answer(link_secret(svc.settings), token, utcnow())
    except LinkRefused as exc:
        return await _page(request, token, refused=str(exc), status=_status(exc))
    facts = await asyncio.to_thread(_facts, svc, answer)
    return await _page(request, token, answer=answer,
                       label=date_label(lang_of(request), answer.date), **facts)


@router.post("/visits/answer/{token}")
async def give_answer(request: Request, token: str) -> Response:
    svc = _svc(request)
    secret = link_secret(svc.settings)
    try:
        answer = read_answer(secret, token, utcnow())
        facts = await asyncio.to_thread(_facts, svc, answer)
        client = await svc.temporal()
        answer, state = await answer_from_link(client, secret, token, utcnow(),
                                               contact=facts["contact"])
    except LinkRefused as exc:
        return await _page(request, token, refused=str(exc), status=_status(exc))
    except TemporalUnavailable:
        return await _page(request, token, status=503, refused=(
            "Le service est momentanément indisponible : merci de réessayer dans quelques "
            "minutes avec le même lien."))
    return await _page(request, token, done=True, answer=answer, state=state,
                       label=date_label(lang_of(request), answer.date))


def _status(exc: LinkRefused) -> int:
    return 410 if "expiré" in str(exc) else 400
