"""The planners' view: a month calendar per consultant with each visit's state, the load per
consultant, what is owed but unplanned and what is overdue, quick actions; the managers'
entitlement dashboard; and each consultant's iCalendar feed.

The feed is read by calendar programs that cannot sign in: its address carries a signature
of the consultant's id and feed key (``itsdangerous``, the visit-link key with its own salt)
and gives nothing but that consultant's visits. The key is the user's to rotate or revoke
from "Mes visites" (an administrator may revoke it from the users' page); a deactivated
user's feed answers 404 (``planning.ics``).
"""

from __future__ import annotations

import asyncio
import calendar as pycal
import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from itsdangerous import BadSignature
from sqlmodel import Session, col, select

from console.auth import Principal, require, set_flash
from console.deps import Services, TemporalUnavailable
from console.feed_links import ics_signer, ics_url
from console.pages_visits import consultants, state_name
from console.params import parse_int, year_param
from console.visit_actions import run_visit_action, today_local
from console.web import lang_of, redirect, render
from contracts.store import unmonitored_client_ids
from domain.calendar import site_calendar
from messages.visits import FINAL_STATES, VisitState
from models.tables import Client, Site, User
from models.types import utcnow
from models.visits import ConsultantLeave, Visit, VisitEntitlement
from planning import entitlement as ent
from planning import ics, inbox
from planning import leave as leaves
from planning.launch import start_visit_workflow
from planning.notify import visit_ref
from planning.rules import late_days, overdue

router = APIRouter()


def svc_of(request: Request) -> Services:
    return request.app.state.services


@router.post("/calendar/{change}")
def ics_change(request: Request, change: str,
               principal: Principal = Depends(require("visit.run"))) -> Response:
    """The signed-in user's own feed: ``rotate`` (a new link, the old ones dead) or
    ``revoke`` (no link until a new one is made)."""
    if change not in ("rotate", "revoke"):
        raise HTTPException(404, "Action inconnue")
    svc = svc_of(request)
    with Session(svc.engine) as s:
        if change == "rotate":
            ics.rotate_key(s, principal.user_id or 0, principal.username)
        else:
            ics.revoke_key(s, principal.user_id or 0, principal.username)
        s.commit()
    set_flash(svc, principal, "ok:Nouveau lien de calendrier : l'ancien ne fonctionne plus."
              if change == "rotate" else "ok:Lien de calendrier révoqué.")
    return redirect("/visits/mine")


def _month(raw: str | None, today: dt.date) -> dt.date:
    try:
        y, m = (int(x) for x in (raw or "").split("-"))
        return dt.date(y, m, 1)
    except ValueError:
        return today.replace(day=1)


