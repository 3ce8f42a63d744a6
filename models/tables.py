"""The desk's tables: inventory, what arrived, what was done about it.

The case row is a projection of the case workflow (the workflow is the source of truth); the
audit table is the append-only ledger from which every SLA figure is recomputed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint, true
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


# --- inventory -------------------------------------------------------------------------------


class Client(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True, max_length=40)
    name: str
    fixed_ips: str = ""  # comma-separated; the contract requires a fixed IP (3.1)
    users: int = 0
    active: bool = True


class SenderDomain(SQLModel, table=True):
    """A mail domain or full address that belongs to one client (matching by sender)."""

    __tablename__ = "sender_domain"
    domain: str = Field(primary_key=True, max_length=255)
    client_id: int = Field(foreign_key="client.id", index=True)


class Site(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    name: str
    calendar_subdiv: str | None = None  # e.g. Alsace-Moselle has extra holidays
    # Other names link probes give this site as VPN peer (comma-separated, e.g. "SITE-LYON"):
    # a link case naming it mutes the absence cases of the site's servers.
    link_names: str = ""


class Server(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("client_id", "hostname"),)
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    site_id: int | None = Field(default=None, foreign_key="site.id")
    hostname: str = Field(index=True, max_length=255)  # lower case, no domain suffix
    display_name: str = ""
    kind: str = "physical"  # physical | virtual
    role: str = ""
    last_heartbeat_at: datetime | None = _ts(default=None, index=True)


class ServerAlias(SQLModel, table=True):
    __tablename__ = "server_alias"
    __table_args__ = (UniqueConstraint("client_id", "alias"),)
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    server_id: int = Field(foreign_key="server.id", index=True)
    alias: str = Field(index=True, max_length=255)


class Contact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    name: str
    email: str = ""
    phone: str = ""
    role: str = "primary"  # primary | backup | after_hours
    rank: int = 1


class BackupJob(SQLModel, table=True):
    """A backup the client expects every scheduled day; 'not received' needs this list."""

    __tablename__ = "backup_job"
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    server_id: int = Field(foreign_key="server.id", index=True)
    name: str | None = None  # None: the source names no job (known by host and product)
    product: str = ""
    schedule: str = "0 22 * * 1-5"  # cron, in ``tz``
    tz: str = "Europe/Paris"
    grace_minutes: int = 360
    # False: proposed by the desk when an unknown job first reported; a technician confirms.
    # Only confirmed jobs are audited.
    confirmed: bool = True
    proposed_at: datetime | None = _ts(default=None)
    # Several results for the same day: "worst" wins (default) or the "last" one (retried jobs).
    multi_result: str = "worst"
    # When the desk first knew of the job (configured, imported or proposed). Days due before
    # are blank in the report and never audited; None (rows older than the column): always.
    created_at: datetime | None = _ts(default=None)


# --- what arrived ----------------------------------------------------------------------------


class RawMessage(SQLModel, table=True):
    """A message exactly as received, stored before the SMTP ``250`` is answered."""

    __tablename__ = "raw_message"
    __table_args__ = (UniqueConstraint("sha256", "message_id", name="uq_raw_digest_msgid"),)
    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(default="", max_length=998)
    sha256: str = Field(max_length=64)
    received_at: datetime = _ts(default_factory=utcnow)
    peer_ip: str = ""
    mail_from: str = ""
    rcpt_to: str = ""
    size: int = 0
    channel: str = "smtp"  # smtp | webhook | alertmanager
    client_hint_id: int | None = Field(default=None, foreign_key="client.id")  # webhook token
    helo: str = Field(default="", max_length=255)  # the SMTP client's HELO/EHLO name (SPF)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    parsed_at: datetime | None = _ts(default=None)
    parse_error: str = ""


class Outbox(SQLModel, table=True):
    """Durable work queue between the intake's acknowledgement and Temporal.

    One row per raw message to parse and route; drained in id order, survives restarts of the
    intake, the worker and Temporal. ``done_at`` set only once the routing is acknowledged.
    Several intake processes drain it at once: a router claims a batch (``claimed_by``,
    ``lease_until``); a batch whose lease expired (its process died) is claimed again.
    """

    __table_args__ = (Index("ix_outbox_pending", "done_at", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    raw_message_id: int = Field(foreign_key="raw_message.id", unique=True)
    created_at: datetime = _ts(default_factory=utcnow)
    attempts: int = 0
    next_attempt_at: datetime | None = _ts(default=None)
    done_at: datetime | None = _ts(default=None)
    last_error: str = ""
    claimed_by: str = ""  # the router process holding it ("" never claimed)
    lease_until: datetime | None = _ts(default=None)  # claimable again after this


class AlertEventRow(SQLModel, table=True):
    __tablename__ = "alert_event"
    __table_args__ = (UniqueConstraint("raw_message_id", "idx"),)
    id: int | None = Field(default=None, primary_key=True)
    raw_message_id: int = Field(foreign_key="raw_message.id", index=True)
    idx: int = 0
    family: str = Field(index=True)
    status: str
    host: str | None = None
    check: str
    target: str | None = None
    severity: str = "info"
    backup_result: str | None = None
    product: str = ""
    value: float | None = None
    threshold: float | None = None
    occurred_at: datetime | None = _ts(default=None)
    received_at: datetime = _ts(default_factory=utcnow)
    summary: str = ""
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    fingerprint: str = Field(default="", index=True, max_length=600)
    client_id: int | None = Field(default=None, foreign_key="client.id", index=True)
    server_id: int | None = Field(default=None, foreign_key="server.id", index=True)
    source_ip_ok: bool | None = None
    # how the source was verified (records/sources.py): ip | relay | sender | token | dkim |
    # spf | unchecked (the client has no rule yet) | unverified (it has rules, none held)
    source_check: str = Field(default="", max_length=20)
    source_detail: str = Field(default="", max_length=300)
    # triage of what could not be matched or understood: pending | attached | dismissed | none
    triage: str = Field(default="none", index=True)
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    routed_at: datetime | None = _ts(default=None)


class BackupRun(SQLModel, table=True):
    __tablename__ = "backup_run"
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="alert_event.id", unique=True)
    client_id: int | None = Field(default=None, foreign_key="client.id", index=True)
    server_id: int | None = Field(default=None, foreign_key="server.id", index=True)
    job_name: str | None = None
    product: str = ""
    result: str
    occurred_at: datetime | None = _ts(default=None)
    received_at: datetime = _ts(default_factory=utcnow)


# --- what was done about it --------------------------------------------------------------------


class Case(SQLModel, table=True):
    """The console's projection of one case workflow run (the workflow is the truth)."""

    __table_args__ = (
        UniqueConstraint("workflow_id", "run_id"),
        Index("ix_case_queue", "closed", "state", "opened_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(default="", index=True, max_length=40)
    workflow_id: str = Field(max_length=200)
    run_id: str = Field(max_length=200)
    fingerprint: str = Field(default="", index=True, max_length=600)
    client_id: int | None = Field(default=None, foreign_key="client.id", index=True)
    server_id: int | None = Field(default=None, foreign_key="server.id")
    host: str | None = None
    family: str = ""
    check: str = ""
    target: str | None = None
    title: str = ""
    state: str = "new"
    closed: bool = False
    criticality: str | None = None
    assignee: str | None = None
    repeat_count: int = 0
    recovered: bool = False
    demande_ref: str | None = None
    # False: opened by a message whose source failed verification ("source non vérifiée")
    source_verified: bool = Field(default=True, sa_column_kwargs={"server_default": true()})
    opened_at: datetime = _ts(default_factory=utcnow)
    last_seen: datetime | None = _ts(default=None)
    l1_deadline: datetime | None = _ts(default=None)
    updated_at: datetime = _ts(default_factory=utcnow)


class Demande(SQLModel, table=True):
    """The support request ("ticket") registered for significant and major cases."""

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(default="", index=True, max_length=40)
    case_id: int = Field(foreign_key="case.id", unique=True)
    opened_at: datetime = _ts(default_factory=utcnow)
    opened_by: str = ""
    summary: str = ""
    level: int = 1
    transferred_at: datetime | None = _ts(default=None)
    transferred_by: str | None = None
    transfer_reason: str = ""


class Communication(SQLModel, table=True):
    """One outgoing message or call, written before it is sent (idempotency key).

    ``key`` is case + step + attempt (e.g. ``VIG-000123:demande_registered:1``): a retried
    activity finds its own row and never sends twice. ``status`` moves pending -> sending ->
    an outcome; a row left at ``sending`` by a crash is reconciled (Twilio) or marked
    ``unknown`` (SMTP), never sent again. ``workflow_id`` is who hears about delivery news.
    """

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=300)  # case + step + attempt
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    channel: str = "email"
    recipient: str = ""
    subject: str = ""
    body: str = ""
    status: str = "pending"  # pending | sending | sent | delivered | confirmed | failed | ...
    provider_id: str = ""
    evidence: str = ""
    created_at: datetime = _ts(default_factory=utcnow)
    sent_at: datetime | None = _ts(default=None)
    step: str = ""  # instructions | demande_registered | l1_call | l2_transfer | resolution ...
    attempt: str = ""
    transport: str = ""  # smtp | capture | twilio | dry-run
    message_id: str = Field(default="", max_length=300)  # RFC 5322 Message-ID (mail)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    workflow_id: str = Field(default="", max_length=300)
    code: str = Field(default="", max_length=12)  # what the client answers (SMS "OK 1234")
    raw: str = ""  # the whole message as sent (mail), or the request made (Twilio)
    updated_at: datetime | None = _ts(default=None)


class CommunicationEvent(SQLModel, table=True):
    """Delivery evidence, append-only: relay answers, Twilio callbacks, keypresses, replies.

    ``dedupe`` (SID + status + ``SequenceNumber``, all signed by Twilio) makes a
    callback delivered twice count once.
    """

    __tablename__ = "communication_event"
    __table_args__ = (UniqueConstraint("communication_id", "dedupe"),)
    id: int | None = Field(default=None, primary_key=True)
    communication_id: int = Field(foreign_key="communication.id", index=True)
    at: datetime = _ts(default_factory=utcnow)
    source: str = ""  # activity | relay | twilio | keypress | sms_reply | mail_reply
    status: str = ""
    detail: str = ""
    dedupe: str | None = Field(default=None, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class AuditEvent(SQLModel, table=True):
    """The ledger: one line per thing that happened to a case, never updated."""

    __tablename__ = "audit_event"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    seq: int
    at: datetime = _ts(index=True)
    action: str = Field(index=True)
    actor: str = ""
    from_state: str | None = None
    to_state: str | None = None
    reason: str = ""
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    policy_version: str = "1"
    recorded_at: datetime = _ts(default_factory=utcnow)


# --- people and machines allowed in -------------------------------------------------------------


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=120)
    full_name: str = ""
    password_hash: str = ""
    role: str = "technician"  # technician | level2 | manager | planner | admin | client
    client_id: int | None = Field(default=None, foreign_key="client.id")
    active: bool = True


class SourceToken(SQLModel, table=True):
    """A per-source token for the webhook intake (stored hashed)."""

    __tablename__ = "source_token"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=120)
    token_sha256: str = Field(unique=True, max_length=64)
    client_id: int | None = Field(default=None, foreign_key="client.id")
    kind: str = "event"  # event | alertmanager
