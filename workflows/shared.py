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


class CommStep(StrEnum):
    """Which promise to the client a communication keeps (3.2.3), part of its idempotency key."""

    INSTRUCTIONS = "instructions"  # minor: instructions or workaround (mail, SMS or call)
    DEMANDE_REGISTERED = "demande_registered"  # significant: the Demande is taken in charge
    L1_CALL = "l1_call"  # major: phone the client to set up the level-1 diagnosis
    L1_CALL_FALLBACK = "l1_call_fallback"  # major: mail when nobody could be reached by phone
    L2_TRANSFER = "l2_transfer"  # major: the client is told level 2 takes over
    L2_HANDOVER = "l2_handover"  # major: level 2 itself is told (not a client contact)
    RESOLUTION = "resolution"  # any class with client contact: the problem is solved


class CommStatus(StrEnum):
    """What became of a communication, as workflows hear it (signals and activity results)."""

    SENT = "sent"  # mail accepted by the relay (250 after DATA), or kept by the capture
    DELIVERED = "delivered"  # SMS delivered (Twilio's delivery receipt)
    CONFIRMED = "confirmed"  # a human answered and pressed 1, or replied "OK <code>"
    ANSWERED = "answered"  # answered (kept for the first version of the signal)
    QUEUED = "queued"  # handed to Twilio, outcome to come by callback
    NO_ANSWER = "no_answer"
    NO_CONFIRMATION = "no_confirmation"  # a human answered but never pressed the key
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the worker died mid-send: not resent, to verify (records.communications)
    DRY_RUN = "dry_run"  # recorded only, nothing left the machine
    NO_RECIPIENT = "no_recipient"  # no contact with an address or number for this channel
    CODE_EXPIRED = "code_expired"  # too many wrong SMS codes: this SMS can no longer confirm


class CallMode(StrEnum):
    AUTOMATED = "automated"  # a French message read to the client, who presses 1
    CLICK_TO_CALL = "click_to_call"  # the technician's phone rings, then the client's


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
    # The team's business hours in effect when the case opened (the L1 clock counts them).
    timezone: str = "Europe/Paris"
    business_start: str = "09:00"
    business_end: str = "18:00"
    auto_close_hours: int = 72  # a resolved case closes after this, unless reopened
    max_history_events: int = 5000  # continue-as-new past this history length
    comms_timeout_seconds: int = 30  # one mail, SMS or call request (a retry follows)
    # False: the opening message's source failed verification (intake/sources.py): the case
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
class CommunicationSignal:
    """Delivery news about an outgoing communication (mail relay, Twilio callback).

    ``status`` is one of :class:`CommStatus` (the colleague-era ``answered`` is still
    understood). ``step`` and ``recipient`` say which promise it was about; empty when the
    sender does not know (older signals).
    """

    communication_id: int
    channel: Channel
    status: str  # "delivered" | "failed" | "answered" | "no_answer" | "busy" | "voicemail"
    at: datetime
    detail: str = ""
    step: str = ""
    recipient: str = ""
    contact_run: int = 0  # the ContactWorkflow run that sends it (0: not from a run)
    final: bool = False  # the run's last news: it has ended


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


# --- client communication (activities/mail.py, activities/phone.py, workflows/contact.py) ---


@dataclass(frozen=True)
class MailRequest:
    """One mail of a case. ``attempt`` completes the idempotency key (case + step + attempt).

    The recipient is the client's first contact with an address (primary, then backup)
    unless ``contact_id`` names one, or ``to_level2`` sends it to the level-2 team.
    """

    case_id: int
    case_ref: str
    step: str
    attempt: str
    workflow_id: str
    at: datetime
    title: str = ""
    demande_ref: str | None = None
    text: str = ""  # the technician's instructions, or the reason given
    contact_id: int | None = None
    to_level2: bool = False
    after_calls: int = 0  # unanswered calls before this mail (e-mail fallback)


@dataclass(frozen=True)
class SmsRequest:
    case_id: int
    case_ref: str
    step: str
    attempt: str
    workflow_id: str
    at: datetime
    text: str
    contact_id: int | None = None


@dataclass(frozen=True)
class CallRequest:
    """One call: to ``contact_id`` (automated) or the technician then the contact
    (click-to-call)."""

    case_id: int
    case_ref: str
    step: str
    attempt: str
    workflow_id: str
    at: datetime
    contact_id: int
    mode: CallMode
    title: str = ""
    demande_ref: str | None = None
    text: str = ""  # what the automated call reads (instructions), besides the case facts


@dataclass(frozen=True)
class SendResult:
    communication_id: int
    channel: Channel
    status: str  # a CommStatus value
    recipient: str = ""
    detail: str = ""
    provider_id: str = ""


@dataclass(frozen=True)
class ContactInfo:
    contact_id: int
    name: str
    role: str
    rank: int
    email: str = ""
    phone: str = ""


@dataclass(frozen=True)
class PlanRequest:
    client_id: int | None
    at: datetime


@dataclass(frozen=True)
class ContactPlan:
    """Who to call, in order, and how hard to try: read once (settings + contacts) and kept
    in the contact run's history, so a replay makes the same decisions."""

    contacts: list[ContactInfo]
    mode: CallMode = CallMode.AUTOMATED
    attempts_per_contact: int = 2
    retry_seconds: int = 300
    answer_wait_seconds: int = 600


@dataclass(frozen=True)
class ContactRun:
    """Input of ``ContactWorkflow``: phone the client's contacts, then fall back to e-mail."""

    case_id: int
    case_ref: str
    case_workflow_id: str
    client_id: int | None
    step: str
    run: int
    title: str = ""
    demande_ref: str | None = None
    text: str = ""
    fallback_step: str | None = None
    fallback_attempt: str = "1"
    comms_timeout_seconds: int = 30


@dataclass(frozen=True)
class ContactRunResult:
    reached: bool
    communication_id: int | None
    calls: int
    fallback_status: str | None = None


def contact_workflow_id(case_ref: str, run: int) -> str:
    """The contact run's id: from the case reference, so the case can cancel it by id even
    after it continued as new."""
    return f"contact-{case_ref}-{run}"