@router.get("/planning")
def planning(request: Request, principal: Principal = Depends(require("planning"))
             ) -> Response:
    """One month per consultant, the load, the unplanned entitlements and the overdue
    visits (3.2.4)."""
    svc = svc_of(request)
    today = today_local(svc)
    month = _month(request.query_params.get("month"), today)
    last = month.replace(day=pycal.monthrange(month.year, month.month)[1])
    year = year_param(request.query_params.get("year"), today.year)
    with Session(svc.engine, expire_on_commit=False) as s:
        people = consultants(s)
        visits = s.exec(select(Visit, Client).join(Client, col(Client.id) == Visit.client_id)
                        .where(col(Visit.date) >= month, col(Visit.date) <= last)).all()
        # dates offered and not answered yet show as options on the consultant's calendar
        waiting = s.exec(select(Visit, Client).join(Client, col(Client.id) == Visit.client_id)
                         .where(col(Visit.state).in_([VisitState.PROPOSED,
                                                      VisitState.AWAITING_CLIENT]))).all()
        options = [(dt.date.fromisoformat(d), v, c) for v, c in waiting
                   for d in v.proposed_dates if month.isoformat() <= d <= last.isoformat()]
        leave = s.exec(select(ConsultantLeave).where(col(ConsultantLeave.day) >= month,
                                                     col(ConsultantLeave.day) <= last)).all()
        weeks = pycal.Calendar().monthdatescalendar(month.year, month.month)
        team = site_calendar(None)
        calendars = []
        for person in [*people, None]:
            mine = [(v, c) for v, c in visits if v.consultant_id == (person.id if person else None)]
            if person is None and not mine and not any(
                    v.consultant_id is None for _, v, _ in options):
                continue
            by_day: dict[dt.date, list[Any]] = {}
            for v, c in mine:
                by_day.setdefault(v.date, []).append((v, c, False))
            for day, v, c in options:
                if v.consultant_id == (person.id if person else None) and v.date != day:
                    by_day.setdefault(day, []).append((v, c, True))
            off = {lv.day: lv.note for lv in leave if person and lv.user_id == person.id}
            calendars.append({"person": person, "by_day": by_day, "leave": off})
        year_visits = s.exec(select(Visit).where(Visit.contract_year == year)).all()
        load = [{"person": p,
                 "month": sum(1 for v, _ in visits if v.consultant_id == p.id
                              and v.state != VisitState.CANCELLED),
                 "year": sum(1 for v in year_visits if v.consultant_id == p.id
                             and v.state != VisitState.CANCELLED)} for p in people]
        rows = _entitlement_rows(s, svc, year, today)
        late = [(v, s.get(Client, v.client_id)) for v in overdue(s, today)]
        late_by = {v.id: late_days(s, v, today) for v, _ in late}
        to_act = sum(1 for r in inbox.inbox(s, utcnow(), today) if r.kind != "awaiting")
        unassigned = s.exec(select(Visit, Client).join(Client, col(Client.id) == Visit.client_id)
                            .where(Visit.contract_year == year,
                                   col(Visit.state).not_in(list(FINAL_STATES)),
                                   col(Visit.state).in_([VisitState.PLANNED,
                                                         VisitState.RESCHEDULED,
                                                         VisitState.MISSED,
                                                         VisitState.NO_ACCESS]))
                            .order_by(col(Visit.due_start))).all()
    prev_m = (month - dt.timedelta(days=1)).replace(day=1)
    next_m = last + dt.timedelta(days=1)
    return render(request, principal, "planning.html", month=month, weeks=weeks,
                  calendars=calendars, load=load, rows=rows, late=late, to_plan=unassigned,
                  year=year, team=team, today=today, state_name=state_name, ref=visit_ref,
                  prev_month=f"{prev_m:%Y-%m}", next_month=f"{next_m:%Y-%m}",
                  people=people, counting=svc.settings.visit_counting, late_days=late_by,
                  to_act=to_act,
                  ics={p.id: ics_url(svc, p.id or 0) for p in people})


def _entitlement_rows(s: Session, svc: Services, year: int, today: dt.date
                      ) -> list[dict[str, Any]]:
    rows = []
    not_in_service = unmonitored_client_ids(s)  # onboarding or terminated: nothing owed
    for client in s.exec(select(Client).where(col(Client.active).is_(True))
                         .order_by(col(Client.name))).all():
        if client.id in not_in_service:
            continue
        stored = ent.entitlement_for(s, client.id or 0, year, svc.settings.visit_counting,
                                     svc.settings.contract_year_start)
        rows.append({"client": client, "ent": stored,
                     "counts": ent.counts(s, client.id or 0, year, stored.owed, today)})
    s.commit()
    return rows


