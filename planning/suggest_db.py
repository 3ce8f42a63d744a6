"""The suggester's problem from the database: the visits still to propose (late ones start
tomorrow), the consultants with their leave and the days other visits already hold
(confirmed, or offered by an open proposal: ``planning.rules.busy_days``)."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, select

from messages.visits import VisitState
from models.tables import Site, User
from models.visits import ConsultantLeave, SitePlace, Visit
from planning.entitlement import ideal_day
from planning.rules import busy_days
from planning.site_days import own_days
from planning.suggest import Consultant, Problem, VisitNeed

TO_PROPOSE = (VisitState.PLANNED, VisitState.RESCHEDULED, VisitState.MISSED,
              VisitState.NO_ACCESS)


def problem_from_db(s: Session, year: int, today: dt.date, late_days: int = 120) -> Problem:
    rows = s.exec(select(Visit).where(Visit.contract_year == year,
                                      col(Visit.state).in_(list(TO_PROPOSE)))).all()
    tomorrow = today + dt.timedelta(days=1)
    needs = []
    for v in rows:
        site = s.get(Site, v.site_id) if v.site_id else None
        days = own_days(s, site)
        place = s.get(SitePlace, v.site_id) if v.site_id else None
        start = max(v.due_start, tomorrow)
        end = v.due_end
        ideal = min(max(ideal_day((v.due_start, v.due_end)), start), max(start, end))
        needs.append(VisitNeed(key=v.id or 0, client_id=v.client_id, start=start, end=end,
                               ideal=ideal, subdiv=days.subdiv, closed=days.closed,
                               opened=days.opened,
                               area=(place.postcode[:2] if place and place.postcode else ""),
                               consultant=v.consultant_id))
    # late visits (window past) need days after today whatever their window says
    horizon = max([today, *(n.end for n in needs)]) + dt.timedelta(days=late_days)
    mine = {n.key for n in needs}
    people = []
    for user in s.exec(select(User).where(User.role == "consultant",
                                          col(User.active).is_(True))).all():
        uid = user.id or 0
        leave = frozenset(s.exec(select(ConsultantLeave.day).where(
            ConsultantLeave.user_id == uid, col(ConsultantLeave.day) >= today)).all())
        busy = frozenset(d for d, vid in busy_days(s, uid, today, horizon).items()
                         if vid not in mine)
        people.append(Consultant(id=uid, leave=leave, busy=busy))
    return Problem(tuple(n for n in needs if n.start <= horizon), tuple(people), horizon)
