"""The technicians' pages: the queue (with live refresh), a case, unmatched messages.

A case page reads the projection and the ledger from the database and asks the workflow
for its view (guided next steps); when Temporal is absent or slow the page still renders,
quickly, from the ledger, and says so. Buttons run workflow updates; a refusal comes back
as the workflow's own French sentence, shown as is.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from console.api import action_input, case_for_action, case_view, run_action
from console.auth import Principal, require, set_flash
from console.deps import Services
from console.i18n import FAMILY_LABELS, N_, gettext
from console.i18n_incidents import CHILD_STATE_FR
from console.idempotency import not_final, update_id
from console.mail import MessageView, message_view
from console.params import page_number, parse_int
from console.queries import (
    CRITICALITIES,
    PAGE_SIZE,
    UNCLASSIFIED,
    QueueFilter,
    client_choices,
    load_case,
    open_counts,
    queue_page,
    queue_total,
)
from console.sla import case_sla, effective_policy
from console.web import lang_of, log_read, log_reads, redirect, render, render_fragment
from domain.sensors import condition_for
from domain.sla import CaseSla
from messages.cases import STATE_LABELS, ActionInput, Criticality
from messages.comms import Channel, ContactOutcome
from models.db import session_scope
from models.tables import (
    AlertEventRow,
    AuditEvent,
    Case,
    Client,
    Communication,
    Contact,
    Demande,
    RawMessage,
    SenderDomain,
    Server,
)
from models.types import utcnow
from records import triage
from records.incidents import PARENT_FAMILIES, Family, children_by_incident, family_of
from records.storms import current_storms, storm_cases

router = APIRouter()

EVENTS_SHOWN = 20
ACTION_FIELDS = ("reason", "criticality", "channel", "outcome", "text", "assignee", "demande_ref")


def svc_of(request: Request) -> Services:
    return request.app.state.services


# --- queue -------------------------------------------------------------------------------------


def queue_filter(request: Request, principal: Principal) -> QueueFilter:
    p = request.query_params
    client = p.get("client", "")
    return QueueFilter(
        client_id=parse_int(client),
        criticality=p.get("class") or None,
        state=p.get("state") or None,
        family=p.get("family") or None,
        assignee=principal.username if p.get("mine") else None,
    )


def _page_number(request: Request) -> int:
    return page_number(request.query_params.get("page"))


def _queue_data(svc: Services, flt: QueueFilter, page: int) -> dict[str, Any]:
    """Rows, their total, the tabs' counts under the same filters (all but the class, which
    the tabs choose: each tab's count is the rows it would list) and the desk-wide counts of
    the title."""
    with Session(svc.engine) as s:
        rows = queue_page(s, flt, None, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        total = queue_total(s, flt, None)
        counts = open_counts(s, None)
        tabs = counts if flt == QueueFilter(criticality=flt.criticality) else open_counts(
            s, None, replace(flt, criticality=None))
        children = children_by_incident(
            s, [c.id or 0 for c, _ in rows if c.family in PARENT_FAMILIES])
        storms = current_storms(s)
    return {"rows": rows, "total": total, "counts": counts, "tabs": tabs,
            "children": children, "child_state": CHILD_STATE_FR, "storms": storms}


def queue_title(counts: dict[str, int], lang: str) -> str:
    """The browser tab says how much is waiting: "(12) Vigie — File d'attente"."""
    label = gettext(lang, N_("File d'attente"))
    major = counts.get("major", 0)
    prefix = f"({counts.get('total', 0)}" + (f" · {major}!" if major else "") + ")"
    return f"{prefix} Vigie — {label}"


@router.get("/queue")
def queue(request: Request, principal: Principal = Depends(require("queue"))) -> Response:
    svc = svc_of(request)
    flt = queue_filter(request, principal)
    page = _page_number(request)
    data = _queue_data(svc, flt, page)
    with Session(svc.engine) as s:
        clients = client_choices(s)
    # the queue shows case titles (an alert may name a person): one line per client shown;
    # its live refresh is not logged again
    log_reads(request, principal, [c.client_id for c, _ in data["rows"]], "queue")
    return render(
        request,
        principal,
        "queue.html",
        title=queue_title(data["counts"], lang_of(request)),
        flt=flt,
        page=page,
        pages=max(1, -(-data["total"] // PAGE_SIZE)),
        clients=clients,
        families=sorted(FAMILY_LABELS),
        states=list(STATE_LABELS),
        classes=[*CRITICALITIES, UNCLASSIFIED],
        **data,
    )


@router.get("/queue/live")
def queue_live(request: Request, principal: Principal = Depends(require("queue"))) -> Response:
    """What the queue page's script polls: new rows and counts, as one small JSON."""
    svc = svc_of(request)
    flt = queue_filter(request, principal)
    data = _queue_data(svc, flt, _page_number(request))
    rows_html = render_fragment(request, principal, "queue_rows.html", rows=data["rows"],
                                children=data["children"], child_state=CHILD_STATE_FR)
    return JSONResponse(
        {
            "title": queue_title(data["counts"], lang_of(request)),
            "total": data["total"],
            "counts": data["tabs"],
            "rows": rows_html,
        }
    )


