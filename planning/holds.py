"""Holds: a consultant's day offered to one client is held until that client answers.

``planning.rules.check_dates`` already refuses a day another open proposal of the consultant
offers, as the projection shows it; two proposals sent at the same second could both pass
that read. So sending claims each offered day in ``visit_hold`` (unique per consultant and
day) before the proposal reaches the workflow: the second claim fails on the unique key and
the planner is told. A hold is live while its visit still offers that day (proposed or
awaiting the client), or for ``CLAIM_GRACE`` after the claim (the proposal on its way to the
workflow); any other hold is stale and is taken over. A proposal the workflow refuses
releases its claims.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from messages.visits import VisitState
from models.visits import Visit, VisitHold

CLAIM_GRACE = dt.timedelta(seconds=60)
WAITING = (VisitState.PROPOSED, VisitState.AWAITING_CLIENT)


def _live(s: Session, hold: VisitHold, now: dt.datetime) -> bool:
    visit = s.get(Visit, hold.visit_id)
    if visit is None or visit.state in (VisitState.CANCELLED, VisitState.REPORT_SENT):
        return False
    if visit.state in WAITING and visit.consultant_id == hold.consultant_id \
            and hold.day.isoformat() in visit.proposed_dates:
        return True
    claimed = hold.claimed_at if hold.claimed_at.tzinfo else \
        hold.claimed_at.replace(tzinfo=dt.UTC)
    return now - claimed < CLAIM_GRACE


def claim(s: Session, visit_id: int, consultant_id: int, days: list[dt.date],
          now: dt.datetime) -> str | None:
    """Hold ``days`` for ``visit_id``, or say why one of them is held for another visit
    (nothing claimed then). Commits."""
    for day in days:
        held = s.exec(select(VisitHold).where(VisitHold.consultant_id == consultant_id,
                                              VisitHold.day == day)).first()
        if held is None:
            continue
        if held.visit_id != visit_id and _live(s, held, now):
            s.rollback()
            return _refusal(day, held.visit_id)
        s.delete(held)  # this visit's own, or stale: taken over
    s.flush()
    for day in days:
        s.add(VisitHold(consultant_id=consultant_id, day=day, visit_id=visit_id,
                        claimed_at=now))
    try:
        s.commit()
    except IntegrityError:  # claimed at the same moment for another client
        s.rollback()
        return _refusal(days[0], None)
    return None


def release(s: Session, visit_id: int, days: list[dt.date]) -> None:
    """The claims of a proposal the workflow refused. Commits."""
    for hold in s.exec(select(VisitHold).where(VisitHold.visit_id == visit_id,
                                               col(VisitHold.day).in_(days))).all():
        s.delete(hold)
    s.commit()


def _refusal(day: dt.date, visit_id: int | None) -> str:
    return (f"Le consultant a déjà une visite ou une date proposée en attente de réponse "
            f"le {day:%d/%m/%Y} (visite n° {visit_id or '—'}) : une visite par jour au plus")
