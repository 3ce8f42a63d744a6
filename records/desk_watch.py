"""The desk watches its own intake: silence from every client at once is the desk's problem.

When the desk's relay or intake stops, no client's heartbeat arrives any more, and the sweep
would open one absence case per client, each with its own client mail and call, for a fault
that is the desk's. So before judging late sources the sweep asks: has any message at all
been stored in the last ``DESK_SILENT`` while sources of at least ``DESK_MIN_CLIENTS``
clients are late (a time when mail is expected)? If not, one **desk incident** opens (family
``desk``, no client, so nobody outside is contacted; untriaged: a technician looks at the
relay) and every late source waits under it, muted. When mail flows again the incident is
resolved by the system and the sources it held are watched afresh from that moment (one
period and its grace), so a heartbeat on its way is not taken for an absence.

A desk that has never stored a message is not silent (nothing was ever expected to arrive).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from messages.cases import CASE_PATH, CaseInput
from models.expectations import Expectation
from models.tables import Case, RawMessage
from records.incidents import rewatch

DESK_FAMILY = "desk_intake"
DESK_FINGERPRINT = "vigie|desk|desk|intake_silent|"
DESK_SILENT = timedelta(minutes=30)
DESK_MIN_CLIENTS = 3
_CLOSED = ("resolved", "closed")


def last_message_at(s: Session) -> datetime | None:
    return s.exec(select(func.max(RawMessage.received_at))).one()  # type: ignore[call-overload]


def open_desk_incident(s: Session) -> Case | None:
    return s.exec(select(Case).where(
        Case.fingerprint == DESK_FINGERPRINT, Case.closed == False,  # noqa: E712
        col(Case.state).not_in(_CLOSED)).order_by(col(Case.id).desc())).first()


def desk_is_silent(s: Session, at: datetime) -> tuple[bool, datetime | None]:
    last = last_message_at(s)
    return last is not None and last < at - DESK_SILENT, last


def desk_case_input(at: datetime, clients: int, *, l1_minutes: int,
                    auto_close_hours: int, when: str) -> CaseInput:
    return CaseInput(
        fingerprint=DESK_FINGERPRINT, client_id=None, server_id=None, host=None,
        family=DESK_FAMILY, check="intake_silent", target=None,
        title=(f"Poste Vigie : aucun message reçu depuis {when}, sources en retard chez "
               f"{clients} clients — relais ou réception arrêtés ?")[:300],
        opened_at=at, l1_minutes=l1_minutes, auto_close_hours=auto_close_hours,
        path=CASE_PATH)


def release_desk(s: Session, desk: Case, at: datetime) -> int:
    """Mail flows again: the sources the desk incident held are watched afresh from ``at``."""
    n = 0
    for exp in s.exec(select(Expectation).where(Expectation.muted_by_case_id == desk.id)):
        rewatch(exp, at)
        s.add(exp)
        n += 1
    return n
