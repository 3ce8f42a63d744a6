"""The JSON API: read cases through ``models``, act on them only through workflow updates.

Every route but ``/api/healthz`` requires a caller (session cookie or bearer token, see
``console.auth``; each route's role policy is declared in ``console.access``). A client user
sees its own company's cases only, through the portal's own serializer
(``console.client_view``): the API shows a client exactly what its portal page shows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session, col, select
from temporalio.client import (
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from base.refkey import reference_key
from console.auth import Principal, require
from console.client_view import client_case_detail, client_case_summary
from console.deps import Services, TemporalUnavailable
from console.health import health
from console.idempotency import update_id
from console.queries import QueueFilter, case_summary, load_case, queue_page
from console.sent import sent_dict
from console.sla import effective_policy, sla_for
from console.web import log_read, too_long
from domain.header_text import has_line_break
from messages.cases import ActionInput, CaseView, Criticality
from messages.comms import Channel, ContactOutcome
from models.tables import AuditEvent, Case, Communication, Server
from models.types import utcnow

log = logging.getLogger("vigie.console")

public = APIRouter(prefix="/api")
router = APIRouter(prefix="/api", dependencies=[Depends(require())])

ACTIONS = frozenset(
    {
        "classify",
        "add_note",
        "record_contact",
        "register_demande",
        "start_l1",
        "escalate_l2",
        "resolve",
        "close",
        "reopen",
        "assign",
        "send_instructions",
    }
)
UPDATE_TIMEOUT_S = 30.0


def svc_of(request: Request) -> Services:
    return request.app.state.services


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


@public.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    result = await health(svc_of(request))
    ok = all(v == "ok" for v in result.values())
    return JSONResponse({"status": "ok" if ok else "degraded", **result}, 200 if ok else 503)


@router.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require("queue"))])
async def openapi(request: Request) -> JSONResponse:
    """The route list is the desk's map: staff only."""
    return JSONResponse(request.app.openapi())


