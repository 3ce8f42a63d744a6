"""What the visit workflow, its activities and the console agree on (standard library only, so
the workflow sandbox loads it as is), in the manner of ``messages/cases.py`` for cases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from messages.words import NC_, Contextual


class VisitState(StrEnum):
    """Where a visit stands; the transitions are declared in ``workflows.visit_machine``."""

    PLANNED = "planned"
    PROPOSED = "proposed"
    AWAITING_CLIENT = "awaiting_client"
    CONFIRMED = "confirmed"
    IN_PROGRESS = "in_progress"
    REPORT_WRITTEN = "report_written"
    REPORT_SENT = "report_sent"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    NO_ACCESS = "no_access"
    MISSED = "missed"


FINAL_STATES = frozenset({VisitState.REPORT_SENT, VisitState.CANCELLED})
OPEN_VISIT_STATES = frozenset(s for s in VisitState if s not in FINAL_STATES)


class VisitStep(StrEnum):
    """Which mail of a visit; part of the communication's idempotency key."""

    PROPOSAL = "visit_proposal"  # to the client: the dates, one signed link each
    REMINDER = "visit_reminder"  # to the client: the proposal again
    PLANNER_ALERT = "visit_planner_alert"  # to the planners: no answer, or none suits
    CONFIRMED = "visit_confirmed"  # to the client: the date is booked
    DAY_BEFORE_CLIENT = "visit_day_before_client"
    DAY_BEFORE_CONSULTANT = "visit_day_before_consultant"
    REPORT = "visit_report"  # to the monitoring team: the visit record
    DATE_DROPPED = "visit_date_dropped"  # to the client: the confirmed date no longer holds


class VisitActivity(StrEnum):
    """Activity names (``activities/visits.py``), so the workflow never imports them."""

    APPEND = "visit_append_event"  # VisitEventInput -> None
    SAVE = "visit_save"  # VisitSnapshot -> None
    SEND_MAIL = "visit_send_mail"  # VisitMailRequest -> VisitMailResult
    BUILD_REPORT = "visit_build_report"  # ReportRequest -> ReportResult


def visit_workflow_id(visit_id: int) -> str:
    return f"visit-{visit_id}"


# A late visit stays owed: once fewer than this many business days of its window are left
# after today, it may be proposed for any later business day (it is then booked late).
DATES_TO_OFFER = 2


def bookable_until(due_end: date, today: date, is_business_day: Callable[[date], bool]
                   ) -> date | None:
    """The last day a visit may be proposed for: the end of its window while two business
    days of it are still ahead, else None (no end: the visit is late, or about to be)."""
    day, left = today + timedelta(days=1), 0
    while day <= due_end and left < DATES_TO_OFFER:
        left += is_business_day(day)
        day += timedelta(days=1)
    return due_end if left >= DATES_TO_OFFER else None


def business_days_late(due_end: date, day: date, is_business_day: Callable[[date], bool]
                       ) -> int:
    """How many business days ``day`` lies after the window's end (0 inside it)."""
    n, cur = 0, due_end + timedelta(days=1)
    while cur <= day:
        n += is_business_day(cur)
        cur += timedelta(days=1)
    return n


@dataclass(frozen=True)
class VisitInput:
    """How a visit workflow starts: the visit row, the site's calendar and the timings."""

    visit_id: int
    client_id: int
    kind: str = "preventive"
    days: int = 1
    due_start: str = ""  # ISO dates
    due_end: str = ""
    site_subdiv: str | None = None
    timezone: str = "Europe/Paris"
    reminder_hours: tuple[int, ...] = (48, 96)
    answer_hours: int = 168
    day_before_at: str = "10:00"  # local time of the day-before reminder
    consultant_id: int | None = None
    site_closed: tuple[str, ...] = ()  # the site's own closed days (ISO), at the start
    site_open: tuple[str, ...] = ()  # the site's own open days (ISO): a holiday worked
    history_limit: int = 0  # continue as new past this many events (0: the default)
    carried: VisitCarry | None = None  # the state a continued run starts from


@dataclass(frozen=True)
class VisitRules:
    """The visit's window and its site's own days as the database holds them *now*, sent by
    the console with a proposal: a window re-cut mid-year (a server added under ``max``) or
    a closure typed after the workflow started reach the workflow's own check this way,
    recorded in its history (deterministic on replay). Absent (older callers, recorded
    histories): the workflow keeps what it knew."""

    due_start: str
    due_end: str
    site_closed: tuple[str, ...] = ()
    site_open: tuple[str, ...] = ()


# --- the planners' and consultants' actions (updates) ---------------------------------------


@dataclass(frozen=True)
class ProposeDates:
    actor: str
    dates: tuple[str, ...]  # two or three ISO dates inside the due window
    consultant_id: int | None = None
    reason: str = ""
    rules: VisitRules | None = None


@dataclass(frozen=True)
class VisitCarry:
    """What a visit run hands to the next when it continues as new (its history bounded):
    the projection as last saved, and what the core keeps besides."""

    saved: VisitSnapshot
    next_seq: int
    report_ready: bool
    reminders_sent: int
    counts: dict[str, int]
    history: tuple[str, ...]
    timers: dict[str, datetime]
    decided: tuple[int, ...] = ()


