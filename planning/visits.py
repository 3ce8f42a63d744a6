"""The visits' data layer: create a visit, list the open ones, write its ledger and projection.

Used directly by the console and the demo, and through ``activities/visits.py`` by the visit
workflow (the projection and ledger are written only by the workflow's activities, which are
idempotent: a ledger line is unique per visit and sequence number).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from messages.visits import (
    FINAL_STATES,
    VisitEventInput,
    VisitSnapshot,
    VisitState,
    visit_workflow_id,
)
from models.types import utcnow
from models.visits import Visit, VisitEvent
from planning import techdoc

KINDS = ("preventive", "onboarding")
MAX_DAYS = {"preventive": 1, "onboarding": 2}


class VisitError(ValueError):
    """A visit that the contract does not allow (longer than a day, outside its window...)."""


def create_visit(
    session: Session,
    client_id: int,
    kind: str,
    due_start: dt.date,
    due_end: dt.date,
    days: int = 1,
    site_id: int | None = None,
    contract_year: int | None = None,
) -> Visit:
    """A new visit row in state ``planned``, with its workflow id (``visit-{id}``); the caller
    starts the workflow (``planning.launch.start_visit_workflow``) after the commit."""
    if kind not in KINDS:
        raise VisitError(f"type de visite inconnu : {kind}")
    if not 1 <= days <= MAX_DAYS[kind]:
        raise VisitError(
            "Une visite préventive dure une journée au plus (3.2.4)"
            if kind == "preventive"
            else f"Une visite de démarrage dure {MAX_DAYS[kind]} jours au plus"
        )
    if due_end < due_start:
        raise VisitError("La fin de la fenêtre précède son début")
    visit = Visit(
        client_id=client_id,
        site_id=site_id,
        kind=kind,
        days=days,
        contract_year=contract_year if contract_year is not None else due_start.year,
        due_start=due_start,
        due_end=due_end,
        state=VisitState.PLANNED,
    )
    session.add(visit)
    session.flush()
    visit.workflow_id = visit_workflow_id(visit.id or 0)
    session.add(visit)
    session.flush()
    return visit


def open_visits(session: Session, client_id: int) -> list[Visit]:
    """The client's visits that are neither done (report sent) nor cancelled."""
    return list(
        session.exec(
            select(Visit)
            .where(Visit.client_id == client_id, col(Visit.state).not_in(list(FINAL_STATES)))
            .order_by(col(Visit.due_start), col(Visit.id))
        ).all()
    )


def append_event(session: Session, ev: VisitEventInput) -> None:
    """One ledger line; a retried activity finds its own line and writes nothing."""
    found = session.exec(
        select(VisitEvent.id).where(VisitEvent.visit_id == ev.visit_id, VisitEvent.seq == ev.seq)
    ).first()
    if found is not None:
        return
    session.add(
        VisitEvent(
            visit_id=ev.visit_id,
            seq=ev.seq,
            at=ev.at,
            action=ev.action,
            actor=ev.actor,
            from_state=ev.from_state,
            to_state=ev.to_state,
            reason=ev.reason,
            data=dict(ev.data),
        )
    )
    try:
        session.flush()
    except IntegrityError:  # a concurrent attempt wrote it first
        session.rollback()


def save_snapshot(session: Session, snap: VisitSnapshot) -> None:
    """The console's projection, written by the workflow in order (one activity at a time)."""
    visit = session.get(Visit, snap.visit_id)
    if visit is None:
        raise VisitError(f"visite {snap.visit_id} introuvable")
    visit.state = snap.state
    visit.date = dt.date.fromisoformat(snap.date) if snap.date else None
    visit.consultant_id = snap.consultant_id
    visit.proposal = snap.proposal
    visit.proposed_dates = list(snap.proposed_dates)
    visit.answer_deadline = snap.answer_deadline
    visit.reason = snap.reason
    visit.started_at = snap.started_at
    visit.finished_at = snap.finished_at
    visit.advice = snap.advice
    visit.questions = snap.questions
    visit.open_items = list(snap.open_items)
    visit.updated_at = snap.updated_at
    if snap.state == VisitState.IN_PROGRESS and visit.techdoc_before is None:
        # the technical document as the consultant found it (version 1 from the inventory
        # when the client has none yet)
        current = techdoc.latest(session, visit.client_id) or techdoc.save_version(
            session, visit.client_id, {}, "system", visit.id)
        visit.techdoc_before = current.version
    session.add(visit)


def timeline(session: Session, visit_id: int) -> list[VisitEvent]:
    return list(
        session.exec(
            select(VisitEvent).where(VisitEvent.visit_id == visit_id).order_by(col(VisitEvent.seq))
        ).all()
    )


def visits_between(
    session: Session, start: dt.date, end: dt.date, consultant_id: int | None = None
) -> list[Visit]:
    """Visits with a date in [start, end] (the planner's month, a consultant's feed)."""
    q = select(Visit).where(col(Visit.date) >= start, col(Visit.date) <= end)
    if consultant_id is not None:
        q = q.where(Visit.consultant_id == consultant_id)
    return list(session.exec(q.order_by(col(Visit.date), col(Visit.id))).all())


def touch(visit: Visit) -> None:
    visit.updated_at = utcnow()
