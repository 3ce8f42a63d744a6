"""What the case workflow, its activities, the data layer, the intake and the console agree on.

The task queue, the case's enums, its state labels and the frozen dataclasses that cross the
Temporal boundary (in the manner of Temporal's ``message_passing/introduction`` sample); what
concerns talking to clients is in ``messages.comms``. Standard library only, so the workflow
sandbox loads it as is. The JSON shapes are those of the recorded histories
(``tests/histories/``): names, fields, order and defaults are part of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from messages.comms import Channel, ContactOutcome

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
    # The team's business hours in effect when the case opened (the L1 clock counts them).
    timezone: str = "Europe/Paris"
    business_start: str = "09:00"
    business_end: str = "18:00"
    auto_close_hours: int = 72  # a resolved case closes after this, unless reopened
    max_history_events: int = 5000  # continue-as-new past this history length
    comms_timeout_seconds: int = 30  # one mail, SMS or call request (a retry follows)
    # False: the opening message's source failed verification (records/sources.py): the case
    # is flagged "source non vérifiée" and never triaged by a preset.
    source_verified: bool = True
    source_check: str = ""  # how the opening message was verified (ip, relay, token, ...)
    # Open in one local activity (case, first ledger lines, projection, event link in one
    # transaction). False: the four regular activities of before (kept to measure against,
    # ``VIGIE_CASE_OPENING=legacy``; bench/storm.py).
    open_in_one_step: bool = True
    # Occurrence order: a problem that happened this long (seconds) or more before the case's
    # last recovery is a late arrival (VIGIE_LATE_ARRIVAL_MARGIN_SECONDS: clocks disagree).
    late_margin_seconds: int = 120
    # Which opening path the starter expects (issue 24). 0, absent from the inputs of runs
    # started before it: the run asks ``workflow.patched`` for every change, as it always
    # did, so recorded histories replay. ``CASE_PATH`` (set by the router): the starter was
    # built with every patch of that path, so the run takes their new branch without asking
    # (no marker, no change-version upsert), and its search attributes came at start.
    path: int = 0


# The ``CaseInput.path`` of new starts: every patch id of ``workflows.case`` known when it was
# set applies. A later patch still goes behind ``workflow.patched`` (or a new path number).
CASE_PATH = 1


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
    # False: the source failed verification; such a signal may open or repeat a case but
    # never resolve, close or mute it (the router does not even send its recoveries).
    verified: bool = True
    # When it happened: the source's own time where it gives one, else its receipt. None in
    # signals sent before occurrence order (issue 21): they are judged in arrival order.
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class ClientReplySignal:
    """A client's answer about a case (mail quoting its reference, attached by the intake)."""

    event_id: int | None
    received_at: datetime
    sender: str = ""
    summary: str = ""
    channel: Channel = Channel.EMAIL


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
    messages_pending: int = 0  # mails and SMS decided, not yet sent
    contact_active: str | None = None  # step of the automated calls still going


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
    comm_counts: dict[str, int] = field(default_factory=dict)  # attempts used, per step
    contact_runs: int = 0  # automated contact runs (ContactWorkflow) started so far
    contact_active: str | None = None  # the step whose contact run is still going
    client_contacted: bool = False  # the client heard from us (resolution mail is due)
    client_code: str = ""  # kept for the ``ClientCode`` search attribute
    last_recovery_at: datetime | None = None  # when the latest recovery happened


# --- activity inputs and results -------------------------------------------------------------


@dataclass(frozen=True)
class OpenCaseInput:
    workflow_id: str
    run_id: str
    case: CaseInput


@dataclass(frozen=True)
class OpeningInput:
    """Everything a new case writes before its first workflow task ends, in one transaction:
    the case row, its first ledger lines, its projection, and the opening event's link.

    The case id is not known yet when the workflow asks: ``lines`` and ``snapshot`` carry
    ``case_id=0``, filled in by the activity. Idempotent on (workflow id, run id), then on
    (case id, seq) for each line, like the separate steps it replaces.
    """

    workflow_id: str
    run_id: str
    case: CaseInput
    lines: list[AuditInput] = field(default_factory=list)
    snapshot: CaseSnapshot | None = None
    event_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class OpenCaseResult:
    case_id: int
    ref: str
    client_code: str = ""  # the client's code (search attribute ``ClientCode``)


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
    OPEN_CASE_AT_ONCE = "open_case_at_once"  # OpeningInput -> OpenCaseResult (local activity)
    APPEND_AUDIT = "append_audit"  # AuditInput -> None
    SAVE_CASE = "save_case"  # CaseSnapshot -> None
    LINK_EVENT = "link_event"  # LinkEventInput -> None
    REGISTER_DEMANDE = "register_demande"  # DemandeInput -> DemandeResult
    TRANSFER_TO_LEVEL2 = "transfer_to_level2"  # TransferInput -> None
    SEND_MAIL = "send_mail"  # MailRequest -> SendResult
    SEND_SMS = "send_sms"  # SmsRequest -> SendResult
    PLACE_CALL = "place_call"  # CallRequest -> SendResult
    PLAN_CONTACTS = "plan_contacts"  # PlanRequest -> ContactPlan
    COMMUNICATION_STATUS = "communication_status"  # int -> SendResult


# What people read for a state and a class (the console, the SLA report, refusal texts).
STATE_LABELS: dict[str, str] = {
    CaseState.NEW: "nouveau",
    CaseState.ACKNOWLEDGED: "pris en compte (sans impact)",
    CaseState.CLASSIFIED: "classé",
    CaseState.CLIENT_INSTRUCTED: "consignes transmises au client",
    CaseState.DEMANDE_REGISTERED: "demande enregistrée",
    CaseState.CLIENT_NOTIFIED: "client informé",
    CaseState.CLIENT_CALLED: "client appelé",
    CaseState.L1_DIAGNOSIS: "diagnostic N1 en cours",
    CaseState.L2_ESCALATED: "transféré au niveau 2",
    CaseState.RESOLVED: "résolu",
    CaseState.CLOSED: "clôturé",
    CaseState.REOPENED: "rouvert",
}


CRITICALITY_LABELS: dict[str, str] = {
    Criticality.NO_IMPACT: "sans impact",
    Criticality.MINOR: "mineur/modéré",
    Criticality.SIGNIFICANT: "significatif",
    Criticality.MAJOR: "majeur/étendu",
}