@dataclass(frozen=True)
class ConfirmDate:
    """The planner books a date the client agreed to another way (phone): one of the
    proposed dates, or any other valid day."""

    actor: str
    date: str
    reason: str = ""
    rules: VisitRules | None = None  # the desk's window and site days now (as ProposeDates)


@dataclass(frozen=True)
class AssignConsultant:
    actor: str
    consultant_id: int
    reason: str = ""


@dataclass(frozen=True)
class RescheduleVisit:
    """Back to rescheduling; a confirmed date dropped is mailed to the client."""

    actor: str
    reason: str


@dataclass(frozen=True)
class CancelVisit:
    actor: str
    reason: str


@dataclass(frozen=True)
class StartVisit:
    actor: str
    reason: str = ""


@dataclass(frozen=True)
class NoAccess:
    actor: str
    reason: str


@dataclass(frozen=True)
class WriteReport:
    """The consultant ends the visit: advice and answers; open checklist items are listed."""

    actor: str
    advice: str = ""
    questions: str = ""
    open_items: tuple[str, ...] = ()


@dataclass(frozen=True)
class SendReport:
    actor: str
    reason: str = ""


@dataclass(frozen=True)
class VisitResult:
    accepted: bool
    state: str
    message: str = ""


# --- the client's answer (signal, sent by the console once the signed link is verified) ----


@dataclass(frozen=True)
class ClientAnswer:
    """``date`` is one of the proposal's dates, or None for "none of these suit"."""

    proposal: int
    date: str | None
    via: str = "link"  # link | portal
    contact: str = ""


@dataclass(frozen=True)
class AnswerResult:
    """What the client's answer (update ``answer``) met: the visit's state and date after
    it, and whether it was this proposal's decision."""

    state: str
    date: str | None
    decided: bool


# --- views and activity payloads ------------------------------------------------------------


@dataclass(frozen=True)
class VisitTimelineEntry:
    seq: int
    at: datetime
    action: str
    actor: str
    from_state: str | None
    to_state: str | None
    reason: str = ""
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VisitView:
    visit_id: int
    state: str
    date: str | None
    consultant_id: int | None
    proposal: int
    proposed_dates: tuple[str, ...]
    answer_deadline: datetime | None
    timeline: tuple[VisitTimelineEntry, ...] = ()
    history: tuple[str, ...] = ()  # earlier dates and proposals, as "proposal 1: ..." lines


@dataclass(frozen=True)
class VisitEventInput:
    visit_id: int
    seq: int
    at: datetime
    action: str
    actor: str
    from_state: str | None
    to_state: str | None
    reason: str = ""
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VisitSnapshot:
    visit_id: int
    state: str
    date: str | None
    consultant_id: int | None
    proposal: int
    proposed_dates: tuple[str, ...]
    answer_deadline: datetime | None
    reason: str
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    advice: str = ""
    questions: str = ""
    open_items: tuple[str, ...] = ()


@dataclass(frozen=True)
class VisitMailRequest:
    """One mail of a visit; ``attempt`` completes the key (visit + step + attempt)."""

    visit_id: int
    step: str
    attempt: str
    workflow_id: str
    at: datetime
    proposal: int = 0
    dates: tuple[str, ...] = ()
    date: str | None = None
    deadline: datetime | None = None
    text: str = ""


@dataclass(frozen=True)
class VisitMailResult:
    communication_id: int
    status: str
    recipient: str = ""
    detail: str = ""


@dataclass(frozen=True)
class ReportRequest:
    visit_id: int
    at: datetime
    actor: str


@dataclass(frozen=True)
class ReportResult:
    visit_id: int
    techdoc_before: int | None
    techdoc_after: int | None
    anomalies: int
    open_items: tuple[str, ...] = ()


# What people read for a visit state, in French (the calendar feed, the ledger); the console
# shows it in the page's language from its catalog, under the "visite" context (a contract
# "en cours" is in force, a visit "en cours" in progress).
STATE_WORDS: dict[str, Contextual] = {
    VisitState.PLANNED: NC_("visite", "planifiée"),
    VisitState.PROPOSED: NC_("visite", "dates proposées"),
    VisitState.AWAITING_CLIENT: NC_("visite", "en attente du client"),
    VisitState.CONFIRMED: NC_("visite", "confirmée"),
    VisitState.IN_PROGRESS: NC_("visite", "en cours"),
    VisitState.REPORT_WRITTEN: NC_("visite", "rapport rédigé"),
    VisitState.REPORT_SENT: NC_("visite", "rapport envoyé"),
    VisitState.RESCHEDULED: NC_("visite", "à replanifier"),
    VisitState.CANCELLED: NC_("visite", "annulée"),
    VisitState.NO_ACCESS: NC_("visite", "accès impossible"),
    VisitState.MISSED: NC_("visite", "manquée"),
}
STATE_LABELS: dict[str, str] = {state: word.text for state, word in STATE_WORDS.items()}