@router.post("/planning/plan-year")
async def plan_year(request: Request, principal: Principal = Depends(require("visit.plan"))
                    ) -> Response:
    """Creates the visits still owed for the year (each with its spread due window) and
    starts their workflows."""
    svc = svc_of(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    year = year_param(form.get("year"), today_local(svc).year)
    only = parse_int(form.get("client_id"))

    today = today_local(svc)

    def create() -> tuple[list[int], int]:
        with Session(svc.engine, expire_on_commit=False) as s:
            ids = [c.id or 0 for c in s.exec(select(Client).where(
                col(Client.active).is_(True))).all() if only is None or c.id == only]
            plans = [ent.plan_year_recut(s, cid, year, svc.settings.visit_counting,
                                         svc.settings.contract_year_start, today)
                     for cid in ids]
            s.commit()
            return [v.id or 0 for p in plans for v in p.created], \
                sum(len(p.recut) for p in plans)

    created, recut = await asyncio.to_thread(create)
    try:
        client = await svc.temporal()
        for vid in created:
            await start_visit_workflow(client, svc.engine, vid, svc.settings)
        message = f"ok:{len(created)} visite(s) planifiée(s)." if not recut else \
            f"ok:{len(created)} visite(s) planifiée(s), {recut} fenêtre(s) recoupée(s)."
    except TemporalUnavailable as exc:
        message = f"err:{len(created)} visite(s) créée(s), workflows non démarrés : {exc}" \
            if not recut else (f"err:{len(created)} visite(s) créée(s), {recut} fenêtre(s) "
                               f"recoupée(s), workflows non démarrés : {exc}")
    await asyncio.to_thread(set_flash, svc, principal, message)
    return redirect(f"/planning?year={year}")


@router.post("/planning/leave")
async def add_leave(request: Request, principal: Principal = Depends(require("visit.plan"))
                    ) -> Response:
    svc = svc_of(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        uid = int(form.get("user_id", ""))
        start = dt.date.fromisoformat(form.get("start", ""))
        end = dt.date.fromisoformat(form.get("end") or form.get("start", ""))
    except ValueError:
        await asyncio.to_thread(set_flash, svc, principal, "err:Congé : dates illisibles")
        return redirect("/planning")
    if end < start or (end - start).days > 366:
        await asyncio.to_thread(set_flash, svc, principal, "err:Congé : période invalide")
        return redirect("/planning")

    over = form.get("over") or leaves.OVER_REFUSE

    def save() -> tuple[int, list[Visit]]:
        with Session(svc.engine, expire_on_commit=False) as s:
            user = s.get(User, uid)
            if user is None or user.role != "consultant":
                raise HTTPException(422, "Consultant inconnu")
            hit = leaves.confirmed_on(s, uid, start, end)
            if hit and over != leaves.OVER_RESCHEDULE:
                return 0, hit  # refused: nothing recorded
            n = leaves.record_leave(s, uid, start, end, form.get("note", ""))
            s.commit()
            return n, hit

    n, hit = await asyncio.to_thread(save)
    if hit and over != leaves.OVER_RESCHEDULE:
        listed = ", ".join(f"{visit_ref(v.id or 0)} le {v.date:%d/%m/%Y}" for v in hit)
        message = (f"err:Congé refusé : visite confirmée sur ces jours ({listed}). "
                   "Choisir « replanifier ces visites » pour prendre le congé.")
    else:
        moved = 0
        for v in hit:  # the client is told which date was dropped (the visit workflow)
            ok, _ = await run_visit_action(svc, principal, v.id or 0, "reschedule", {
                "reason": f"congé du consultant le {v.date:%d/%m/%Y}"})
            moved += ok
        message = f"ok:{n} jour(s) de congé enregistré(s)."
        if hit:
            message += f" {moved} visite(s) remise(s) à replanifier, client(s) prévenu(s)."
    await asyncio.to_thread(set_flash, svc, principal, message)
    return redirect(f"/planning?month={start:%Y-%m}")


@router.get("/planning/inbox")
def inbox_page(request: Request, principal: Principal = Depends(require("planning"))
               ) -> Response:
    """What waits on a planner, each row with its action (``planning.inbox``)."""
    rows = _inbox(svc_of(request))
    return render(request, principal, "planning_inbox.html", rows=rows,
                  state_name=state_name)


@router.get("/api/planning/inbox")
def inbox_api(request: Request, principal: Principal = Depends(require("planning"))
              ) -> Response:
    return JSONResponse({"rows": [r.as_json() for r in _inbox(svc_of(request))]})


def _inbox(svc: Services) -> list[inbox.InboxRow]:
    with Session(svc.engine, expire_on_commit=False) as s:
        return inbox.inbox(s, utcnow(), today_local(svc))


@router.get("/entitlements")
def entitlements(request: Request, principal: Principal = Depends(require("entitlement"))
                 ) -> Response:
    """Owed against done per client and contract year, and the late visits."""
    svc = svc_of(request)
    today = today_local(svc)
    year = year_param(request.query_params.get("year"), today.year)
    with Session(svc.engine, expire_on_commit=False) as s:
        rows = _entitlement_rows(s, svc, year, today)
        late = [(v, s.get(Client, v.client_id)) for v in overdue(s, today)]
        late_by = {v.id: late_days(s, v, today) for v, _ in late}
        years = sorted({y for y in s.exec(select(VisitEntitlement.contract_year)).all()}
                       | {year})
    return render(request, principal, "entitlements.html", rows=rows, late=late, year=year,
                  late_days=late_by,
                  years=years, ref=visit_ref, state_name=state_name,
                  counting=svc.settings.visit_counting)


@router.get("/calendar/{user_id:int}/{sig}.ics")
def ics_feed(request: Request, user_id: int, sig: str) -> Response:
    svc = svc_of(request)
    with Session(svc.engine, expire_on_commit=False) as s:
        key = ics.live_key(s, user_id)  # None: revoked, never made, or the user inactive
        try:
            valid = key is not None and ics_signer(svc).verify_signature(
                f"{user_id}.{key}".encode(), sig.encode())
        except BadSignature:
            valid = False
        if not valid:
            raise HTTPException(404, "Calendrier introuvable")
        body = ics.feed_for(s, user_id, svc.settings.timezone)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": "inline; filename=\"visites.ics\""})


