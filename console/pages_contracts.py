"""Contract pages: every contract's state, timeline and blockers; the checklist, the
onboarding and the notice; the client's own contract in the portal; the personal-data log.

The console writes facts (a prerequisite with its evidence, a waiver, a sensor installed)
through ``contracts.store``; the contract's *state* moves only through its workflows
(start, update, signal), and a refusal comes back as the workflow's own French sentence.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session, col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from console.auth import Principal, require, set_flash
from console.contracts_view import contract_rows, load_contract, option_label, serialize
from console.deps import Services, TemporalUnavailable
from console.i18n import gettext, pair_label
from console.idempotency import update_id
from console.params import int_or, parse_int
from console.visit_actions import today_local
from console.web import lang_of, redirect, render
from contracts import privacy, store
from domain.contract import (
    OPTIONS,
    SIZING_RULES,
    ContractStatus,
    notice_effective_date,
    termination_refusal,
)
from messages.contracts import ONBOARDING_STATE_LABELS as ONBOARDING_LABELS
from messages.contracts import (
    ONBOARDING_WORKFLOW,
    TERMINATION_WORKFLOW,
    Activate,
    DecideDuration,
    OnboardingInput,
    OnboardingView,
    Remedied,
    TerminationInput,
    TerminationKind,
)
from models.contracts import Contract, ContractEvent
from models.tables import Client

router = APIRouter()
api = APIRouter(prefix="/api")
UPDATE_TIMEOUT_S = 30.0


def svc_of(request: Request) -> Services:
    return request.app.state.services


async def _form(request: Request) -> dict[str, str]:
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


def _flash(svc: Services, principal: Principal, ok: bool, text: str) -> None:
    set_flash(svc, principal, ("ok:" if ok else "err:") + text)


def _contract_or_404(svc: Services, contract_id: int) -> Contract:
    with Session(svc.engine) as s:
        c = s.get(Contract, contract_id)
    if c is None:
        raise HTTPException(404, "Contrat introuvable")
    return c


async def start_onboarding(svc: Services, contract: Contract, actor: str) -> str | None:
    """Starts (or finds) the contract's onboarding workflow; None when it runs."""
    try:
        client = await svc.temporal()
        await client.start_workflow(
            ONBOARDING_WORKFLOW, OnboardingInput(contract.id or 0, contract.client_id, actor),
            id=contract.onboarding_workflow_id, task_queue=svc.settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
    except WorkflowAlreadyStartedError:
        return None
    except (TemporalUnavailable, RPCError) as exc:
        return f"Installation non démarrée ({exc}) : relancez depuis la page du contrat"
    return None


async def onboarding_view(svc: Services, contract: Contract) -> OnboardingView | None:
    try:
        client = await svc.temporal()
        handle = client.get_workflow_handle(contract.onboarding_workflow_id)
        return await asyncio.wait_for(handle.query("view", result_type=OnboardingView),
                                      svc.settings.console_query_timeout)
    except Exception:  # Temporal away, or the workflow not started: the page says so
        return None


async def _update(svc: Services, workflow_id: str, name: str, arg: object,
                  update_id: str | None = None) -> tuple[bool, str]:
    """``update_id``: from the form's idempotency key (``console.idempotency``)."""
    try:
        client = await svc.temporal()
        result = await asyncio.wait_for(client.get_workflow_handle(workflow_id).execute_update(
            name, arg, id=update_id), UPDATE_TIMEOUT_S)
    except WorkflowUpdateFailedError as exc:
        return False, getattr(exc.cause, "message", None) or str(exc.cause or exc)
    except ApplicationError as exc:
        return False, exc.message
    except (TemporalUnavailable, RPCError) as exc:
        return False, f"Contrat non modifiable pour l'instant : {exc}"
    except TimeoutError:
        return False, "Le processus du contrat n'a pas répondu à temps"
    return True, getattr(result, "message", "") or "Action enregistrée."


# --- pages -----------------------------------------------------------------------------------


@router.get("/contracts")
def contracts_page(request: Request,
                   principal: Principal = Depends(require("contracts"))) -> Response:
    with Session(svc_of(request).engine) as s:
        rows = contract_rows(s)
        notices = list(s.exec(select(ContractEvent).where(
            ContractEvent.action == "planner_notice")
            .order_by(col(ContractEvent.at).desc()).limit(20)).all())
    return render(request, principal, "contracts.html", rows=rows, notices=notices,
                  without=[r["client"] for r in rows if r["contract"] is None],
                  options=list(OPTIONS), option_label=lambda k: option_label(k, lang_of(request)),
                  today=today_local(svc_of(request)).isoformat(), rules=SIZING_RULES)


@router.post("/contracts")
async def create_contract(request: Request,
                          principal: Principal = Depends(require("contract.check"))) -> Response:
    svc = svc_of(request)
    form = await _form(request)
    raw = await request.form()
    options = [o for o in raw.getlist("options") if isinstance(o, str)]

    def num(name: str) -> int | None:
        return parse_int(form.get(name))

    try:
        contract = await asyncio.to_thread(
            store.create_contract, svc.engine, int(form.get("client_id", "0") or 0),
            date.fromisoformat(form.get("start_date") or today_local(svc).isoformat()),
            by=principal.username, users=num("users"), servers=num("servers"),
            options=options, contracted_days=num("contracted_days"),
            policies=[p.strip() for p in form.get("policies", "").split(",") if p.strip()])
    except (store.ContractError, ValueError) as exc:
        await asyncio.to_thread(_flash, svc, principal, False, str(exc))
        return redirect("/contracts")
    problem = await start_onboarding(svc, contract, principal.username)
    await asyncio.to_thread(_flash, svc, principal, problem is None,
                            problem or "Contrat enregistré : installation en cours.")
    return redirect(f"/contracts/{contract.id}")


@router.get("/contracts/{contract_id}")
async def contract_page(request: Request, contract_id: int,
                        principal: Principal = Depends(require("contracts"))) -> Response:
    svc = svc_of(request)

    def load() -> Any:
        with Session(svc.engine) as s:
            return load_contract(s, contract_id, None)

    page = await asyncio.to_thread(load)
    if page is None:
        raise HTTPException(404, "Contrat introuvable")
    view = await onboarding_view(svc, page.contract)
    c = page.contract
    notice_day = None
    if c.notice_received_on is not None:
        notice_day = notice_effective_date(c.notice_received_on, svc.settings.notice_days,
                                           svc.settings.notice_receipt_day_counts)
    return await asyncio.to_thread(
        render, request, principal, "contract.html", p=page, c=c, view=view,
        onboarding_label=lambda st: gettext(lang_of(request), ONBOARDING_LABELS.get(st, st)),
        option_label=lambda k: option_label(k, lang_of(request)),
        today=today_local(svc).isoformat(), notice_until=notice_day,
        erasable_from=privacy.erasable_from(c, svc.settings.data_retention_days),
        can=principal.can)


def _back(contract_id: int) -> Response:
    return redirect(f"/contracts/{contract_id}")


@router.post("/contracts/{contract_id}/start")
async def restart_onboarding(request: Request, contract_id: int,
                             principal: Principal = Depends(require("contract.check"))
                             ) -> Response:
    svc = svc_of(request)
    contract = await asyncio.to_thread(_contract_or_404, svc, contract_id)
    problem = await start_onboarding(svc, contract, principal.username)
    await asyncio.to_thread(_flash, svc, principal, problem is None,
                            problem or "Installation en cours.")
    return _back(contract_id)


@router.post("/contracts/{contract_id}/prerequisites/{code}")
async def record_prerequisite(request: Request, contract_id: int, code: str,
                              principal: Principal = Depends(require("contract.check"))
                              ) -> Response:
    svc = svc_of(request)
    form = await _form(request)
    try:
        await asyncio.to_thread(
            store.record_prerequisite, svc.engine, contract_id, code,
            status=form.get("status", "met"), evidence=form.get("evidence", ""),
            value=form.get("value", ""), by=principal.username)
        await asyncio.to_thread(_flash, svc, principal, True, "Prérequis enregistré.")
    except store.ContractError as exc:
        await asyncio.to_thread(_flash, svc, principal, False, str(exc))
    return _back(contract_id)


@router.post("/contracts/{contract_id}/prerequisites/{code}/waive")
async def waive_prerequisite(request: Request, contract_id: int, code: str,
                             principal: Principal = Depends(require("contract.waive"))
                             ) -> Response:
    svc = svc_of(request)
    form = await _form(request)
    try:
        await asyncio.to_thread(store.waive_prerequisite, svc.engine, contract_id, code,
                                reason=form.get("reason", ""), by=principal.username,
                                role=principal.role)
        await asyncio.to_thread(_flash, svc, principal, True, "Dérogation enregistrée.")
    except store.ContractError as exc:
        await asyncio.to_thread(_flash, svc, principal, False, str(exc))
    return _back(contract_id)


@router.post("/contracts/{contract_id}/decide")
async def decide_duration(request: Request, contract_id: int,
                          principal: Principal = Depends(require("contract.plan"))) -> Response:
    svc = svc_of(request)
    form = await _form(request)
    contract = await asyncio.to_thread(_contract_or_404, svc, contract_id)
    days = form.get("days", "")
    ok, message = await _update(
        svc, contract.onboarding_workflow_id, "decide_duration",
        DecideDuration(principal.username, int_or(days, 0),
                       form.get("reason", "")[:2000]), update_id(request, "decide_duration"))
    await asyncio.to_thread(_flash, svc, principal, ok, message)
    return _back(contract_id)


@router.post("/contracts/{contract_id}/sensors/{deployment_id}")
async def record_sensor(request: Request, contract_id: int, deployment_id: int,
                        principal: Principal = Depends(require("contract.plan"))) -> Response:
    svc = svc_of(request)
    form = await _form(request)
    try:
        await asyncio.to_thread(store.record_sensor, svc.engine, deployment_id,
                                form.get("status", "installed"), by=principal.username,
                                note=form.get("note", ""))
        await asyncio.to_thread(_flash, svc, principal, True, "Sonde enregistrée.")
    except store.ContractError as exc:
        await asyncio.to_thread(_flash, svc, principal, False, str(exc))
    return _back(contract_id)


@router.post("/contracts/{contract_id}/activate")
async def activate(request: Request, contract_id: int,
                   principal: Principal = Depends(require("contract.activate"))) -> Response:
    svc = svc_of(request)
    contract = await asyncio.to_thread(_contract_or_404, svc, contract_id)
    ok, message = await _update(svc, contract.onboarding_workflow_id, "activate",
                                Activate(principal.username, principal.role),
                                update_id(request, "activate"))
    await asyncio.to_thread(_flash, svc, principal, ok, message)
    return _back(contract_id)


async def _start_termination(svc: Services, contract: Contract, principal: Principal,
                             kind: str, reason: str, received_on: date | None) -> tuple[bool, str]:
    if contract.status == ContractStatus.TERMINATED:
        return False, "Contrat déjà résilié"
    if kind == TerminationKind.NOTICE and contract.status != ContractStatus.ACTIVE:
        return False, "Mise en demeure possible pour un contrat en service seulement"
    if kind == TerminationKind.IMMEDIATE and contract.status == ContractStatus.NOTICE:
        return False, "Une mise en demeure est en cours : attendez son issue"
    s = svc.settings
    inp = TerminationInput(contract.id or 0, contract.client_id, kind, principal.username,
                           reason.strip()[:2000],
                           received_on.isoformat() if received_on else None, s.notice_days,
                           s.notice_receipt_day_counts, s.timezone, s.data_retention_days)
    refused = termination_refusal(inp)
    if refused is not None:
        return False, refused
    with Session(svc.engine) as sess:
        n = 1 + len({e.key.rsplit(":", 1)[0] for e in store.timeline(sess, contract.id or 0)
                     if e.key.startswith("contract-notice-")})
    wid = store.notice_workflow_id(contract.id or 0, n)
    try:
        client = await svc.temporal()
        await client.start_workflow(TERMINATION_WORKFLOW, inp, id=wid,
                                    task_queue=s.task_queue)
    except WorkflowAlreadyStartedError:
        return False, "Une procédure est déjà en cours"
    except (TemporalUnavailable, RPCError) as exc:
        return False, f"Procédure non démarrée : {exc}"
    store.update_contract(svc.engine, contract.id or 0, notice_workflow_id=wid)
    return True, ("Mise en demeure enregistrée : délai de 20 jours en cours."
                  if kind == TerminationKind.NOTICE else "Résiliation immédiate en cours.")


@router.post("/contracts/{contract_id}/notice")
async def give_notice(request: Request, contract_id: int,
                      principal: Principal = Depends(require("contract.end"))) -> Response:
    svc = svc_of(request)
    form = await _form(request)
    contract = await asyncio.to_thread(_contract_or_404, svc, contract_id)
    try:
        received = date.fromisoformat(form.get("received_on", ""))
    except ValueError:
        received = None
    ok, message = await _start_termination(svc, contract, principal, TerminationKind.NOTICE,
                                           form.get("breach", ""), received)
    await asyncio.to_thread(_flash, svc, principal, ok, message)
    return _back(contract_id)


@router.post("/contracts/{contract_id}/terminate-now")
async def terminate_now(request: Request, contract_id: int,
                        principal: Principal = Depends(require("contract.end"))) -> Response:
    svc = svc_of(request)
    form = await _form(request)
    contract = await asyncio.to_thread(_contract_or_404, svc, contract_id)
    ok, message = await _start_termination(svc, contract, principal, TerminationKind.IMMEDIATE,
                                           form.get("version", ""), None)
    await asyncio.to_thread(_flash, svc, principal, ok, message)
    return _back(contract_id)


@router.post("/contracts/{contract_id}/remedied")
async def remedied(request: Request, contract_id: int,
                   principal: Principal = Depends(require("contract.end"))) -> Response:
    svc = svc_of(request)
    form = await _form(request)
    contract = await asyncio.to_thread(_contract_or_404, svc, contract_id)
    if contract.status != ContractStatus.NOTICE or not contract.notice_workflow_id:
        await asyncio.to_thread(_flash, svc, principal, False, "Aucune mise en demeure en cours")
        return _back(contract_id)
    try:
        client = await svc.temporal()
        await client.get_workflow_handle(contract.notice_workflow_id).signal(
            "remedied", Remedied(principal.username, form.get("reason", "")[:2000]))
        ok, message = True, "Correction enregistrée : la mise en demeure s'arrête."
    except (TemporalUnavailable, RPCError) as exc:
        ok, message = False, f"Signal non transmis : {exc}"
    await asyncio.to_thread(_flash, svc, principal, ok, message)
    return _back(contract_id)


# --- personal data -----------------------------------------------------------------------------


@router.get("/contracts/{contract_id}/export.zip")
def export_zip(request: Request, contract_id: int,
               principal: Principal = Depends(require("privacy"))) -> Response:
    svc = svc_of(request)
    contract = _contract_or_404(svc, contract_id)
    blob = privacy.export_client(svc.engine, contract.client_id, by=principal.username,
                                 role=principal.role)
    name = f"vigie-donnees-client-{contract.client_id}-{today_local(svc):%Y%m%d}.zip"
    return Response(blob, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/contracts/{contract_id}/erase")
def erase(request: Request, contract_id: int,
          principal: Principal = Depends(require("privacy.erase"))) -> Response:
    svc = svc_of(request)
    contract = _contract_or_404(svc, contract_id)
    try:
        summary = privacy.erase_client(svc.engine, contract.client_id, by=principal.username,
                                       retention_days=svc.settings.data_retention_days)
        _flash(svc, principal, True, "Données effacées : " + summary.describe())
    except privacy.PrivacyError as exc:
        _flash(svc, principal, False, str(exc))
    return _back(contract_id)


@router.get("/privacy/access")
def access_page(request: Request, principal: Principal = Depends(require("privacy"))
                ) -> Response:
    raw = request.query_params.get("client", "")
    client_id = parse_int(raw)
    with Session(svc_of(request).engine) as s:
        rows = privacy.access_log(s, client_id)
        names = {c.id: c.name for c in s.exec(select(Client).order_by(col(Client.name)))}
    return render(request, principal, "privacy_access.html", rows=rows, names=names,
                  subject_label=lambda k: pair_label(privacy.SUBJECT_LABELS, lang_of(request), k),
                  client_id=client_id)


# --- portal ------------------------------------------------------------------------------------


@router.get("/portal/contract")
def portal_contract(request: Request, principal: Principal = Depends(require("portal"))
                    ) -> Response:
    scope = principal.client_scope
    with Session(svc_of(request).engine) as s:
        contract = store.contract_of_client(s, scope or 0) if scope is not None else None
        page = load_contract(s, contract.id or 0, scope) if contract is not None else None
    return render(request, principal, "portal_contract.html", p=page,
                  data=serialize(page, for_client=True) if page else None)


# --- JSON API (same serializer as the pages) ---------------------------------------------------


@api.get("/contracts")
def api_contracts(
    request: Request, principal: Principal = Depends(require("contract.read"))
) -> JSONResponse:
    scope = principal.client_scope
    out = []
    with Session(svc_of(request).engine) as s:
        q = select(Contract).order_by(col(Contract.id))
        if scope is not None:
            q = q.where(Contract.client_id == scope)
        for c in s.exec(q):
            page = load_contract(s, c.id or 0, scope)
            if page is not None:
                out.append(serialize(page, for_client=scope is not None))
    return JSONResponse(out)


@api.get("/contracts/{contract_id}")
def api_contract(request: Request, contract_id: int,
                 principal: Principal = Depends(require("contract.read"))) -> JSONResponse:
    scope = principal.client_scope
    with Session(svc_of(request).engine) as s:
        page = load_contract(s, contract_id, scope)
    if page is None:
        raise HTTPException(404, "Contrat introuvable")
    return JSONResponse(serialize(page, for_client=scope is not None))
