"""What a case's core asks the workflow to carry out, and the settings its rules read.

The core never acts: every decision comes back as one of these frozen *intents*, in order,
and ``workflows/case.py`` turns each into an activity or a timer. Kept apart from the machine
so the executor, the tests and the core share one vocabulary without importing the rules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from messages.cases import CaseInput, TimelineEntry
from messages.comms import Channel


@dataclass(frozen=True)
class Audit:
    """One ledger line (``append_audit``); ``to_state`` is None when the state did not change."""

    seq: int
    at: datetime
    action: str
    actor: str
    from_state: str | None
    to_state: str | None
    reason: str = ""
    data: dict[str, str] = field(default_factory=dict)

    def entry(self) -> TimelineEntry:
        """The same line on the case's timeline (the same fields, the data copied)."""
        return TimelineEntry(**asdict(self))


@dataclass(frozen=True)
class SaveSnapshot:
    """The console's projection changed (``save_case``); the workflow adds id and time."""

    state: str
    criticality: str | None
    repeat_count: int
    last_seen: datetime | None
    recovered: bool
    assignee: str | None
    demande_ref: str | None
    l1_deadline: datetime | None


@dataclass(frozen=True)
class LinkEvent:
    """Attach an alert event row to the case (``link_event``)."""

    event_id: int


@dataclass(frozen=True)
class RegisterDemande:
    """Create the support request (``register_demande``); its answer goes back to the core
    through :meth:`CaseCore.demande_registered`, which makes the state change."""

    actor: str
    reason: str
    at: datetime
    summary: str
    external_ref: str | None = None


@dataclass(frozen=True)
class TransferToL2:
    """Hand the Demande over to level 2 (``transfer_to_level2``)."""

    at: datetime
    by: str
    reason: str
    demande_ref: str | None


@dataclass(frozen=True)
class SendMessage:
    """Send one mail or SMS of a case (``send_mail`` / ``send_sms``); what became of it goes
    back to the core through :meth:`CaseCore.communication`. ``attempt`` completes the
    idempotency key: the same intent replayed or retried never sends twice."""

    step: str
    attempt: str
    channel: Channel
    at: datetime
    text: str = ""


@dataclass(frozen=True)
class StartContact:
    """Start a ``ContactWorkflow`` run: calls with retries, the next contact, then a mail."""

    run: int
    step: str
    at: datetime
    text: str = ""
    fallback_step: str | None = None
    fallback_attempt: str = "1"


@dataclass(frozen=True)
class CancelContact:
    """Stop the automated calls of ``run``: the case moved on (reached by hand, resolved)."""

    run: int


@dataclass(frozen=True)
class StartL1Timer:
    deadline: datetime


@dataclass(frozen=True)
class CancelL1Timer:
    pass


@dataclass(frozen=True)
class StartAutoCloseTimer:
    at: datetime


@dataclass(frozen=True)
class CancelAutoCloseTimer:
    pass


Intent = (
    Audit
    | SaveSnapshot
    | LinkEvent
    | RegisterDemande
    | TransferToL2
    | SendMessage
    | StartContact
    | CancelContact
    | StartL1Timer
    | CancelL1Timer
    | StartAutoCloseTimer
    | CancelAutoCloseTimer
)

TIMER_L1 = "l1"
TIMER_AUTO_CLOSE = "auto_close"


class Calendar(Protocol):
    """What the core needs of ``domain.calendar.BusinessCalendar``."""

    def add(self, start: datetime, delta: timedelta) -> datetime: ...


@dataclass(frozen=True)
class CasePolicy:
    """The configurable parts of the rules: business calendar, L1 length, auto-close delay."""

    calendar: Calendar
    l1_length: timedelta = timedelta(hours=1)
    auto_close_after: timedelta = timedelta(hours=72)



def policy_for(inp: CaseInput, calendar: Calendar) -> CasePolicy:
    """The rules' settings for one case, from what the router (or a test) put in its input."""
    return CasePolicy(
        calendar=calendar,
        l1_length=timedelta(minutes=inp.l1_minutes),
        auto_close_after=timedelta(hours=inp.auto_close_hours),
    )