def site_names(s: Session, visit: Visit) -> str:
    site = s.get(Site, visit.site_id) if visit.site_id else None
    return site.name if site else ""


@router.get("/planning/suggest")
async def suggest_page(request: Request, principal: Principal = Depends(require("visit.plan"))
                       ) -> Response:
    """The suggester's plan for the visits still to propose: each with its date, why that
    day, its consultant and one or two other days, ready to be sent in one click (no day of
    a consultant offered by two rows; a row whose day another row offers waits)."""
    from console.i18n_visits import suggestion_reason
    from planning import suggest as sg
    from planning.optimal import optimal
    from planning.suggest_db import problem_from_db

    svc = svc_of(request)
    today = today_local(svc)
    year = year_param(request.query_params.get("year"), today.year)
    method = "greedy" if request.query_params.get("method") == "greedy" else "optimal"
    lang = lang_of(request)

    def run() -> dict[str, Any]:
        with Session(svc.engine, expire_on_commit=False) as s:
            problem = problem_from_db(s, year, today)
            plan = (sg.greedy(problem) if method == "greedy"
                    else optimal(problem, time_limit_s=8.0))
            dates = sg.offers(problem, plan)
            names = {u.id: u.full_name or u.username for u in consultants(s)}
            rows = []
            for need in sorted(problem.visits, key=lambda n: n.end):
                b = plan.bookings.get(need.key)
                client = s.get(Client, need.client_id)
                rows.append({"need": need, "booking": b, "client": client,
                             "consultant": names.get(b.consultant) if b else None,
                             "dates": dates.get(need.key, ()),
                             "why": suggestion_reason(lang, b.reason) if b else "",
                             "late": need.end < need.start})
            return {"rows": rows, "violations": sg.violations(problem, plan),
                    "out_of_window": sg.out_of_window(problem, plan),
                    "solve_s": plan.solve_s,
                    "fallback": method == "optimal" and plan.status.startswith("greedy")}

    data = await asyncio.to_thread(run)
    return render(request, principal, "planning_suggest.html", year=year, method=method,
                  ref=visit_ref, **data)
