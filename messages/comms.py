"""What a case, its contact runs, the mail and phone activities and the console agree on about
talking to clients: channels, statuses, requests and results.

Standard library only, so the workflow sandbox loads it as is. The JSON shapes are those of the
recorded histories (``tests/histories/``): names, fields, order and defaults are part of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


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
