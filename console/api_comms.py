"""The desk's outbox in the console: every mail, SMS and call of a case, with its evidence.

In the embedded stack nothing leaves the machine (captured mail, dry-run calls and SMS): this
is where a demo shows what *would* have been sent. Staff only (``queue``); a client user
never sees another company's messages because it cannot read this at all. Sending
instructions goes through the case workflow's ``send_instructions`` update, like every
action on a case.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session, col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from console.auth import Principal, require
from console.deps import Services, TemporalUnavailable
from console.idempotency import update_id
from console.sent import sent_dict
from console.web import log_read, too_long
from messages.cases import ActionInput, ActionResult
from messages.comms import Channel
from models.tables import Case, Communication, CommunicationEvent

router = APIRouter(prefix="/api", dependencies=[Depends(require("queue"))])
UPDATE_TIMEOUT_S = 30.0


def _svc(request: Request) -> Services:
    return request.app.state.services


def comm_dict(row: Communication, *, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "key": row.key,
        "case_id": row.case_id,
        "step": row.step,
        "attempt": row.attempt,
        "channel": row.channel,
        "transport": row.transport,
        "recipient": row.recipient,
        "subject": row.subject,
        "status": row.status,
        "provider_id": row.provider_id,
        "message_id": row.message_id,
        "evidence": row.evidence,
        "created_at": row.created_at.isoformat(),
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
    }
    if full:
        out["body"] = row.body
        out["raw"] = row.raw
        out.update(sent_dict(row))  # headers and text, as the case page shows them
    return out


@router.get("/comms")
def list_comms(
    request: Request,
    case_id: int | None = None,
    channel: str | None = None,
    transport: str | None = Query(default=None, description="capture, dry-run, smtp, twilio"),
    limit: int = Query(default=100, ge=1, le=500),
    principal: Principal = Depends(require("queue")),
) -> dict[str, Any]:
    """Newest first; ``transport=capture`` is the local capture mailbox, ``dry-run`` the
    calls and SMS that were only recorded."""
    q = select(Communication).order_by(col(Communication.id).desc()).limit(limit)
    if case_id is not None:
        q = q.where(Communication.case_id == case_id)
    if channel:
        q = q.where(Communication.channel == channel)
    if transport:
        q = q.where(Communication.transport == transport)
    with Session(_svc(request).engine) as s:
        rows = s.exec(q).all()
        clients = _clients_of(s, list(rows))
    for client_id in clients:
        log_read(request, principal, client_id, "communications")
    return {"items": [comm_dict(r) for r in rows]}


def _clients_of(s: Session, rows: list[Communication]) -> list[int]:
    """The clients whose communications are in a response (recipients are personal data):
    through the case, the contact written to, or the visit whose mail it is."""
    from models.tables import Contact
    from models.visits import Visit

    found: set[int | None] = set()
    case_ids = sorted({r.case_id for r in rows if r.case_id is not None})
    if case_ids:
        found |= set(s.exec(select(Case.client_id).where(col(Case.id).in_(case_ids))).all())
    contact_ids = sorted({r.contact_id for r in rows if r.contact_id is not None})
    if contact_ids:
        found |= set(s.exec(select(Contact.client_id).where(
            col(Contact.id).in_(contact_ids))).all())
    visit_wids = sorted({r.workflow_id for r in rows if (r.workflow_id or "").startswith(
        "visit-")})
    if visit_wids:
        found |= set(s.exec(select(Visit.client_id).where(
            col(Visit.workflow_id).in_(visit_wids))).all())
    return sorted(c for c in found if c is not None)


@router.get("/comms/{comm_id}")
def get_comm(request: Request, comm_id: int,
             principal: Principal = Depends(require("queue"))) -> dict[str, Any]:
    """One communication: the message as sent (or would have been) and its evidence."""
    with Session(_svc(request).engine) as s:
        row = s.get(Communication, comm_id)
        if row is None:
            raise HTTPException(404, "Communication introuvable")
        events = s.exec(
            select(CommunicationEvent)
            .where(CommunicationEvent.communication_id == comm_id)
            .order_by(col(CommunicationEvent.id))
        ).all()
        clients = _clients_of(s, [row])
    for client_id in clients:
        log_read(request, principal, client_id, "communication", comm_id)
    out = comm_dict(row, full=True)
    out["events"] = [
        {"at": e.at.isoformat(), "source": e.source, "status": e.status, "detail": e.detail}
        for e in events
    ]
    return out


@router.post("/cases/{case_id}/instructions")
async def send_instructions(
    request: Request, case_id: int, principal: Principal = Depends(require("case.act"))
) -> JSONResponse:
    """``{"channel": "email"|"sms"|"phone", "text": "..."}``: the case sends them (a refusal
    is a 409 with the workflow's reason, in French)."""
    svc = _svc(request)
    try:
        body = await request.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        raise HTTPException(422, "Le corps doit être un objet JSON")
    try:
        channel = Channel(body["channel"]) if body.get("channel") else None
    except ValueError as exc:
        raise HTTPException(422, f"Canal invalide : {body.get('channel')}") from exc
    too_long(body.get("text"), svc.settings.note_max_chars, "Texte")
    too_long(body.get("reason"), 2000, "Motif")
    inp = ActionInput(actor=principal.username, channel=channel,
                      text=str(body.get("text") or ""),
                      reason=str(body.get("reason") or ""))
    with Session(svc.engine) as s:
        case = s.get(Case, case_id)
    if case is None:
        raise HTTPException(404, "Cas introuvable")
    try:
        client = await svc.temporal()
    except TemporalUnavailable as exc:
        return JSONResponse({"accepted": False, "message": str(exc)}, 503)
    handle = client.get_workflow_handle(case.workflow_id, first_execution_run_id=case.run_id)
    try:
        result = await asyncio.wait_for(
            handle.execute_update("send_instructions", inp, result_type=ActionResult,
                                  id=update_id(request, "send_instructions")),
            UPDATE_TIMEOUT_S,
        )
    except WorkflowUpdateFailedError as exc:
        message = getattr(exc.cause, "message", None) or str(exc.cause or exc)
        return JSONResponse({"accepted": False, "message": message}, 409)
    except RPCError as exc:
        return JSONResponse({"accepted": False, "message": f"Cas non modifiable : {exc.message}"},
                            409)
    except TimeoutError:
        return JSONResponse({"accepted": False, "message": "Le cas n'a pas répondu à temps"}, 504)
    return JSONResponse({"accepted": result.accepted, "state": result.state,
                         "message": result.message})
