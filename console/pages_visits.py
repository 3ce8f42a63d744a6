"""A visit's page: facts, state and timeline, the planner's and consultant's actions, the
on-site checklist (each answer saved as typed), the report (HTML, PDF) and the technical
document; plus the consultant's own list.

Reads are scoped here: staff with ``visit.read`` see every visit; a consultant acts only on
the visits assigned to them (checked again in ``console.visit_actions``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlmodel import Session, col, select
from temporalio.service import RPCError

from console.auth import Principal, require, set_flash
from console.deps import Services, TemporalUnavailable
from console.feed_links import ics_url
from console.i18n import gettext, label_text
from console.i18n_visits import visit_data_items
from console.idempotency import update_id
from console.params import parse_int
from console.visit_actions import ensure_started, live_view, run_visit_action, today_local
from console.web import log_read, redirect, render, safe_next, too_long
from messages.visits import STATE_WORDS
from models.tables import Case, Client, Communication, Site, User
from models.visits import Visit
from planning import checklist, techdoc
from planning.anomalies import anomalies_for
from planning.cases import open_case_from_item
from planning.notify import consultant_address, visit_ref
from planning.report import CSS, report_of
from planning.rules import date_bounds, late_days
from planning.visits import timeline

router = APIRouter()


def svc_of(request: Request) -> Services:
    return request.app.state.services


def visit_action(lang: str, action: str) -> str:
    from console.i18n import pair_label
    from console.i18n_visits import VISIT_ACTION_LABELS

    return pair_label(VISIT_ACTION_LABELS, lang, action)


def state_name(lang: str, state: str) -> str:
    """A visit state in the page's language (the catalog's words; unknown states as is)."""
    word = STATE_WORDS.get(state)
    return label_text(lang, word) if word is not None else state


def section_title(lang: str, key: str) -> str:
    """A technical document section's title in the page's language."""
    for k, title in techdoc.SECTIONS:
        if k == key:
            return gettext(lang, title)
    return key


def consultants(s: Session) -> list[User]:
    return list(s.exec(select(User).where(User.role == "consultant", col(User.active).is_(True))
                       .order_by(col(User.full_name))).all())


def load_visit(s: Session, visit_id: int) -> Visit:
    visit = s.get(Visit, visit_id)
    if visit is None:
        raise HTTPException(404, "Visite introuvable")
    return visit


@router.get("/visits/report.css")
def report_css() -> Response:
    return FileResponse(CSS, media_type="text/css")


@router.get("/visits/mine")
def my_visits(request: Request, principal: Principal = Depends(require("visit.run"))
              ) -> Response:
    with Session(svc_of(request).engine) as s:
        q = select(Visit, Client).join(Client, col(Client.id) == Visit.client_id)
        if principal.role != "admin":
            q = q.where(Visit.consultant_id == principal.user_id)
        rows = s.exec(q.order_by(col(Visit.date), col(Visit.due_start))).all()
    return render(request, principal, "visits_mine.html", rows=rows, state_name=state_name,
                  ref=visit_ref, ics=ics_url(svc_of(request), principal.user_id or 0))


@router.get("/visits/{visit_id:int}")
async def visit_page(request: Request, visit_id: int,
                     principal: Principal = Depends(require("visit.read"))) -> Response:
    svc = svc_of(request)
    view = await live_view(svc, visit_id)
    data = await asyncio.to_thread(_page_data, svc, visit_id, today_local(svc))
    await asyncio.to_thread(  # the report's questions and advice, the technical document
        log_read, request, principal, data["v"].client_id, "visit", visit_id)
    return render(request, principal, "visit.html", view=view, live=view is not None,
                  state_name=state_name, visit_action=visit_action, today=today_local(svc),
                  visit_data=visit_data_items, section_title=section_title,
                  history=list(view.history) if view else [], **data)


def _page_data(svc: Services, visit_id: int, today: dt.date) -> dict[str, Any]:
    with Session(svc.engine) as s:
        visit = load_visit(s, visit_id)
        first, last = date_bounds(s, visit, today)
        client = s.get(Client, visit.client_id)
        site = s.get(Site, visit.site_id) if visit.site_id else None
        name, _ = consultant_address(s, visit.consultant_id)
        items = checklist.items_of(s, visit_id)
        fps = [f"visit:{visit_id}:{it.key}" for it in items]
        cases = {c.fingerprint: c for c in s.exec(select(Case).where(
            col(Case.fingerprint).in_(fps))).all()}
        report = report_of(s, visit_id)
        before = techdoc.version(s, visit.client_id, visit.techdoc_before)
        after = techdoc.version(s, visit.client_id, visit.techdoc_after)
        return {
            "v": visit, "ref": visit_ref(visit_id), "client": client, "site": site,
            "consultant_name": name, "consultants": consultants(s),
            "items": items, "item_cases": cases,
            "ledger": list(reversed(timeline(s, visit_id))),
            "report": report,
            "anomalies": anomalies_for(s, visit, svc.settings.timezone)
            if report is None else None,
            "diff": techdoc.diff(before, after) if after else [],
            "doc": techdoc.latest(s, visit.client_id),
            "first_day": first, "last_day": last, "late_days": late_days(s, visit, today),
            "mails": [(m, masked(m.body)) for m in s.exec(select(Communication).where(
                col(Communication.key).startswith(f"{visit_ref(visit_id)}:"))
                .order_by(col(Communication.id))).all()],
        }


@router.post("/visits/{visit_id:int}/act/{action}")
async def visit_act(request: Request, visit_id: int, action: str,
                    principal: Principal = Depends(require("visit.read"))) -> Response:
    svc = svc_of(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    for field, label in (("advice", "Conseils"), ("questions", "Questions"),
                         ("reason", "Motif")):
        too_long(form.get(field), svc.settings.report_max_chars if field != "reason" else 2000,
                 label)
    ok, message = await run_visit_action(svc, principal, visit_id, action, form,
                                         update_id(request, action))
    await asyncio.to_thread(set_flash, svc, principal,
                            "ok:Action enregistrée." if ok else f"err:{message}")
    return redirect(safe_next(form.get("next"), f"/visits/{visit_id}"))


@router.post("/visits/{visit_id:int}/start-workflow")
async def restart_workflow(request: Request, visit_id: int,
                           principal: Principal = Depends(require("visit.plan"))) -> Response:
    """Starts the workflow of a visit row that has none (created while Temporal was down);
    Temporal still away, or a visit that cannot start again: said on the page, no crash."""
    svc = svc_of(request)
    with Session(svc.engine) as s:
        load_visit(s, visit_id)
    try:
        await ensure_started(svc, visit_id)
        message = "ok:Processus de la visite démarré."
    except (TemporalUnavailable, RPCError, ValueError) as exc:
        message = f"err:Processus non démarré : {exc}"
    await asyncio.to_thread(set_flash, svc, principal, message)
    return redirect(f"/visits/{visit_id}")


# --- the checklist: one item at a time, as typed ---------------------------------------------


def _may_fill(s: Session, principal: Principal, visit_id: int) -> Visit:
    visit = load_visit(s, visit_id)
    if not principal.can("visit.run"):
        raise HTTPException(403, "Check-list réservée au consultant")
    if principal.role != "admin" and visit.consultant_id != principal.user_id:
        raise HTTPException(403, "Cette visite est confiée à un autre consultant")
    if visit.state not in ("in_progress", "confirmed"):
        raise HTTPException(409, "La check-list se remplit pendant la visite")
    return visit


@router.post("/api/visits/{visit_id:int}/checklist/{key}")
async def save_item(request: Request, visit_id: int, key: str,
                    principal: Principal = Depends(require("visit.run"))) -> Response:
    """Saves one item (JSON ``{"answer": "ok", "notes": "..."}``); the page calls it on every
    change and queues the call while offline. Answering the same thing again is harmless."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(422, "Corps JSON illisible") from None
    else:
        body = dict(await request.form())
    if not isinstance(body, dict):  # a JSON array or scalar was a 500 (issue 21, finding 6)
        raise HTTPException(422, "Le corps doit être un objet JSON")
    answer = body.get("answer")
    notes = body.get("notes")
    if not all(v is None or isinstance(v, str) for v in (answer, notes)):
        raise HTTPException(422, "« answer » et « notes » sont du texte")
    too_long(notes, svc_of(request).settings.checklist_note_max_chars, "Note")

    def save() -> dict[str, Any]:
        with Session(svc_of(request).engine) as s:
            _may_fill(s, principal, visit_id)
            try:
                row = checklist.save_answer(s, visit_id, key,
                                            None if answer is None else str(answer),
                                            None if notes is None else str(notes),
                                            principal.username)
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from exc
            s.commit()
            return {"key": key, "answer": row.answer, "notes": row.notes,
                    "saved_at": row.updated_at.isoformat()}

    return JSONResponse(await asyncio.to_thread(save))