BULK_ACTIONS = ("classify", "assign")  # a storm's bulk classify, or acknowledge (take them)


@router.post("/queue/storm")
async def queue_storm_act(
    request: Request, principal: Principal = Depends(require("case.act"))
) -> Response:
    """One gesture for every case of a storm: each case gets its own update, hence its own
    ledger line and its own refusal if it has moved on (counted, never a 500). The cases are
    read again from the storm's key, never taken from the form."""
    svc = svc_of(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    action = form.get("action", "")
    if action not in BULK_ACTIONS:
        raise HTTPException(422, "Action groupée inconnue")
    if action == "assign":
        form["assignee"] = principal.username
    inp = form_action_input(principal, form, svc.settings.note_max_chars)
    if action == "classify" and inp.criticality is None:
        raise HTTPException(422, "Indiquez la criticité")

    def read() -> list[Case]:
        with Session(svc.engine) as s:
            return storm_cases(s, form.get("storm", ""))

    cases = await asyncio.to_thread(read)
    done = 0
    # one update id per request (console.idempotency), each case its own workflow: the
    # same form sent again is answered by each case with its first outcome
    uid = update_id(request, action)
    for case in cases:
        if action == "assign" and case.assignee == principal.username:
            done += 1  # already acknowledged by this technician: nothing to repeat
            continue
        status, _ = await run_action(svc, case, action, inp, uid)
        done += status == 200
        if status >= 500:  # Temporal down or silent: the same form sent again must retry
            not_final(request)
    refused = len(cases) - done
    message = f"ok:Action groupée : {done} cas, {refused} refusés"
    await asyncio.to_thread(set_flash, svc, principal, message)
    return redirect("/queue")


# --- case page ---------------------------------------------------------------------------------


@dataclass
class CaseData:
    case: Case
    client: Client | None
    server: Server | None
    demande: Demande | None
    ledger: list[AuditEvent]
    sla: CaseSla | None
    policy_version: str
    events: list[tuple[AlertEventRow, MessageView | None]]
    event_count: int
    communications: list[Communication]
    contacts: list[Contact]
    notes: list[AuditEvent] = field(default_factory=list)
    relatives: Family | None = None  # a site incident's children, or a child's incident


def load_case_data(svc: Services, case_id: int, scope: int | None) -> CaseData:
    with Session(svc.engine) as s:
        found = load_case(s, case_id, scope)
        if found is None:
            raise HTTPException(404, "Cas introuvable")
        c, client = found
        policy = effective_policy(s, svc.settings)
        ledger = list(
            s.exec(
                select(AuditEvent)
                .where(AuditEvent.case_id == case_id)
                .order_by(col(AuditEvent.at), col(AuditEvent.seq))
            ).all()
        )
        event_rows = s.exec(
            select(AlertEventRow, RawMessage)
            .join(RawMessage, col(RawMessage.id) == AlertEventRow.raw_message_id)
            .where(AlertEventRow.case_id == case_id)
            .order_by(col(AlertEventRow.received_at).desc(), col(AlertEventRow.id).desc())
            .limit(EVENTS_SHOWN)
        ).all()
        event_count = int(
            s.exec(
                select(func.count())
                .select_from(AlertEventRow)
                .where(AlertEventRow.case_id == case_id)
            ).one()
        )
        comms = list(
            s.exec(
                select(Communication)
                .where(Communication.case_id == case_id)
                .order_by(col(Communication.created_at))
            ).all()
        )
        contacts = (
            list(
                s.exec(
                    select(Contact)
                    .where(Contact.client_id == c.client_id)
                    .order_by(col(Contact.rank), col(Contact.id))
                ).all()
            )
            if c.client_id is not None
            else []
        )
        demande = s.exec(select(Demande).where(Demande.case_id == case_id)).first()
        server = s.get(Server, c.server_id) if c.server_id is not None else None
    return CaseData(
        case=c,
        client=client,
        server=server,
        demande=demande,
        ledger=ledger,
        sla=case_sla(ledger, policy, utcnow()),
        policy_version=policy.version,
        events=[(ev, message_view(raw)) for ev, raw in event_rows],
        event_count=event_count,
        communications=comms,
        contacts=contacts,
        notes=[a for a in ledger if a.action == "note"],
        relatives=family_of(svc.engine, c),
    )


@router.get("/cases/{case_id}")
async def case_page(
    request: Request, case_id: int, principal: Principal = Depends(require("queue"))
) -> Response:
    svc = svc_of(request)
    data = await asyncio.to_thread(load_case_data, svc, case_id, None)
    await asyncio.to_thread(  # the page shows the client's messages and contacts
        log_read, request, principal, data.case.client_id, "case", case_id)
    view = await case_view(svc, data.case)
    timeline: list[Any] = list(view.timeline) if view is not None else data.ledger
    return await asyncio.to_thread(
        render,
        request,
        principal,
        "case.html",
        d=data,
        c=data.case,
        view=view,
        live=view is not None,
        timeline=sorted(timeline, key=lambda e: (e.at, e.seq), reverse=True),
        state=view.state if view is not None else data.case.state,
        criticality=view.criticality if view is not None else data.case.criticality,
        recovered=view.recovered if view is not None else data.case.recovered,
        sensor=condition_for(data.case.family, data.case.check, lang_of(request)),
        next_steps=list(view.next_steps) if view is not None else [],
        criticalities=[c.value for c in Criticality],
        channels=[c.value for c in Channel],
        outcomes=[o.value for o in ContactOutcome],
        temporal_configured=svc.temporal_configured,
        temporal_ui=svc.settings.temporal_ui_url.rstrip("/"),
        temporal_ns=svc.settings.temporal_namespace,
        child_state=CHILD_STATE_FR,
    )


@router.get("/cases/{case_id}/sla")
def case_sla_page(
    request: Request, case_id: int, principal: Principal = Depends(require("queue"))
) -> Response:
    """How each figure of one case derives from its ledger, line by line."""
    data = load_case_data(svc_of(request), case_id, None)
    return render(request, principal, "case_sla.html", d=data, c=data.case)


def form_action_input(principal: Principal, form: dict[str, str],
                      max_text: int = 10_000) -> ActionInput:
    return action_input(principal.username, {k: form.get(k) for k in ACTION_FIELDS}, max_text)


@router.post("/cases/{case_id}/act/{action}")
async def case_act(
    request: Request,
    case_id: int,
    action: str,
    principal: Principal = Depends(require("case.act")),
) -> Response:
    svc = svc_of(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    case = await asyncio.to_thread(case_for_action, svc, case_id)
    if action == "assign" and not form.get("assignee"):
        form["assignee"] = principal.username
    inp = form_action_input(principal, form, svc.settings.note_max_chars)
    status, payload = await run_action(svc, case, action, inp, update_id(request, action))
    if status == 200:
        message = "ok:Action enregistrée."
    else:
        message = "err:" + str(payload.get("message") or "Action refusée")
    if status >= 500:  # Temporal down or silent: the same form sent again must really retry
        not_final(request)
    await asyncio.to_thread(set_flash, svc, principal, message)
    return redirect(f"/cases/{case_id}")


# --- linked event and its raw message ---------------------------------------------------------


@router.get("/events/{event_id}")
def event_page(
    request: Request, event_id: int, principal: Principal = Depends(require("queue"))
) -> Response:
    with Session(svc_of(request).engine) as s:
        ev = s.get(AlertEventRow, event_id)
        if ev is None:
            raise HTTPException(404, "Événement introuvable")
        raw = s.get(RawMessage, ev.raw_message_id)
        client = s.get(Client, ev.client_id) if ev.client_id is not None else None
    log_read(request, principal, ev.client_id, "raw_message", ev.raw_message_id)
    return render(
        request,
        principal,
        "event.html",
        ev=ev,
        raw=raw,
        client=client,
        msg=message_view(raw) if raw is not None else None,
    )


# --- unmatched and unknown messages -------------------------------------------------------------


def _server_choices(s: Session) -> list[tuple[int, str, str, int]]:
    rows = s.exec(
        select(Server.id, Server.hostname, Client.name, Client.id)
        .join(Client, col(Client.id) == Server.client_id)
        .order_by(col(Client.name), col(Server.hostname))
    ).all()
    return [(sid or 0, host, name, cid or 0) for sid, host, name, cid in rows]


@dataclass(frozen=True)
class UnmatchedRow:
    """One message to sort, with the client its sender belongs to when that is known: that
    client's servers are offered first, and "create this server" files it there."""

    ev: AlertEventRow
    mail_from: str
    channel: str
    sender_client_id: int | None

    @property
    def host_suggestion(self) -> str:
        return triage.suggested_hostname(self.ev.host)


@router.get("/unmatched")
def unmatched(request: Request, principal: Principal = Depends(require("triage"))) -> Response:
    page = _page_number(request)
    with Session(svc_of(request).engine) as s:
        found = s.exec(
            select(AlertEventRow, RawMessage.mail_from, RawMessage.channel,
                   RawMessage.client_hint_id)
            .join(RawMessage, col(RawMessage.id) == AlertEventRow.raw_message_id)
            .where(AlertEventRow.triage == "pending")
            .order_by(col(AlertEventRow.received_at).desc(), col(AlertEventRow.id).desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
        rows = [
            UnmatchedRow(ev, mail_from, channel, triage.sender_client(s, ev, mail_from, hint))
            for ev, mail_from, channel, hint in found
        ]
        total = int(
            s.exec(
                select(func.count())
                .select_from(AlertEventRow)
                .where(AlertEventRow.triage == "pending")
            ).one()
        )
        servers = _server_choices(s)
        names = dict(client_choices(s))
    return render(
        request,
        principal,
        "unmatched.html",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        servers=servers,
        client_names=names,
    )


def sender_key(mail_from: str) -> str:
    """What to teach for a sender: its domain, or the bare address when it has no domain."""
    address = mail_from.strip().lower()
    if "@" in address:
        domain = address.rsplit("@", 1)[1]
        return domain if "." in domain else address
    return address


def teach_sender(svc: Services, event_id: int) -> str | None:
    """Makes the event's sender belong to the client it was attached to (future mails match
    by sender); returns what was learnt, or None if nothing was."""
    with session_scope(svc.engine) as s:
        ev = s.get(AlertEventRow, event_id)
        raw = s.get(RawMessage, ev.raw_message_id) if ev is not None else None
        if ev is None or raw is None or ev.client_id is None or not raw.mail_from:
            return None
        if raw.channel != "smtp":
            return None  # webhook sources are tied to a client by their token
        key = sender_key(raw.mail_from)
        if not key or s.get(SenderDomain, key) is not None:
            return None
        s.add(SenderDomain(domain=key, client_id=ev.client_id))
        return key


@router.post("/unmatched/{event_id}/attach")
def unmatched_attach(
    request: Request,
    event_id: int,
    server_id: int = Form(...),
    teach_alias: str = Form(""),
    learn_sender: str = Form(""),
    principal: Principal = Depends(require("triage")),
) -> Response:
    """Attach to a server (and teach the alias / the sender): the intake's router then opens
    or feeds the case, as for any matched event (``records.triage``)."""
    svc = svc_of(request)
    try:
        triage.attach(svc.engine, event_id, server_id, bool(teach_alias), principal.username)
    except triage.TriageError as exc:
        set_flash(svc, principal, f"err:{exc}")
        return redirect("/unmatched")
    learnt = teach_sender(svc, event_id) if learn_sender else None
    extra = f" Expéditeur appris : {learnt}." if learnt else ""
    set_flash(svc, principal, f"ok:Événement rattaché ; le cas suit sous peu.{extra}")
    return redirect("/unmatched")


@router.post("/unmatched/{event_id}/attach-reply")
def unmatched_attach_reply(
    request: Request, event_id: int, principal: Principal = Depends(require("triage"))
) -> Response:
    """A technician who checked an unverified client reply (called the client back, say)
    attaches it to the case it names (``records.triage.attach_reply``)."""
    svc = svc_of(request)
    try:
        ref = triage.attach_reply(svc.engine, event_id, principal.username)
    except triage.TriageError as exc:
        set_flash(svc, principal, f"err:{exc}")
        return redirect("/unmatched")
    set_flash(svc, principal, f"ok:Réponse rattachée au cas {ref}.")
    return redirect("/unmatched")


@router.post("/unmatched/{event_id}/dismiss")
def unmatched_dismiss(
    request: Request, event_id: int, principal: Principal = Depends(require("triage"))
) -> Response:
    svc = svc_of(request)
    try:
        triage.dismiss(svc.engine, event_id, principal.username)
    except triage.TriageError as exc:
        set_flash(svc, principal, f"err:{exc}")
        return redirect("/unmatched")
    set_flash(svc, principal, "ok:Message écarté.")
    return redirect("/unmatched")


@router.post("/unmatched/{event_id}/create-server")
def unmatched_create_server(
    request: Request,
    event_id: int,
    client_id: int = Form(...),
    hostname: str = Form(...),
    display_name: str = Form(""),
    kind: str = Form("physical"),
    role: str = Form(""),
    principal: Principal = Depends(require("triage")),
) -> Response:
    """The message names a server the inventory lacks: create it in the chosen client's
    inventory (the sender's, by default) and attach the message to it."""
    svc = svc_of(request)
    try:
        server_id = triage.create_server(
            svc.engine, event_id, client_id, hostname, display_name=display_name, kind=kind,
            role=role, actor=principal.username,
        )  # fmt: skip
    except triage.TriageError as exc:
        set_flash(svc, principal, f"err:{exc}")
        return redirect("/unmatched")
    with Session(svc.engine) as s:
        srv = s.get(Server, server_id)
    host = srv.hostname if srv is not None else hostname
    set_flash(svc, principal, f"ok:Serveur {host} créé ; l'événement y est rattaché.")
    return redirect("/unmatched")
