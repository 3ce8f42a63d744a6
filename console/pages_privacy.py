"""Personal data on request (issue 20): a client's privacy page, erasure of one contact or of
the whole client, legal holds, the export of any client, and the Temporal UI's codec endpoint.

The rules are the data layer's (``contracts.requests``, ``contracts.privacy``); the codec is
``contracts.codec``. Every refusal comes back as a flash with its reason, never a 500.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session, col, select

from console.auth import Principal, require
from console.deps import Services
from console.pages_contracts import _flash
from console.web import redirect, render
from contracts import privacy, requests
from models.tables import Client, Contact

router = APIRouter()
CODEC_PATH = "/codec/decode"


def svc_of(request: Request) -> Services:
    return request.app.state.services


def _client_or_404(svc: Services, client_id: int) -> Client:
    with Session(svc.engine) as s:
        client = s.get(Client, client_id)
    if client is None:
        raise HTTPException(404, "Client introuvable")
    return client


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _requested(form: dict[str, str]) -> str:
    """Who asked and why, as the register keeps it ("M. Durand (DG) — a quitté…")."""
    return " — ".join(x for x in (form.get("requester", "").strip(),
                                  form.get("reason", "").strip()) if x)


@router.get("/privacy/clients/{client_id}")
def client_page(request: Request, client_id: int,
                principal: Principal = Depends(require("privacy"))) -> Response:
    svc = svc_of(request)
    client = _client_or_404(svc, client_id)
    with Session(svc.engine) as s:
        contacts = list(s.exec(select(Contact).where(Contact.client_id == client_id)
                               .order_by(col(Contact.id))))
        holds = requests.holds(s, client_id)
        asked = requests.requests_of(s, client_id)
        held = privacy.hold_reason(s, client_id)
    return render(request, principal, "privacy_client.html", client=client,
                  contacts=contacts, holds=holds, requests=asked, held=held,
                  can=principal.can)


@router.get("/privacy/clients/{client_id}/export.zip")
def export_zip(request: Request, client_id: int,
               principal: Principal = Depends(require("privacy"))) -> Response:
    """Any client, with or without a contract record."""
    svc = svc_of(request)
    _client_or_404(svc, client_id)
    blob = privacy.export_client(svc.engine, client_id, by=principal.username,
                                 role=principal.role)
    return Response(blob, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="vigie-donnees-client-{client_id}.zip"'})


@router.post("/privacy/clients/{client_id}/erase")
async def erase_client(request: Request, client_id: int,
                       principal: Principal = Depends(require("privacy.erase"))) -> Response:
    svc = svc_of(request)
    reason = _requested(await _form(request))
    try:
        summary = await asyncio.to_thread(requests.erase_client_on_request, svc.engine,
                                          client_id, by=principal.username, reason=reason)
        await asyncio.to_thread(_flash, svc, principal, True,
                                "Données effacées : " + summary.describe())
    except privacy.PrivacyError as exc:
        await asyncio.to_thread(_flash, svc, principal, False, str(exc))
    return redirect(f"/privacy/clients/{client_id}")


@router.post("/privacy/contacts/{contact_id}/erase")
async def erase_contact(request: Request, contact_id: int,
                        principal: Principal = Depends(require("privacy.erase"))) -> Response:
    svc = svc_of(request)
    form = await _form(request)
    with Session(svc.engine) as s:
        contact = s.get(Contact, contact_id)
    back = f"/privacy/clients/{contact.client_id}" if contact else "/privacy/access"
    reason = _requested(form)
    try:
        await asyncio.to_thread(requests.erase_contact, svc.engine, contact_id,
                                by=principal.username, reason=reason)
        await asyncio.to_thread(_flash, svc, principal, True, "Contact effacé partout")
    except privacy.PrivacyError as exc:
        await asyncio.to_thread(_flash, svc, principal, False, str(exc))
    return redirect(back)


@router.post("/privacy/clients/{client_id}/holds")
async def set_hold(request: Request, client_id: int,
                   principal: Principal = Depends(require("privacy"))) -> Response:
    svc = svc_of(request)
    _client_or_404(svc, client_id)
    form = await _form(request)
    try:
        await asyncio.to_thread(requests.set_hold, svc.engine, client_id,
                                reason=form.get("reason", ""), by=principal.username)
        await asyncio.to_thread(_flash, svc, principal, True, "Conservation légale posée")
    except privacy.PrivacyError as exc:
        await asyncio.to_thread(_flash, svc, principal, False, str(exc))
    return redirect(f"/privacy/clients/{client_id}")


@router.post("/privacy/holds/{hold_id}/release")
async def release_hold(request: Request, hold_id: int,
                       principal: Principal = Depends(require("privacy"))) -> Response:
    from models.privacy import LegalHold

    svc = svc_of(request)
    with Session(svc.engine) as s:
        hold = s.get(LegalHold, hold_id)
    if hold is None:
        raise HTTPException(404, "Conservation introuvable")
    await asyncio.to_thread(requests.release_hold, svc.engine, hold_id, by=principal.username)
    await asyncio.to_thread(_flash, svc, principal, True, "Conservation légale levée")
    return redirect(f"/privacy/clients/{hold.client_id}")


def _cors(request: Request, response: Response) -> Response:
    """The Temporal UI calls from its own origin: allowed when it is the configured one."""
    origin = svc_of(request).settings.codec_cors_origin.rstrip("/")
    if origin and request.headers.get("origin", "").rstrip("/") == origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Allow-Headers"] = "content-type, x-namespace"
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Vary"] = "Origin"
    return response


@router.options(CODEC_PATH)
def codec_preflight(request: Request) -> Response:
    return _cors(request, Response(status_code=204))


@router.post(CODEC_PATH)
async def codec_decode(request: Request,
                       principal: Principal = Depends(require("queue"))) -> Response:
    """Temporal's codec-server protocol, for staff: the UI shows the payloads in clear; a
    payload whose client was erased stays encrypted."""
    from contracts.codec import decode_for_ui

    try:
        body: Any = json.loads(await request.body() or b"{}")
    except ValueError:
        raise HTTPException(400, "JSON attendu : {\"payloads\": [...]}") from None
    if not isinstance(body, dict) or not isinstance(body.get("payloads", []), list):
        raise HTTPException(400, "JSON attendu : {\"payloads\": [...]}")
    decoded = await decode_for_ui(svc_of(request).engine, body)
    return _cors(request, JSONResponse(decoded))