@router.post("/visits/{visit_id:int}/checklist")
async def save_all(request: Request, visit_id: int,
                   principal: Principal = Depends(require("visit.run"))) -> Response:
    """The same without a script: the whole form at once."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    cap = svc_of(request).settings.checklist_note_max_chars
    for name, value in form.items():
        if name.startswith("notes-"):
            too_long(value, cap, "Note")

    def save() -> None:
        with Session(svc_of(request).engine) as s:
            _may_fill(s, principal, visit_id)
            for it in checklist.items_of(s, visit_id):
                if f"answer-{it.key}" in form or f"notes-{it.key}" in form:
                    checklist.save_answer(s, visit_id, it.key, form.get(f"answer-{it.key}"),
                                          form.get(f"notes-{it.key}"), principal.username)
            s.commit()

    await asyncio.to_thread(save)
    await asyncio.to_thread(set_flash, svc_of(request), principal, "ok:Check-list enregistrée.")
    return redirect(f"/visits/{visit_id}#checklist")


@router.post("/visits/{visit_id:int}/checklist/{key}/open")
async def open_from_item(request: Request, visit_id: int, key: str,
                         principal: Principal = Depends(require("visit.run"))) -> Response:
    """A "ko" item becomes a case (minor) or a Demande (a significant case with its support
    request) in one click."""
    svc = svc_of(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    kind = "demande" if form.get("kind") == "demande" else "case"
    with Session(svc.engine) as s:
        _may_fill(s, principal, visit_id)
    try:
        ref = await open_case_from_item(await svc.temporal(), svc.engine, svc.settings,
                                        visit_id, key, kind, principal.username)
        message = f"ok:Demande ouverte : {ref}" if kind == "demande" else f"ok:Cas ouvert : {ref}"
    except Exception as exc:  # Temporal down, item not ko: said plainly
        message = f"err:{exc}"
    await asyncio.to_thread(set_flash, svc, principal, message)
    return redirect(f"/visits/{visit_id}#checklist")


# --- the report -------------------------------------------------------------------------------


def _report_for(s: Session, principal: Principal, visit_id: int) -> Any:
    visit = load_visit(s, visit_id)
    if principal.role == "client" and visit.client_id != principal.client_scope:
        raise HTTPException(404, "Rapport introuvable")
    report = report_of(s, visit_id)
    if report is None or (principal.role == "client" and visit.state != "report_sent"):
        raise HTTPException(404, "Rapport introuvable")
    return visit, report


@router.get("/visits/{visit_id:int}/report.pdf")
def report_pdf(request: Request, visit_id: int,
               principal: Principal = Depends(require("visit.report"))) -> Response:
    with Session(svc_of(request).engine) as s:
        visit, report = _report_for(s, principal, visit_id)
    log_read(request, principal, visit.client_id, "visit_report", visit_id)
    return Response(report.pdf or b"", media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="fiche-visite-{visit_ref(visit_id)}.pdf"'})


@router.get("/visits/{visit_id:int}/report")
def report_page(request: Request, visit_id: int,
                principal: Principal = Depends(require("visit.report"))) -> Response:
    with Session(svc_of(request).engine) as s:
        visit, report = _report_for(s, principal, visit_id)
    log_read(request, principal, visit.client_id, "visit_report", visit_id)
    return render(request, principal, "visit_report.html", v=visit, report=report,
                  ref=visit_ref(visit_id))


# --- the technical document --------------------------------------------------------------------


@router.get("/clients/{client_id:int}/techdoc")
def techdoc_page(request: Request, client_id: int,
                 principal: Principal = Depends(require("visit.read"))) -> Response:
    with Session(svc_of(request).engine) as s:
        client = s.get(Client, client_id)
        if client is None:
            raise HTTPException(404, "Client introuvable")
        doc = techdoc.latest(s, client_id)
        versions = list(s.exec(select(techdoc.TechDocVersion.version, techdoc.TechDocVersion
                                      .created_at, techdoc.TechDocVersion.created_by)
                               .where(techdoc.TechDocVersion.client_id == client_id)
                               .order_by(col(techdoc.TechDocVersion.version).desc())).all())
        generated = {"servers": techdoc.servers_section(s, client_id),
                     "contacts": techdoc.contacts_section(s, client_id)}
    log_read(request, principal, client_id, "techdoc", doc.version if doc else None)
    return render(request, principal, "techdoc.html", client=client, doc=doc,
                  sections=techdoc.SECTIONS, generated=generated, versions=versions,
                  visit=request.query_params.get("visit", ""))


@router.post("/clients/{client_id:int}/techdoc")
async def techdoc_save(request: Request, client_id: int,
                       principal: Principal = Depends(require("techdoc.edit"))) -> Response:
    form = await request.form()
    texts = {k: v for k, v in form.items() if isinstance(v, str)}
    upload = form.get("diagram")
    diagram = None
    if upload is not None and not isinstance(upload, str) and upload.filename:
        blob = await upload.read()
        if len(blob) > 5 * 1024 * 1024:
            raise HTTPException(413, "Schéma trop volumineux (5 Mo au plus)")
        diagram = (upload.filename[:200], blob)
    visit_raw = texts.get("visit", "")
    visit_id = parse_int(visit_raw)

    def save() -> int:
        with Session(svc_of(request).engine) as s:
            if s.get(Client, client_id) is None:  # was a 500 (schemathesis, issue 21)
                raise HTTPException(404, "Client introuvable")
            row = techdoc.save_version(s, client_id, texts, principal.username, visit_id,
                                       diagram)
            s.commit()
            return row.version

    number = await asyncio.to_thread(save)
    await asyncio.to_thread(set_flash, svc_of(request), principal,
                            f"ok:Document technique enregistré (version {number}).")
    return redirect(f"/visits/{visit_id}" if visit_id else f"/clients/{client_id}/techdoc")


@router.get("/clients/{client_id:int}/techdoc/diagram")
def techdoc_diagram(request: Request, client_id: int,
                    principal: Principal = Depends(require("visit.report"))) -> Response:
    if principal.role == "client" and principal.client_scope != client_id:
        raise HTTPException(404, "Introuvable")
    with Session(svc_of(request).engine) as s:
        doc = techdoc.latest(s, client_id)
    if doc is None or not doc.diagram:
        raise HTTPException(404, "Aucun schéma")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", doc.diagram_name or "schema")[:120]
    return Response(doc.diagram, media_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{safe}"'})


ANSWER_LINK = re.compile(r"(/visits/answer/)\S+")


def masked(body: str) -> str:
    """A visit mail as the desk shows it: the client's answer links cut short (whoever
    reads the page must not answer in the client's name; a phone date is confirmed by
    the planner's own form)."""
    return ANSWER_LINK.sub(r"\1…", body)


def days_left(visit: Visit, today: dt.date) -> int:
    return (visit.due_end - today).days