@router.get("/cases")
def get_cases(
    request: Request,
    all: bool = False,
    client_id: int | None = None,
    state: str | None = None,
    family: str | None = None,
    criticality: str | None = None,
    assignee: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Open cases (``all=true``: closed ones too), most urgent first, then oldest."""
    if request.state.client_scope is not None:
        assignee = None  # a staff-only field: no filter on it either (no oracle on names)
    flt = QueueFilter(
        client_id=client_id,
        criticality=criticality,
        state=state,
        family=family,
        assignee=assignee,
        include_closed=all,
        client_view=svc_of(request).settings.portal_cases,
    )
    scope = request.state.client_scope
    with Session(svc_of(request).engine) as s:
        rows = queue_page(s, flt, scope, offset=offset, limit=limit)
    if scope is not None:  # a client: the portal's lines, nothing more
        key = reference_key(svc_of(request).settings)
        return [jsonable(client_case_summary(c, key)) for c, _ in rows]
    return [case_summary(c, name) for c, name in rows]


def ledger_of(svc: Services, case_id: int) -> list[AuditEvent]:
    with Session(svc.engine) as s:
        return list(
            s.exec(
                select(AuditEvent)
                .where(AuditEvent.case_id == case_id)
                .order_by(col(AuditEvent.at), col(AuditEvent.seq))
            ).all()
        )


async def case_view(svc: Services, c: Case) -> CaseView | None:
    """The workflow's own account of the case (None if Temporal cannot answer now).

    Bounded by ``VIGIE_CONSOLE_QUERY_TIMEOUT``; without Temporal configured, or just after a
    failed connection, it returns at once and the page falls back to the ledger.
    """
    timeout = svc.settings.console_query_timeout
    try:
        client = await svc.temporal()
        # The newest run first (a case survives continue-as-new); a closed case whose
        # workflow id was reused by a later case is asked on its own run instead.
        handle = client.get_workflow_handle(c.workflow_id)
        view = await asyncio.wait_for(handle.query("view", result_type=CaseView), timeout)
        if view.case_id is not None and view.case_id != c.id:
            handle = client.get_workflow_handle(c.workflow_id, run_id=c.run_id)
            view = await asyncio.wait_for(handle.query("view", result_type=CaseView), timeout)
        return view
    except (
        RPCError,
        TimeoutError,
        OSError,
        RuntimeError,
        ApplicationError,
        WorkflowQueryFailedError,
        WorkflowQueryRejectedError,
    ):
        return None


def _read_case(svc: Services, case_id: int, scope: int | None) -> dict[str, Any]:
    with Session(svc.engine) as s:
        found = load_case(s, case_id, scope, svc.settings.portal_cases)
        if found is None:
            raise HTTPException(404, "Cas introuvable")
        c, client = found
        policy = effective_policy(s, svc.settings)
        server = s.get(Server, c.server_id) if c.server_id is not None else None
    ledger = ledger_of(svc, case_id)
    out = case_summary(c, client.name if client else None)
    out["_case"] = c
    out["server"] = (server.display_name or server.hostname) if server else None
    out["sla"] = sla_for(ledger, policy, utcnow())
    if scope is None:  # staff only: a client user never reads the desk's mail through here
        with Session(svc.engine) as s:
            comms = s.exec(
                select(Communication)
                .where(Communication.case_id == case_id)
                .order_by(col(Communication.created_at), col(Communication.id))
            ).all()
        out["communications"] = [
            {
                "id": m.id,
                "channel": m.channel,
                "step": m.step,
                "status": m.status,
                "recipient": m.recipient,
                "subject": m.subject,
                "sent_at": m.sent_at.isoformat() if m.sent_at else None,
                **sent_dict(m),
            }
            for m in comms
        ]
    out["ledger"] = [
        {
            "seq": a.seq,
            "at": a.at.isoformat(),
            "action": a.action,
            "actor": a.actor,
            "from_state": a.from_state,
            "to_state": a.to_state,
            "reason": a.reason,
            "data": a.data,
        }
        for a in ledger
    ]
    return out


def _read_client_case(svc: Services, case_id: int, scope: int) -> dict[str, Any]:
    with Session(svc.engine) as s:
        found = load_case(s, case_id, scope, svc.settings.portal_cases)
        if found is None:
            raise HTTPException(404, "Cas introuvable")
        return client_case_detail(s, *found, reference_key(svc.settings))


# What the case row projects from its workflow, taken from the live view when there is one:
# an activity writes the row after the workflow task, so the row may lag the view, and a
# reader must not see the state of one moment beside the flags of another (a case shown
# resolved by its recovery, yet not recovered).
LIVE_FIELDS = ("state", "criticality", "repeat_count", "last_seen", "recovered", "assignee",
               "demande_ref", "l1_deadline")


@router.get("/cases/{case_id}")
async def get_case(request: Request, case_id: int) -> dict[str, Any]:
    svc = svc_of(request)
    scope = request.state.client_scope
    if scope is not None:  # a client: exactly the portal's case page
        return jsonable(await asyncio.to_thread(_read_client_case, svc, case_id, scope))
    out = await asyncio.to_thread(_read_case, svc, case_id, None)
    principal = request.state.principal
    await asyncio.to_thread(log_read, request, principal, out["_case"].client_id, "case",
                            case_id)
    view = await case_view(svc, out.pop("_case"))
    if view is not None:
        out.update({name: jsonable(getattr(view, name)) for name in LIVE_FIELDS})
        out["next_steps"] = jsonable(view.next_steps)
        out["timeline"] = jsonable(view.timeline)
        out["live"] = True
    else:
        out["next_steps"] = []
        out["timeline"] = out["ledger"]
        out["live"] = False
    return out


def action_input(actor: str, body: dict[str, Any], max_text: int = 10_000) -> ActionInput:
    """Builds the update argument, refusing unknown enum values with a French message, a
    line break in a one-line field (an assignee or a reference can reach a mail header),
    and a text longer than ``max_text`` (``VIGIE_NOTE_MAX_CHARS``: 413, never cut short)."""
    too_long(body.get("text"), max_text, "Texte")
    too_long(body.get("reason"), 2000, "Motif")
    for field in ("assignee", "demande_ref", "criticality", "channel", "outcome"):
        value = body.get(field)
        if value is not None and not isinstance(value, str):
            raise HTTPException(422, f"Valeur invalide : « {field} » doit être un texte")
        if value and has_line_break(value):
            raise HTTPException(
                422, f"Valeur invalide : « {field} » : retour à la ligne interdit")
    try:
        return ActionInput(
            actor=actor,
            reason=str(body.get("reason") or ""),
            criticality=Criticality(body["criticality"]) if body.get("criticality") else None,
            channel=Channel(body["channel"]) if body.get("channel") else None,
            outcome=ContactOutcome(body["outcome"]) if body.get("outcome") else None,
            text=str(body.get("text") or ""),
            assignee=body.get("assignee") or None,
            demande_ref=body.get("demande_ref") or None,
        )
    except ValueError as exc:
        raise HTTPException(422, f"Valeur invalide : {exc}") from exc


async def run_action(
    svc: Services, c: Case, action: str, inp: ActionInput, update_id: str | None = None
) -> tuple[int, dict[str, Any]]:
    """Runs one workflow update; a refusal is a 409 with the workflow's own reason.
    ``update_id`` (from the request's idempotency key, ``console.idempotency``): Temporal
    runs an update of a given id once per run and answers a repeat with its outcome."""
    if action not in ACTIONS:
        return 404, {"accepted": False, "message": f"Action inconnue : {action}"}
    try:
        client = await svc.temporal()
    except TemporalUnavailable as exc:
        return 503, {"accepted": False, "message": str(exc)}
    handle = client.get_workflow_handle(c.workflow_id, first_execution_run_id=c.run_id)
    try:
        result = await asyncio.wait_for(handle.execute_update(action, inp, id=update_id),
                                        UPDATE_TIMEOUT_S)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        msg = getattr(cause, "message", None) or str(cause or exc)
        return 409, {"accepted": False, "message": msg}
    except ApplicationError as exc:
        return 409, {"accepted": False, "message": exc.message}
    except RPCError as exc:
        return 409, {"accepted": False, "message": f"Cas non modifiable : {exc.message}"}
    except TimeoutError:
        return 504, {"accepted": False, "message": "Le cas n'a pas répondu à temps"}
    payload = jsonable(result) if not isinstance(result, dict) else result
    if isinstance(payload, dict) and payload.get("accepted") is False:
        return 409, payload
    log.info("action: %s sur %s par %s", action, c.ref, inp.actor)
    return 200, payload


def case_for_action(svc: Services, case_id: int) -> Case:
    with Session(svc.engine) as s:
        found = load_case(s, case_id, None)
    if found is None:
        raise HTTPException(404, "Cas introuvable")
    return found[0]


@router.post("/cases/{case_id}/actions/{action}")
async def post_action(
    request: Request,
    case_id: int,
    action: str,
    principal: Principal = Depends(require("case.act")),
) -> JSONResponse:
    svc = svc_of(request)
    c = await asyncio.to_thread(case_for_action, svc, case_id)
    try:
        body = await request.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        raise HTTPException(422, "Le corps doit être un objet JSON")
    inp = action_input(principal.username, body, svc.settings.note_max_chars)
    status, payload = await run_action(svc, c, action, inp, update_id(request, action))
    return JSONResponse(payload, status)
