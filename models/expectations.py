"""What the desk expects to receive, what it noticed missing, and when it must keep quiet.

Half of the contract's monitoring is about absence (3.2.2): the hourly heartbeat, the daily
backups, the 03:00 disk report. No e-mail marks those moments, so these tables hold the
expectations, the verdicts of the absence checks and the silences (maintenance windows).

The sweep's query is ``state = 'ok' AND next_due_at <= :now`` on ``ix_expectation_due``:
healthy sources are never read, whatever their number (``bench/absence.py`` shows the plan).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class Expectation(SQLModel, table=True):
    """A source that must report regularly: the heartbeat (every ``period_minutes``) or the
    daily disk-space report (``schedule`` cron in ``tz``); late by ``grace_minutes`` = absent.

    ``state``: ``proposed`` (seen once, waits for a technician), ``ok`` (watched),
    ``missing`` (absence case opened), ``muted`` (its site's link is down: linked to the link
    case), ``silenced`` (maintenance window), ``disabled``. ``next_due_at`` is kept by the
    router at each report, so the sweep only reads the sources that are already late.
    """

    __tablename__ = "expectation"
    __table_args__ = (
        UniqueConstraint("server_id", "kind"),
        Index("ix_expectation_due", "state", "next_due_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    server_id: int = Field(foreign_key="server.id")
    kind: str = Field(default="heartbeat", max_length=20)  # heartbeat | disk_report
    period_minutes: int = 60  # heartbeat only
    grace_minutes: int = 15
    schedule: str = "0 3 * * *"  # disk_report only: cron in ``tz``
    tz: str = "Europe/Paris"
    state: str = Field(default="ok", max_length=20)
    next_due_at: datetime | None = _ts(default=None)
    last_seen_at: datetime | None = _ts(default=None)
    missing_since: datetime | None = _ts(default=None)  # the due time that was missed
    fingerprint: str = Field(default="", max_length=600)  # of the source's own events
    case_workflow_id: str | None = Field(default=None, max_length=200)
    case_opened: bool = False  # Temporal acknowledged the absence case (retry until then)
    muted_by_case_id: int | None = Field(default=None, foreign_key="case.id")
    source: str = "config"  # config | api | csv | auto (proposed when first seen)
    proposed_at: datetime | None = _ts(default=None)
    confirmed_at: datetime | None = _ts(default=None)
    confirmed_by: str = ""
    created_at: datetime = _ts(default_factory=utcnow)


class AbsenceEvent(SQLModel, table=True):
    """The ledger of what the absence checks noticed and did (never updated but for the
    Temporal acknowledgement): a heartbeat missing, muted, silenced, back; a backup not
    received; repeats that stopped. ``dedup_key`` makes every check idempotent, and the
    row's id, negated, is the event id given to the case so a retried signal counts once."""

    __tablename__ = "absence_event"
    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(unique=True, max_length=300)
    at: datetime = _ts(index=True)
    kind: str = Field(index=True, max_length=40)
    client_id: int | None = Field(default=None, foreign_key="client.id", index=True)
    server_id: int | None = Field(default=None, foreign_key="server.id")
    expectation_id: int | None = Field(default=None, foreign_key="expectation.id")
    backup_job_id: int | None = Field(default=None, foreign_key="backup_job.id")
    fingerprint: str = Field(default="", max_length=600)
    workflow_id: str | None = Field(default=None, max_length=200)
    linked_case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    silence_id: int | None = Field(default=None, foreign_key="silence.id")
    detail: str = ""
    done_at: datetime | None = _ts(default=None)  # Temporal told (case opened, note added)


class Silence(SQLModel, table=True):
    """A maintenance window: matching events are recorded but open no case, page nobody.

    Scope from the widest to the narrowest: client, site, server; ``check`` (a family such
    as ``heartbeat`` or ``backup``, or a check code such as ``vpn``) narrows it further.
    Empty fields match anything; a silence with no scope at all is refused by the helpers.
    """

    __table_args__ = (Index("ix_silence_window", "client_id", "ends_at"),)
    id: int | None = Field(default=None, primary_key=True)
    client_id: int | None = Field(default=None, foreign_key="client.id")
    site_id: int | None = Field(default=None, foreign_key="site.id")
    server_id: int | None = Field(default=None, foreign_key="server.id")
    check: str | None = Field(default=None, max_length=60)
    starts_at: datetime = _ts()
    ends_at: datetime = _ts()
    reason: str = ""
    created_by: str = ""
    created_at: datetime = _ts(default_factory=utcnow)
    revoked_at: datetime | None = _ts(default=None)
    revoked_by: str = ""


class SilenceHit(SQLModel, table=True):
    """One event or absence kept quiet by a silence: the audit trail of the silence."""

    __tablename__ = "silence_hit"
    id: int | None = Field(default=None, primary_key=True)
    silence_id: int = Field(foreign_key="silence.id", index=True)
    event_id: int | None = Field(default=None, foreign_key="alert_event.id", unique=True)
    absence_event_id: int | None = Field(default=None, foreign_key="absence_event.id")
    at: datetime = _ts(default_factory=utcnow)
    summary: str = ""


class BackupDay(SQLModel, table=True):
    """The daily audit's verdict for one expected job on one local day of its time zone."""

    __tablename__ = "backup_day"
    __table_args__ = (UniqueConstraint("job_id", "day"),)
    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="backup_job.id")
    client_id: int = Field(foreign_key="client.id", index=True)
    server_id: int = Field(foreign_key="server.id")
    day: date = Field(index=True)
    # success | warning | incomplete | failed | cancelled | not_received | pending
    status: str = Field(max_length=20)
    runs: int = 0
    run_id: int | None = Field(default=None, foreign_key="backup_run.id")  # the deciding one
    window_start: datetime = _ts()
    window_end: datetime = _ts()
    audited_at: datetime = _ts(default_factory=utcnow)
    case_workflow_id: str | None = Field(default=None, max_length=200)
    case_id: int | None = Field(default=None, foreign_key="case.id")
    silence_id: int | None = Field(default=None, foreign_key="silence.id")
