"""The planner's and consultant's visit actions, from a form to the visit workflow's update.

One place turns form fields into the update's frozen dataclass, checks the rules the workflow
cannot see (the consultant's other visits and leave: ``planning.rules``), and hands back the
workflow's own sentence when it refuses.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from console.auth import Principal
from console.deps import Services, TemporalUnavailable
from messages.visits import (
    AssignConsultant,
    CancelVisit,
    ConfirmDate,
    NoAccess,
    ProposeDates,
    RescheduleVisit,
    SendReport,
    StartVisit,
    VisitView,
    WriteReport,
)
from models.tables import User
from models.types import utcnow
from models.visits import Visit
from planning import holds
from planning.launch import start_visit_workflow, visit_handle
from planning.rules import check_dates, check_days, visit_rules

UPDATE_TIMEOUT_S = 20.0
PLAN_ACTIONS = frozenset({"propose", "confirm", "assign", "reschedule", "cancel"})
RUN_ACTIONS = frozenset({"start", "write_report", "no_access", "send_report"})


class ActionRefused(Exception):
    """Shown to the person as is (French)."""


def today_local(svc: Services) -> dt.date:
    """The desk's day (Europe/Paris); ``VIGIE_DESK_TODAY`` fixes it for tests and demos
    (the pages' "today" only: workflows keep the server's clock)."""
    fixed = getattr(svc.settings, "desk_today", "")
    if fixed:
        return dt.date.fromisoformat(fixed)
    return utcnow().astimezone(ZoneInfo(svc.settings.timezone)).date()


def _dates(form: dict[str, str]) -> list[dt.date]:
    out = []
    for key in ("date1", "date2", "date3"):
        text = (form.get(key) or "").strip()
        if text:
            try:
                out.append(dt.date.fromisoformat(text))
            except ValueError as exc:
                raise ActionRefused(f"Date illisible : {text}") from exc
    return out


def _consultant(s: Session, raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        uid = int(raw)
    except ValueError as exc:
        raise ActionRefused("Consultant inconnu") from exc
    user = s.get(User, uid)
    if user is None or not user.active or user.role not in ("consultant", "admin"):
        raise ActionRefused("Consultant inconnu")
    return uid


def build_update(svc: Services, principal: Principal, visit_id: int, action: str,
                 form: dict[str, str]) -> Any:
    """The update's argument, after the database-side rules (blocking: run in a thread)."""
    who = principal.username
    reason = (form.get("reason") or "").strip()[:2000]
    with Session(svc.engine) as s:
        visit = s.get(Visit, visit_id)
        if visit is None:
            raise ActionRefused("Visite introuvable")
        if action in RUN_ACTIONS and principal.role != "admin" and \
                visit.consultant_id != principal.user_id:
            raise ActionRefused("Cette visite est confiée à un autre consultant")
        if action == "propose":
            consultant = _consultant(s, form.get("consultant_id")) or visit.consultant_id
            dates = _dates(form)
            refused = check_dates(s, visit, dates, consultant, today_local(svc))
            if refused is None and consultant is not None:  # held until answered
                refused = holds.claim(s, visit_id, consultant, dates, utcnow())
            if refused:
                raise ActionRefused(refused)
            return ProposeDates(who, tuple(d.isoformat() for d in dates), consultant, reason,
                                rules=visit_rules(s, visit))
        if action == "confirm":
            return _confirm(s, svc, visit, who, form, reason)
        if action == "assign":
            consultant = _consultant(s, form.get("consultant_id"))
            if consultant is None:
                raise ActionRefused("Choisir un consultant")
            if visit.date is not None:
                refused = _day_taken(s, visit, consultant)
                if refused:
                    raise ActionRefused(refused)
            return AssignConsultant(who, consultant, reason)
    if action == "reschedule":
        return RescheduleVisit(who, reason)
    if action == "cancel":
        return CancelVisit(who, reason)
    if action == "no_access":
        return NoAccess(who, reason)
    if action == "start":
        return StartVisit(who, reason)
    if action == "write_report":  # their length was checked (VIGIE_REPORT_MAX_CHARS)
        return WriteReport(who, (form.get("advice") or "").strip(),
                           (form.get("questions") or "").strip())
    if action == "send_report":
        if not (svc.settings.visit_report_email or svc.settings.team_email):
            raise ActionRefused("La fiche n'a pas de destinataire : renseigner "
                                "VIGIE_VISIT_REPORT_EMAIL ou VIGIE_TEAM_EMAIL avant de "
                                "l'envoyer")
        return SendReport(who, reason)
    raise ActionRefused(f"Action inconnue : {action}")


