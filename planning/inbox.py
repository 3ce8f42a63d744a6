"""What waits on a planner: the rows of the planner's inbox (page and JSON), each with its
action. Read from the projection, the ledger and the communications, so planner alerts reach
planners in the console even when no planner address is set (the alert mail is then
recorded "no recipient" and the row is here all the same).

Kinds, in the order they are shown:

* ``none_suits`` — the client answered that none of the dates suit: propose others;
* ``no_answer`` — the answer deadline passed without an answer: call the client;
* ``proposal_undelivered`` — the proposal mail could not go out (no address, refused):
  call the client;
* ``leave_hit`` — a confirmed visit falls on its consultant's leave or a day its site is
  closed: reschedule it;
* ``report_undelivered`` — a report marked sent whose mail did not go out;
* ``late`` — a visit past its window with no date yet: propose dates after it;
* ``awaiting`` — a proposal waiting for its answer (deadline, reminders sent).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from sqlmodel import Session, col, select

from messages.visits import VisitState, VisitStep
from models.tables import Client, Communication
from models.visits import ConsultantLeave, Visit, VisitEvent
from planning.notify import visit_ref
from planning.rules import late_days, visit_calendar

V = VisitState
KINDS = ("none_suits", "no_answer", "proposal_undelivered", "leave_hit", "report_undelivered",
         "late", "awaiting")
DELIVERED = frozenset({"sent", "delivered", "confirmed"})


@dataclass(frozen=True)
class InboxRow:
    kind: str
    visit_id: int
    ref: str
    client: str
    state: str
    detail: str  # French, for the planner (one sentence per kind, no data in it)
    action: str  # French label of the row's action
    url: str  # where the action is taken
    deadline: dt.datetime | None = None
    reminders: int = 0
    day: dt.date | None = None  # the confirmed day, or the window's end for a late visit
    late_days: int = 0
    dates: tuple[str, ...] = ()  # the dates offered

    def dates_shown(self) -> str:
        return ", ".join(f"{dt.date.fromisoformat(d):%d/%m/%Y}" for d in self.dates if d)

    def as_json(self) -> dict[str, object]:
        out = asdict(self)
        out["deadline"] = self.deadline.isoformat() if self.deadline else None
        out["day"] = self.day.isoformat() if self.day else None
        out["dates"] = list(self.dates)
        return out


def _mails(s: Session, visit: Visit, step: str, prefix: str = "") -> list[Communication]:
    key = f"{visit_ref(visit.id or 0)}:{step}:{prefix}"
    return list(s.exec(select(Communication).where(col(Communication.key).startswith(key))
                       .order_by(col(Communication.id))).all())


def _last_answer(s: Session, visit: Visit) -> VisitEvent | None:
    """The ledger's last line that decided the current proposal, if a client answer."""
    row = s.exec(select(VisitEvent).where(
        VisitEvent.visit_id == visit.id,
        col(VisitEvent.action).in_(["client_answer", "propose", "confirm", "reschedule"]))
        .order_by(col(VisitEvent.seq).desc())).first()
    return row if row is not None and row.action == "client_answer" else None


def inbox(s: Session, now: dt.datetime, today: dt.date) -> list[InboxRow]:
    names = {c.id: c.name for c in s.exec(select(Client)).all()}
    rows: list[InboxRow] = []

    def row(kind: str, v: Visit, detail: str, action: str, anchor: str = "",
            **extra: object) -> None:
        rows.append(InboxRow(kind, v.id or 0, visit_ref(v.id or 0), names.get(v.client_id, ""),
                             v.state, detail, action, f"/visits/{v.id}{anchor}",
                             **extra))  # type: ignore[arg-type]

    waiting = s.exec(select(Visit).where(col(Visit.state).in_(
        [V.PROPOSED, V.AWAITING_CLIENT])).order_by(col(Visit.answer_deadline))).all()
    for v in waiting:
        reminders = len(_mails(s, v, VisitStep.REMINDER, f"{v.proposal}."))
        deadline = v.answer_deadline
        if deadline is not None and deadline.tzinfo is None:
            deadline = deadline.replace(tzinfo=dt.UTC)
        key = f"{visit_ref(v.id or 0)}:{VisitStep.PROPOSAL}:{v.proposal}"
        mails = [m for m in _mails(s, v, VisitStep.PROPOSAL) if m.key == key]
        if v.state == V.PROPOSED and mails and mails[-1].status not in (
                *DELIVERED, "pending", "sending"):
            row("proposal_undelivered", v, "la proposition n'a pas pu être envoyée au client",
                "Confirmer une date convenue par téléphone", "#confirm",
                dates=tuple(v.proposed_dates))
        elif deadline is not None and deadline < now:
            row("no_answer", v, "aucune réponse du client à l'échéance",
                "Confirmer une date convenue par téléphone", "#confirm",
                deadline=deadline, reminders=reminders, dates=tuple(v.proposed_dates))
        else:
            row("awaiting", v, "proposition en attente de réponse",
                "Confirmer une date convenue par téléphone", "#confirm",
                deadline=deadline, reminders=reminders, dates=tuple(v.proposed_dates))
    for v in s.exec(select(Visit).where(Visit.state == V.PLANNED, col(Visit.proposal) > 0)
                    ).all():
        last = _last_answer(s, v)
        if last is not None and last.to_state == V.PLANNED:
            row("none_suits", v, "aucune des dates proposées ne convient au client",
                "Proposer d'autres dates", "#propose",
                dates=tuple(v.proposed_dates))
    for v in s.exec(select(Visit).where(col(Visit.state).in_([V.CONFIRMED]),
                                        col(Visit.date) >= today)).all():
        assert v.date is not None
        on_leave = v.consultant_id is not None and s.exec(select(ConsultantLeave).where(
            ConsultantLeave.user_id == v.consultant_id, ConsultantLeave.day == v.date)).first()
        closed = not visit_calendar(s, v).is_business_day(v.date)
        if on_leave or closed:
            row("leave_hit", v, "visite confirmée sur un congé du consultant" if on_leave
                else "visite confirmée un jour de fermeture du site", "Replanifier",
                "#reschedule", day=v.date)
    for v in s.exec(select(Visit).where(Visit.state == V.REPORT_SENT)).all():
        sent = [m for m in _mails(s, v, VisitStep.REPORT) if m.status in DELIVERED]
        if not sent:
            row("report_undelivered", v, "fiche envoyée à aucun destinataire",
                "Voir la fiche", "/report")
    for v in s.exec(select(Visit).where(
            col(Visit.state).in_([V.PLANNED, V.RESCHEDULED, V.MISSED, V.NO_ACCESS]),
            col(Visit.due_end) < today)).all():
        if any(r.visit_id == v.id for r in rows):
            continue
        n = late_days(s, v, today)
        row("late", v, "fenêtre close : visite en retard",
            "Proposer des dates après la fenêtre", "#propose", late_days=n, day=v.due_end)
    order = {k: i for i, k in enumerate(KINDS)}
    rows.sort(key=lambda r: (order[r.kind], r.visit_id))
    return rows
