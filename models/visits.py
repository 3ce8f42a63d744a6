"""Preventive visits (contract 3.2.4): the visit projection, its ledger, and what a visit needs.

The ``visit`` row is a projection of the visit workflow (``workflows/visit.py``, the truth for
its state); ``visit_event`` is its append-only ledger, one line per thing that happened, like
``audit_event`` for a case. The other tables hold what the planners, consultants and clients
type or the desk computes: server scope dates (entitlement), site postcodes (grouping),
consultants' leave, the stored entitlement with its explanation, the versioned checklist
template and each answer as saved, the versioned technical document, and the visit report.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class Visit(SQLModel, table=True):
    """One visit owed to a client in a contract year, from its due window to its report."""

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    site_id: int | None = Field(default=None, foreign_key="site.id")
    kind: str = "preventive"  # preventive | onboarding
    days: int = 1  # a preventive visit lasts one day at most (3.2.4)
    contract_year: int = Field(index=True)
    due_start: dt.date
    due_end: dt.date
    date: dt.date | None = Field(default=None, index=True)  # the confirmed (or proposed) day
    consultant_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    state: str = Field(default="planned", index=True)
    workflow_id: str = Field(default="", max_length=200)
    # the open proposal: dates offered to the client (ISO strings) and the answer deadline
    proposed_dates: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    proposal: int = 0  # number of the current proposal (1, 2 ... after a reschedule)
    answer_deadline: datetime | None = _ts(default=None)
    reason: str = ""  # why it was cancelled, rescheduled, missed ...
    advice: str = ""  # the consultant's advice (report)
    questions: str = ""  # the client's questions and their answers (report)
    open_items: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    started_at: datetime | None = _ts(default=None)
    finished_at: datetime | None = _ts(default=None)
    techdoc_before: int | None = None  # technical document version numbers
    techdoc_after: int | None = None
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class VisitEvent(SQLModel, table=True):
    """The visit's ledger: one line per event, never updated (its timeline)."""

    __tablename__ = "visit_event"
    __table_args__ = (UniqueConstraint("visit_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id", index=True)
    seq: int
    at: datetime = _ts(index=True)
    action: str = Field(index=True)
    actor: str = ""
    from_state: str | None = None
    to_state: str | None = None
    reason: str = ""
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    recorded_at: datetime = _ts(default_factory=utcnow)


class ServerScope(SQLModel, table=True):
    """When a server entered (and left) the contract's scope: the entitlement counts it only
    inside these dates. A server without a row counts from the start of time."""

    __tablename__ = "server_scope"
    server_id: int = Field(foreign_key="server.id", primary_key=True)
    in_scope_from: dt.date
    in_scope_to: dt.date | None = None


class SitePlace(SQLModel, table=True):
    """Where a site is: the suggester groups sites sharing a postcode area on close dates."""

    __tablename__ = "site_place"
    site_id: int = Field(foreign_key="site.id", primary_key=True)
    postcode: str = Field(default="", max_length=10)


class SiteDays(SQLModel, table=True):
    """A site's own closed or open days, on top of its subdivision's calendar: "closed from
    01/08 to 31/08" (holidays of the client), "open on 17/05" (Whit Monday worked). One row
    per range as the administrator typed it, so it reads and is removed as one decision."""

    __tablename__ = "site_days"
    id: int | None = Field(default=None, primary_key=True)
    site_id: int = Field(foreign_key="site.id", index=True)
    first: dt.date
    last: dt.date
    is_open: bool = False  # False: closed on these days; True: open although a holiday
    note: str = Field(default="", max_length=200)


class ConsultantLeave(SQLModel, table=True):
    """A consultant's day off: no visit is booked on it."""

    __tablename__ = "consultant_leave"
    __table_args__ = (UniqueConstraint("user_id", "day"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    day: dt.date
    note: str = ""


class VisitHold(SQLModel, table=True):
    """A consultant's day offered to a client and not answered yet (``planning.holds``):
    unique per consultant and day, so two proposals never share it, even sent at the same
    second. A hold whose visit no longer offers that day is stale and is taken over."""

    __tablename__ = "visit_hold"
    __table_args__ = (UniqueConstraint("consultant_id", "day"),)
    id: int | None = Field(default=None, primary_key=True)
    consultant_id: int = Field(foreign_key="user.id")
    day: dt.date
    visit_id: int = Field(foreign_key="visit.id", index=True)
    claimed_at: datetime = _ts(default_factory=utcnow)


class VisitEntitlement(SQLModel, table=True):
    """Visits owed to a client for one contract year, with how the figure was reached."""

    __tablename__ = "visit_entitlement"
    __table_args__ = (UniqueConstraint("client_id", "contract_year"),)
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    contract_year: int
    period_start: dt.date
    period_end: dt.date
    counting: str = "start"  # start | max (VIGIE_VISIT_COUNTING)
    servers: int = 0
    owed: int = 2
    explanation: str = ""
    computed_at: datetime = _ts(default_factory=utcnow)


class ChecklistTemplate(SQLModel, table=True):
    """A version of the on-site checklist; a visit keeps the version it was filled with."""

    __tablename__ = "checklist_template"
    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(unique=True)
    items: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = _ts(default_factory=utcnow)


class ChecklistAnswer(SQLModel, table=True):
    """One checklist item of one visit, saved each time the consultant changes it."""

    __tablename__ = "checklist_answer"
    __table_args__ = (UniqueConstraint("visit_id", "item_key"),)
    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id", index=True)
    template_version: int = 1
    item_key: str = Field(max_length=60)
    answer: str = ""  # ok | ko | na | "" (not answered yet)
    notes: str = ""
    case_id: int | None = Field(default=None, foreign_key="case.id")
    updated_by: str = ""
    updated_at: datetime = _ts(default_factory=utcnow)


class TechDocVersion(SQLModel, table=True):
    """One version of a client's technical document (3.2.1), never updated once written."""

    __tablename__ = "techdoc_version"
    __table_args__ = (UniqueConstraint("client_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    version: int
    sections: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    diagram_name: str = ""
    diagram: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    visit_id: int | None = Field(default=None, foreign_key="visit.id")
    created_by: str = ""
    created_at: datetime = _ts(default_factory=utcnow)


class VisitReport(SQLModel, table=True):
    """The visit record ("fiche de visite") as written: HTML and PDF, kept as sent."""

    __tablename__ = "visit_report"
    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id", unique=True)
    html: str = ""
    pdf: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    written_at: datetime = _ts(default_factory=utcnow)
    sent_at: datetime | None = _ts(default=None)


class ConsultantProfile(SQLModel, table=True):
    """What the desk needs of a consultant beyond the user row: where to mail them, and the
    postcode they start from (the suggester keeps their days near home)."""

    __tablename__ = "consultant_profile"
    user_id: int = Field(foreign_key="user.id", primary_key=True)
    email: str = ""
    postcode: str = Field(default="", max_length=10)


class CalendarFeed(SQLModel, table=True):
    """A user's iCalendar feed link (issue 21, finding 4): the link carries a signature of
    the user and this key, so a new key (rotation) kills every earlier link, and a revoked
    feed answers nothing until its user asks for a new one. The key alone opens nothing: the
    signature also needs the desk's secret. A deactivated user's feed answers nothing."""

    __tablename__ = "calendar_feed"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", unique=True)
    key: str = Field(default="", max_length=64)  # empty while revoked
    created_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    changed_by: str = Field(default="", max_length=120)  # who made or revoked the last key
    revoked_at: datetime | None = Field(sa_type=UTCDateTime, default=None)