def _confirm(s: Session, svc: Services, visit: Visit, who: str, form: dict[str, str],
             reason: str) -> ConfirmDate:
    """A date agreed by phone: one of the proposed dates, or any other valid day (typed in
    ``phone_date``), checked against the consultant's leave and other visits."""
    if visit.consultant_id is None:
        raise ActionRefused("Affecter un consultant avant de confirmer une date")
    text = (form.get("phone_date") or form.get("date") or "").strip()
    try:
        day = dt.date.fromisoformat(text)
    except ValueError as exc:
        raise ActionRefused(f"Date illisible : {text or '—'}") from exc
    if text not in visit.proposed_dates:
        refused = check_days(s, visit, [day], visit.consultant_id, today_local(svc))
        if refused:
            raise ActionRefused(refused)
    return ConfirmDate(who, text, reason or "date convenue par téléphone",
                       rules=visit_rules(s, visit))


def follow_up(svc: Services, principal: Principal, visit_id: int, form: dict[str, str]
              ) -> tuple[str, Any] | None:
    """What "Replanifier" does next: propose the new dates, or book the day agreed by phone
    (checked before the visit is rescheduled, so a refusal changes nothing)."""
    if (form.get("phone_date") or "").strip():
        return "confirm", build_update(svc, principal, visit_id, "confirm", form)
    if any((form.get(k) or "").strip() for k in ("date1", "date2", "date3")):
        return "propose", build_update(svc, principal, visit_id, "propose", form)
    return None


def _day_taken(s: Session, visit: Visit, consultant: int) -> str | None:
    from planning.rules import busy_days, leave_days

    assert visit.date is not None
    if visit.date in leave_days(s, consultant, visit.date, visit.date):
        return f"Le consultant est en congé le {visit.date:%d/%m/%Y}"
    if visit.date in busy_days(s, consultant, visit.date, visit.date, exclude_visit=visit.id):
        return f"Le consultant a déjà une visite le {visit.date:%d/%m/%Y}"
    return None


async def run_visit_action(svc: Services, principal: Principal, visit_id: int, action: str,
                           form: dict[str, str], update_id: str | None = None
                           ) -> tuple[bool, str]:
    """(accepted, message) — the message is the workflow's own reason when it refuses.
    ``update_id``: from the form's idempotency key (``console.idempotency``)."""
    if action not in PLAN_ACTIONS | RUN_ACTIONS:
        return False, f"Action inconnue : {action}"
    needed = "visit.plan" if action in PLAN_ACTIONS else "visit.run"
    if not principal.can(needed) and not (action == "send_report" and
                                          principal.can("visit.plan")):
        return False, "Action réservée à un autre rôle"
    try:
        arg = await asyncio.to_thread(build_update, svc, principal, visit_id, action, form)
        then = await asyncio.to_thread(follow_up, svc, principal, visit_id, form) \
            if action == "reschedule" else None
        client = await svc.temporal()
    except ActionRefused as exc:
        return False, str(exc)
    except TemporalUnavailable as exc:
        return False, str(exc)
    ok, message = await _update(client, visit_id, action, arg, update_id)
    if ok and then is not None:
        ok, message = await _update(client, visit_id, *then,
                                    f"{update_id}:then" if update_id else None)
        if not ok:
            message = f"Visite à replanifier, mais : {message}"
    for sent in (arg, then[1] if then else None):
        if not ok and isinstance(sent, ProposeDates):  # refused: its days are free again
            await asyncio.to_thread(_release, svc, visit_id, sent)
    return ok, message


def _release(svc: Services, visit_id: int, sent: ProposeDates) -> None:
    with Session(svc.engine) as s:
        holds.release(s, visit_id, [dt.date.fromisoformat(d) for d in sent.dates])


async def _update(client: Any, visit_id: int, action: str, arg: Any,
                  update_id: str | None = None) -> tuple[bool, str]:
    handle = visit_handle(client, visit_id)
    try:
        result = await asyncio.wait_for(handle.execute_update(action, arg, id=update_id),
                                        UPDATE_TIMEOUT_S)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        return False, getattr(cause, "message", None) or str(cause or exc)
    except RPCError as exc:
        return False, f"Visite non modifiable : {exc.message}"
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return False, "La visite n'a pas répondu à temps"
    state = result.get("state") if isinstance(result, dict) else getattr(result, "state", "")
    return True, str(state)


async def ensure_started(svc: Services, visit_id: int) -> None:
    client = await svc.temporal()
    await start_visit_workflow(client, svc.engine, visit_id, svc.settings)


async def live_view(svc: Services, visit_id: int) -> VisitView | None:
    """The workflow's view, or None when Temporal does not answer in time (the page then
    shows the projection and the ledger)."""
    try:
        client = await svc.temporal()
        return await asyncio.wait_for(
            visit_handle(client, visit_id).query("view", result_type=VisitView),
            svc.settings.console_query_timeout)
    except (TemporalUnavailable, RPCError, TimeoutError):
        return None
    except Exception:  # a workflow that failed or was never started
        return None
