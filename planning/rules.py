"""The hard rules of planning, as the planner's actions and the suggester both check them.

* dates only on business days of the **client site's** calendar (``domain.calendar``, with
  the site's own closed and open days: ``planning.site_days``);
* inside the visit's due window, in the future; a late visit (its window past, or fewer
  than two business days of it left) stays owed and may be offered any later business day;
* a consultant does at most one visit a day, and none on a leave day;
* a preventive visit lasts one day at most.
The workflow's validator checks what it can know itself (window, site calendar, the one-day
limit); the consultant's other visits and leave live in the database and are checked here.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, select

from domain.calendar import BusinessCalendar
from messages.visits import FINAL_STATES, VisitRules, VisitState, bookable_until, business_days_late
from models.visits import ConsultantLeave, Visit
from planning.site_days import calendar_of, own_days_of

# A visit in these states holds its consultant's day.
HOLDS_DAY = frozenset({VisitState.CONFIRMED, VisitState.IN_PROGRESS,
                       VisitState.REPORT_WRITTEN, VisitState.REPORT_SENT})


def leave_days(s: Session, user_id: int, start: dt.date, end: dt.date) -> set[dt.date]:
    return set(s.exec(select(ConsultantLeave.day).where(
        ConsultantLeave.user_id == user_id, col(ConsultantLeave.day) >= start,
        col(ConsultantLeave.day) <= end)).all())


def busy_days(s: Session, user_id: int, start: dt.date, end: dt.date,
              exclude_visit: int | None = None) -> dict[dt.date, int]:
    """Days the consultant already has a visit on (booked, or offered to another client and
    still waiting for its answer), with that visit's id."""
    rows = s.exec(select(Visit).where(Visit.consultant_id == user_id,
                                      col(Visit.state).not_in([VisitState.CANCELLED]))).all()
    out: dict[dt.date, int] = {}
    for v in rows:
        if v.id == exclude_visit:
            continue
        days: list[dt.date] = []
        if v.date is not None and v.state in HOLDS_DAY:
            days.append(v.date)
        if v.state in (VisitState.PROPOSED, VisitState.AWAITING_CLIENT):
            days.extend(dt.date.fromisoformat(d) for d in v.proposed_dates)
        for d in days:
            if start <= d <= end:
                out[d] = v.id or 0
    return out


def visit_calendar(s: Session, visit: Visit) -> BusinessCalendar:
    """The visit's site calendar: its subdivision and the site's own closed and open days."""
    return calendar_of(own_days_of(s, visit.site_id))


def date_bounds(s: Session, visit: Visit, today: dt.date) -> tuple[dt.date, dt.date | None]:
    """The first and last day ``visit`` may be offered (last None: a late visit, no end)."""
    cal = visit_calendar(s, visit)
    first = max(visit.due_start, today + dt.timedelta(days=1))
    return first, bookable_until(visit.due_end, today, cal.is_business_day)


def late_days(s: Session, visit: Visit, today: dt.date) -> int:
    """Business days (site calendar) between the window's end and the visit's date, or
    today while it is not done: 0 for a visit on time."""
    cal = visit_calendar(s, visit)
    day = visit.date if visit.date is not None else today
    return business_days_late(visit.due_end, day, cal.is_business_day)


def free_days(s: Session, visit: Visit, consultant_id: int | None, today: dt.date,
              n: int = 3, after: dt.date | None = None) -> list[dt.date]:
    """The first ``n`` days ``visit`` could be offered (site business days, the consultant
    free and not on leave, no day held by another open proposal), from ``after``."""
    cal = visit_calendar(s, visit)
    first, last = date_bounds(s, visit, today)
    day = max(first, after or first)
    end = last or day + dt.timedelta(days=366)
    off = leave_days(s, consultant_id, day, end) if consultant_id else set()
    busy = busy_days(s, consultant_id, day, end, exclude_visit=visit.id) \
        if consultant_id else {}
    out: list[dt.date] = []
    while day <= end and len(out) < n:
        if cal.is_business_day(day) and day not in off and day not in busy:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def check_dates(s: Session, visit: Visit, dates: list[dt.date], consultant_id: int | None,
                today: dt.date) -> str | None:
    """Why these dates cannot be offered for ``visit``, or None."""
    if visit.kind == "preventive" and visit.days > 1:
        return "Une visite préventive dure une journée au plus (3.2.4)"
    if not 2 <= len(dates) <= 3:
        return "Proposer deux ou trois dates"
    if len(set(dates)) != len(dates):
        return "Les dates proposées doivent être différentes"
    return check_days(s, visit, dates, consultant_id, today)


def check_days(s: Session, visit: Visit, dates: list[dt.date], consultant_id: int | None,
               today: dt.date) -> str | None:
    """Why one of these days cannot be ``visit``'s (offered, or agreed by phone), or None.
    A day offered in another open proposal of the consultant is held until answered."""
    cal = visit_calendar(s, visit)
    _, last = date_bounds(s, visit, today)
    for d in dates:
        if d <= today:
            return f"Le {d:%d/%m/%Y} n'est pas dans le futur"
        if d < visit.due_start or (last is not None and d > last):
            return (f"Le {d:%d/%m/%Y} est hors de la fenêtre de la visite "
                    f"({visit.due_start:%d/%m/%Y} – {visit.due_end:%d/%m/%Y})")
        if not cal.is_business_day(d):
            name = cal.holiday_name(d)
            return f"Le {d:%d/%m/%Y} n'est pas un jour ouvré du site" + (
                f" ({name})" if name else "")
    if consultant_id is not None:
        lo, hi = min(dates), max(dates)
        off = leave_days(s, consultant_id, lo, hi)
        busy = busy_days(s, consultant_id, lo, hi, exclude_visit=visit.id)
        for d in dates:
            if d in off:
                return f"Le consultant est en congé le {d:%d/%m/%Y}"
            if d in busy:
                return (f"Le consultant a déjà une visite ou une date proposée en attente "
                        f"de réponse le {d:%d/%m/%Y} (visite n° {busy[d]}) : une visite "
                        f"par jour au plus")
    return None


def visit_rules(s: Session, visit: Visit) -> VisitRules:
    """The window and site days the workflow must check a proposal against: the database's
    (a window re-cut mid-year, a closure typed since the workflow started)."""
    days = own_days_of(s, visit.site_id)
    return VisitRules(visit.due_start.isoformat(), visit.due_end.isoformat(),
                      tuple(sorted(d.isoformat() for d in days.closed)),
                      tuple(sorted(d.isoformat() for d in days.opened)))


def overdue(s: Session, today: dt.date) -> list[Visit]:
    """Visits whose due window has passed and that are neither done nor cancelled."""
    return list(s.exec(select(Visit).where(col(Visit.due_end) < today,
                                           col(Visit.state).not_in(list(FINAL_STATES)),
                                           col(Visit.state) != VisitState.REPORT_WRITTEN)
                       .order_by(col(Visit.due_end))).all())
