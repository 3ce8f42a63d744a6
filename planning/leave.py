"""A consultant's leave, recorded by the planner: never silently over a confirmed visit.

Leave over a day where the consultant has a confirmed visit is refused, unless the planner
chooses to take it and put those visits back to rescheduling (the client is told by the
visit workflow which date was dropped); the console carries that choice out.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, select

from messages.visits import VisitState
from models.visits import ConsultantLeave, Visit

OVER_REFUSE = "refuse"
OVER_RESCHEDULE = "reschedule"


def confirmed_on(s: Session, user_id: int, start: dt.date, end: dt.date) -> list[Visit]:
    """The consultant's confirmed visits dated in [start, end]."""
    return list(s.exec(select(Visit).where(
        Visit.consultant_id == user_id, Visit.state == VisitState.CONFIRMED,
        col(Visit.date) >= start, col(Visit.date) <= end).order_by(col(Visit.date))).all())


def record_leave(s: Session, user_id: int, start: dt.date, end: dt.date, note: str) -> int:
    """The leave days not yet recorded; returns how many were added."""
    have = set(s.exec(select(ConsultantLeave.day).where(
        ConsultantLeave.user_id == user_id)).all())
    day, n = start, 0
    while day <= end:
        if day not in have:
            s.add(ConsultantLeave(user_id=user_id, day=day, note=note[:200]))
            n += 1
        day += dt.timedelta(days=1)
    return n
