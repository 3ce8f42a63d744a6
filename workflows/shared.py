"""What workflows, activities, the intake and the console agree on.

One module for the task queue, the shared enums and the frozen dataclasses that cross the
Temporal boundary (in the manner of Temporal's ``message_passing/introduction`` sample). It
imports nothing but the standard library so that the workflow sandbox can load it as is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

TASK_QUEUE = "vigie"


class Criticality(StrEnum):
    """The four classes of the contract (3.2.3)."""

    NO_IMPACT = "no_impact"
    MINOR = "minor"
    SIGNIFICANT = "significant"
    MAJOR = "major"


class CaseState(StrEnum):
    """Where a case stands; the transitions between them are declared in ``workflows.case``."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    CLASSIFIED = "classified"
    CLIENT_INSTRUCTED = "client_instructed"
    DEMANDE_REGISTERED = "demande_registered"
    CLIENT_NOTIFIED = "client_notified"
    CLIENT_CALLED = "client_called"
    L1_DIAGNOSIS = "l1_diagnosis"
    L2_ESCALATED = "l2_escalated"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


OPEN_STATES = frozenset(s for s in CaseState if s not in (CaseState.RESOLVED, CaseState.CLOSED))


class Channel(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    SMS = "sms"


class ContactOutcome(StrEnum):
    REACHED = "reached"
    SENT = "sent"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    FAILED = "failed"


def case_workflow_id(fingerprint: str) -> str:
    """One workflow id per fingerprint, so that signal-with-start folds repeats into one case.

    A closed case's id is reused by the next occurrence of the same problem, as a new run.
    """
    return "case-" + hashlib.sha256(fingerprint.encode()).hexdigest()[:24]


# --- starting a case and feeding it alerts --------------------------------------------------


@dataclass(frozen=True)
class CaseInput:
    """What the router knows when it opens a case for a problem fingerprint."""

    fingerprint: str
    client_id: int | None
    server_id: int | None
    host: str | None
    family: str
    check: str
    target: str | None
    title: str
    opened_at: datetime
    preset_criticality: Criticality | None = None
    preset_reason: str = ""
    policy_version: str = "1"
    # Carried across continue-as-new; empty on the first run.
    carried_state: CarriedState | None = None
    # Case rules that a deployment (or a test) may tune; the defaults are the contract's.
    l1_minutes: int = 60  # level-1 diagnosis length, in business minutes (3.2.3: under 1 h)
    auto_close_hours: int = 72  # a resolved case closes after this, unless reopened
    max_history_events: int = 5000  # continue-as-new past this history length


@dataclass(frozen=True)
class AlertSignal:
    """A machine event about the case's problem: a repeat, or its recovery."""

    event_id: int | None
    status: str  # "problem" | "recovery"
    received_at: datetime
    summary: str = ""
    severity: str = "info"
    # True on the alert a case is started with (signal-with-start): linked, not a repeat.
    # On a case that is already open the router's signal-with-start only signals, and the
    # case counts it as a repeat whatever this says.
    opening: bool = False


@dataclass(frozen=True)
class CommunicationSignal:
    """Delivery news about an outgoing communication (mail relay, Twilio callback)."""

    communication_id: int
    channel: Channel
    status: str  # "delivered" | "failed" | "answered" | "no_answer" | "busy" | "voicemail"
    at: datetime
    detail: str = ""


# --- actions from people (workflow updates) -------------------------------------------------


@dataclass(frozen=True)
class ActionInput:
    """One person's action on a case; ``args`` holds the action's own fields."""

    actor: str
    reason: str = ""
    criticality: Criticality | None = None
    channel: Channel | None = None
    outcome: ContactOutcome | None = None
    text: str = ""
    assignee: str | None = None
    demande_ref: str | None = None


@dataclass(frozen=True)
class ActionResult:
    accepted: bool
    state: str
    message: str = ""


# --- what a query returns -------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    at: datetime
    action: str
    actor: str
    from_state: str | None
    to_state: str | None
    reason: str = ""
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NextStep:
    """A guided step: what the technician must do next, and the contract clause behind it."""

    action: str
    label: str
    clause: str


@dataclass(frozen=True)
class CaseView:
    case_id: int | None
    ref: str | None
    state: str
    criticality: str | None
    repeat_count: int
    last_seen: datetime | None
    recovered: bool
    assignee: str | None
    demande_ref: str | None
    l1_deadline: datetime | None
    next_steps: list[NextStep]
    timeline: list[TimelineEntry]


@dataclass(frozen=True)
class CarriedState:
    """Everything a case must remember across continue-as-new."""

    case_id: int | None
    ref: str | None
    state: str
    criticality: str | None
    repeat_count: int
    last_seen: datetime | None
    recovered: bool
    assignee: str | None
    demande_ref: str | None
    l1_deadline: datetime | None
    next_seq: int
    timeline: list[TimelineEntry]
    auto_close_at: datetime | None = None  # when a resolved case closes by itself
    seen_event_ids: list[int] = field(default_factory=list)  # redelivered alerts are ignored


# --- activity inputs and results -------------------------------------------------------------


@dataclass(frozen=True)
class OpenCaseInput:
    workflow_id: str
    run_id: str
    case: CaseInput


@dataclass(frozen=True)
class OpenCaseResult:
    case_id: int
    ref: str


@dataclass(frozen=True)
class AuditInput:
    """One ledger line; idempotent on (case_id, seq) so a retried activity writes it once."""

    case_id: int
    seq: int
    at: datetime
    action: str
    actor: str
    from_state: str | None
    to_state: str | None
    reason: str = ""
    data: dict[str, str] = field(default_factory=dict)
    policy_version: str = "1"


@dataclass(frozen=True)
class CaseSnapshot:
    """The case row the console reads; the workflow stays the source of truth."""

    case_id: int
    state: str
    criticality: str | None
    repeat_count: int
    last_seen: datetime | None
    recovered: bool
    assignee: str | None
    demande_ref: str | None
    l1_deadline: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class LinkEventInput:
    case_id: int
    event_id: int


@dataclass(frozen=True)
class DemandeInput:
    case_id: int
    actor: str
    at: datetime
    summary: str
    external_ref: str | None = None


@dataclass(frozen=True)
class DemandeResult:
    demande_id: int
    ref: str


@dataclass(frozen=True)
class TransferInput:
    """Level-1 to level-2 transfer registered on the Demande (and level 2 told)."""

    case_id: int
    demande_ref: str | None
    at: datetime
    by: str
    reason: str


class ActivityName(StrEnum):
    """Activity names, so that workflows call activities without importing their modules."""

    OPEN_CASE = "open_case"  # OpenCaseInput -> OpenCaseResult
    APPEND_AUDIT = "append_audit"  # AuditInput -> None
    SAVE_CASE = "save_case"  # CaseSnapshot -> None
    LINK_EVENT = "link_event"  # LinkEventInput -> None
    REGISTER_DEMANDE = "register_demande"  # DemandeInput -> DemandeResult
    TRANSFER_TO_LEVEL2 = "transfer_to_level2"  # TransferInput -> None
