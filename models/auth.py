"""The console's own tables: who is signed in, who tried, machine tokens, desk policy, SLA cache.

Kept apart from ``models.tables`` because they belong to the console (issue 7) and nothing on
the alert path reads them. Secrets are never stored in clear: session cookies and API tokens
are kept as SHA-256 digests of high-entropy random values (a digest is enough for 256-bit
random tokens; passwords, which are low-entropy, are hashed with argon2 on ``User``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class UserSession(SQLModel, table=True):
    """A signed-in browser. Server-side so that sign-out and deactivation end it at once."""

    __tablename__ = "user_session"
    id: str = Field(primary_key=True, max_length=64)  # sha256 of the random cookie token
    user_id: int = Field(foreign_key="user.id", index=True)
    csrf: str = Field(max_length=64)  # per-session CSRF token put in every form
    created_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    last_seen_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    ip: str = ""
    user_agent: str = Field(default="", max_length=300)
    flash: str = ""  # one message shown on the next page (post/redirect/get)


class ApiToken(SQLModel, table=True):
    """A bearer token for automation, acting with its user's role; shown once, stored hashed."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    name: str = Field(default="", max_length=120)
    token_sha256: str = Field(unique=True, max_length=64)
    prefix: str = Field(default="", max_length=16)  # first characters, to recognise it
    created_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    created_by: str = ""
    last_used_at: datetime | None = Field(sa_type=UTCDateTime, default=None)
    revoked_at: datetime | None = Field(sa_type=UTCDateTime, default=None)


class SignInAttempt(SQLModel, table=True):
    """Every sign-in attempt (audit), also the evidence the login rate limit counts."""

    __tablename__ = "sign_in_attempt"
    __table_args__ = (
        Index("ix_sign_in_recent", "username", "ip", "at"),
        Index("ix_sign_in_address", "ip", "at"),  # the per-address limit (issue 11)
    )
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow, index=True)
    username: str = Field(default="", max_length=120)
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)
    # ok | bad_password | unknown_user | inactive | throttled | csrf | signed_out
    # (lock-outs, when a limit trips: models.signin)
    outcome: str = Field(default="", max_length=20)


class Policy(SQLModel, table=True):
    """One version of the desk's configurable rules; the newest version is in effect.

    Absent rows mean the environment's settings apply (``VIGIE_BUSINESS_START`` ...).
    """

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(unique=True)
    business_start: str = "09:00"
    business_end: str = "18:00"
    l1_minutes: int = 60
    auto_close_hours: int = 72
    note: str = ""
    created_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    created_by: str = ""


class SlaCase(SQLModel, table=True):
    """Per-case SLA figures, a cache derived from the ledger (``audit_event``).

    Rebuilt incrementally from the ledger (see ``console.slacache``); never the source of a
    figure's explanation, which the case page recomputes from the ledger itself. Seconds are
    business seconds of *complete* figures; ``*_due`` is when a still-running figure will be
    breached, so a breach shows up as time passes without recomputing the case.
    """

    __tablename__ = "sla_case"
    # The SLA view reads a period of this table whole: a covering index makes that one
    # sequential read of the index (rows are stored in case order, not in date order).
    __table_args__ = (
        Index(
            "ix_sla_case_summary",
            "opened_at", "error", "case_id", "client_id", "technician", "criticality",
            "opened_day", "escalated", "breach_mask", "triage_s", "contact_s", "demande_s",
            "l1_s", "resolution_s",
        ),
        Index("ix_sla_case_running", "finished", "opened_at"),  # still-running figures
    )  # fmt: skip
    case_id: int = Field(primary_key=True, foreign_key="case.id")
    client_id: int | None = Field(default=None, index=True)
    technician: str = Field(default="", index=True, max_length=120)
    criticality: str | None = Field(default=None, max_length=20)
    opened_at: datetime = Field(sa_type=UTCDateTime)
    opened_day: str = Field(default="", max_length=10)  # local date (team time zone), ISO
    finished: bool = False
    escalated: bool = False
    escalated_by_timer: bool = False
    reopened: int = 0
    triage_s: float | None = None
    contact_s: float | None = None
    demande_s: float | None = None
    l1_s: float | None = None
    resolution_s: float | None = None
    triage_breach: bool = False
    contact_breach: bool = False
    demande_breach: bool = False
    l1_breach: bool = False
    breach_mask: int = 0  # the four flags above as bits (triage 1, contact 2, demande 4, L1 8)
    triage_due: datetime | None = Field(sa_type=UTCDateTime, default=None)
    contact_due: datetime | None = Field(sa_type=UTCDateTime, default=None)
    demande_due: datetime | None = Field(sa_type=UTCDateTime, default=None)
    l1_due: datetime | None = Field(sa_type=UTCDateTime, default=None)
    policy_version: str = Field(default="", max_length=40)
    error: str = ""
    computed_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)


class SlaWatermark(SQLModel, table=True):
    """How far in the ledger the SLA cache has read (one row)."""

    __tablename__ = "sla_watermark"
    id: int = Field(default=1, primary_key=True)
    last_audit_id: int = 0
    policy_version: str = Field(default="", max_length=200)  # what the rows were computed with
    refreshed_at: datetime | None = Field(sa_type=UTCDateTime, default=None)
