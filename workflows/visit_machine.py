"""The decision core of a preventive visit: which action is allowed now, and what must follow.

Pure, like ``workflows/case_machine.py``: no I/O, no clock, no randomness. The workflow hands
every event in with its time and gets back *intents* (``Audit``, ``SendVisitMail``,
``SetTimer`` ...) that it carries out in order. The states and transitions are plain data for
``transitions.Machine``, attached to a separate :class:`VisitModel`; read them first:

* the planner **proposes** two or three dates (planned/rescheduled -> proposed); once the
  proposal mail is sent the visit is **awaiting the client**, with reminder timers and an
  answer deadline; past it the planner is alerted (the visit keeps waiting);
* the client **answers** through a signed link: a proposed date confirms the visit, "none
  of these suit" sends it back to planned and alerts the planner; one decision per
  proposal, later answers to it change nothing; the planner may also **confirm** any valid
  date agreed by phone;
* a late visit (its window past, or fewer than two business days of it left) stays owed:
  it may be proposed or confirmed for any later business day;
* a confirmed visit reminds the consultant and the client **the day before**; it is
  **missed** if nobody starts it on its day;
* the consultant **starts** it (in progress) and **writes the report** (report written);
  a visit still in progress at the end of its day is closed as report written, the items
  left open listed: a visit is never stretched past one day (3.2.4);
* the report is **sent** (report sent: the end);
* **reschedule** (history kept: every earlier proposal and date stays on the timeline; a
  confirmed date dropped is mailed to the client),
  **cancel** (with a reason), **no access** (the consultant could not get in).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from transitions import EventData, Machine

from domain.calendar import site_calendar
from messages.visits import (
    STATE_LABELS,
    ClientAnswer,
    VisitCarry,
    VisitInput,
    VisitRules,
    VisitSnapshot,
    VisitState,
    VisitStep,
    VisitTimelineEntry,
    VisitView,
    bookable_until,
)

V = VisitState
SYSTEM = "system"

LIVE = [V.PLANNED, V.PROPOSED, V.AWAITING_CLIENT, V.CONFIRMED, V.IN_PROGRESS,
        V.REPORT_WRITTEN, V.RESCHEDULED, V.NO_ACCESS, V.MISSED]
PROPOSABLE = [V.PLANNED, V.RESCHEDULED, V.AWAITING_CLIENT, V.PROPOSED]
RESCHEDULABLE = [V.PROPOSED, V.AWAITING_CLIENT, V.CONFIRMED, V.IN_PROGRESS, V.NO_ACCESS,
                 V.MISSED]
CANCELLABLE = [V.PLANNED, V.PROPOSED, V.AWAITING_CLIENT, V.CONFIRMED, V.RESCHEDULED,
               V.NO_ACCESS, V.MISSED]

STATES: list[dict[str, Any]] = [
    {"name": V.PLANNED},
    {"name": V.PROPOSED, "on_enter": "send_proposal"},
    {"name": V.AWAITING_CLIENT, "on_enter": "arm_answer_timers",
     "on_exit": "disarm_answer_timers"},
    {"name": V.CONFIRMED, "on_enter": ["arm_visit_day", "mail_confirmation"],
     "on_exit": "disarm_visit_day"},
    {"name": V.IN_PROGRESS, "on_enter": "arm_day_end", "on_exit": "disarm_day_end"},
    {"name": V.REPORT_WRITTEN, "on_enter": "build_report"},
    {"name": V.REPORT_SENT},
    {"name": V.RESCHEDULED, "on_enter": "forget_date"},
    {"name": V.CANCELLED},
    {"name": V.NO_ACCESS},
    {"name": V.MISSED},
]

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "propose", "source": PROPOSABLE, "dest": V.PROPOSED, "before": "set_proposal"},
    {"trigger": "proposal_sent", "source": V.PROPOSED, "dest": V.AWAITING_CLIENT,
     "conditions": "mail_went_out"},
    {"trigger": "proposal_sent", "source": V.PROPOSED, "dest": None,
     "after": "alert_planner"},
    {"trigger": "client_answer", "source": [V.AWAITING_CLIENT, V.PROPOSED],
     "dest": V.CONFIRMED, "conditions": "answer_is_a_date", "before": "set_date"},
    {"trigger": "client_answer", "source": [V.AWAITING_CLIENT, V.PROPOSED],
     "dest": V.PLANNED, "after": "alert_planner"},
    {"trigger": "confirm", "source": PROPOSABLE, "dest": V.CONFIRMED, "before": "set_date"},
    {"trigger": "remind", "source": V.AWAITING_CLIENT, "dest": None, "after": "send_reminder"},
    {"trigger": "deadline", "source": V.AWAITING_CLIENT, "dest": None,
     "after": "alert_planner"},
    {"trigger": "day_before", "source": V.CONFIRMED, "dest": None,
     "after": "send_day_before"},
    {"trigger": "assign", "source": LIVE, "dest": None, "before": "set_consultant"},
    {"trigger": "start", "source": V.CONFIRMED, "dest": V.IN_PROGRESS, "before": "set_started"},
    {"trigger": "day_over", "source": V.CONFIRMED, "dest": V.MISSED},
    {"trigger": "day_over", "source": V.IN_PROGRESS, "dest": V.REPORT_WRITTEN,
     "before": "set_report"},
    {"trigger": "write_report", "source": V.IN_PROGRESS, "dest": V.REPORT_WRITTEN,
     "before": "set_report"},
    {"trigger": "report_built", "source": V.REPORT_WRITTEN, "dest": None,
     "before": "set_built"},
    {"trigger": "send_report", "source": V.REPORT_WRITTEN, "dest": V.REPORT_SENT,
     "conditions": "report_is_built", "after": "mail_report"},
    {"trigger": "no_access", "source": [V.CONFIRMED, V.IN_PROGRESS], "dest": V.NO_ACCESS,
     "before": "set_reason"},
    {"trigger": "reschedule", "source": RESCHEDULABLE, "dest": V.RESCHEDULED,
     "before": "set_reason"},
    {"trigger": "cancel", "source": CANCELLABLE, "dest": V.CANCELLED, "before": "set_reason"},
    {"trigger": "mail_outcome", "source": [*LIVE, V.REPORT_SENT, V.CANCELLED], "dest": None},
]



def _plain(value: Any) -> Any:
    """States as plain strings (``transitions`` would name Enum states by member names)."""
    if isinstance(value, list):
        return [str(v) for v in value]
    return None if value is None else str(value)


STATES = [{**row, "name": str(row["name"])} for row in STATES]
TRANSITIONS = [{**row, "source": _plain(row["source"]), "dest": _plain(row["dest"])}
               for row in TRANSITIONS]

# What people may ask for, by update name.
PERSON_ACTIONS = frozenset({"propose", "confirm", "assign", "start", "write_report",
                            "send_report", "no_access", "reschedule", "cancel"})


TIMER_REMINDER = "reminder"  # + index: reminder1, reminder2 ...
TIMER_DEADLINE = "deadline"
TIMER_DAY_BEFORE = "day_before"
TIMER_DAY_END = "day_end"
SENT_STATUSES = frozenset({"sent", "delivered", "confirmed"})
DAY_OVER_REASON = "fin de la journée de visite (une journée au plus, 3.2.4)"
MISSED_REASON = "visite non démarrée le jour prévu"


# --- intents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    seq: int
    at: datetime
    action: str
    actor: str
    from_state: str | None
    to_state: str | None
    reason: str = ""
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SaveVisit:
    state: str
    date: str | None
    consultant_id: int | None
    proposal: int
    proposed_dates: tuple[str, ...]
    answer_deadline: datetime | None
    reason: str
    started_at: datetime | None
    finished_at: datetime | None
    advice: str
    questions: str
    open_items: tuple[str, ...]


@dataclass(frozen=True)
class SendVisitMail:
    step: str
    attempt: str
    at: datetime
    proposal: int = 0
    dates: tuple[str, ...] = ()
    date: str | None = None
    deadline: datetime | None = None
    text: str = ""


@dataclass(frozen=True)
class BuildReport:
    at: datetime
    actor: str


@dataclass(frozen=True)
class SetTimer:
    kind: str
    at: datetime


@dataclass(frozen=True)
class ClearTimer:
    kind: str


Intent = Audit | SaveVisit | SendVisitMail | BuildReport | SetTimer | ClearTimer


class SiteCalendar(Protocol):
    """What the core needs of ``domain.calendar.BusinessCalendar`` (the site's calendar)."""

    def is_business_day(self, d: date) -> bool: ...


@dataclass(frozen=True)
class Act:
    """One action as the machine's callbacks read it."""

    actor: str
    reason: str = ""
    dates: tuple[str, ...] = ()
    date: str | None = None
    consultant_id: int | None = None
    advice: str = ""
    questions: str = ""
    open_items: tuple[str, ...] = ()
    status: str = ""
    step: str = ""
    answer: ClientAnswer | None = None
    rules: VisitRules | None = None  # the window and site days as the desk holds them now
    tell_client: bool = False  # a dropped confirmed date is mailed (workflow patch)


# --- the model -----------------------------------------------------------------------------


class VisitModel:
    state: str  # set by the machine

    def __init__(self, inp: VisitInput, calendar: SiteCalendar) -> None:
        self.input = inp
        self.calendar = calendar
        self.zone = ZoneInfo(inp.timezone)
        self.next_seq = 1
        self.date: str | None = None
        self.consultant_id = inp.consultant_id
        self.proposal = 0
        self.proposed_dates: tuple[str, ...] = ()
        self.answer_deadline: datetime | None = None
        self.reason = ""
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self.advice = ""
        self.questions = ""
        self.open_items: tuple[str, ...] = ()
        self.report_ready = False
        self.reminders_sent = 0
        self.counts: dict[str, int] = {}
        self.history: list[str] = []
        self.decided: set[int] = set()  # proposals the client has answered (one decision)
        self.timeline: list[VisitTimelineEntry] = []
        self.intents: list[Intent] = []
        self._saved: SaveVisit | None = None

    # conditions

    def mail_went_out(self, event: EventData) -> bool:
        return _act(event).status in SENT_STATUSES

    def answer_is_a_date(self, event: EventData) -> bool:
        act = _act(event)
        return act.date is not None

    def report_is_built(self, event: EventData) -> bool:
        return self.report_ready

    # data

    def set_proposal(self, event: EventData) -> None:
        act = _act(event)
        at = event.kwargs["at"]
        if self.proposed_dates:
            self.history.append(f"proposition {self.proposal} : {', '.join(self.proposed_dates)}")
        self.proposal += 1
        self.proposed_dates = tuple(act.dates)
        self.answer_deadline = at + timedelta(hours=self.input.answer_hours)
        self.reminders_sent = 0
        if act.consultant_id is not None:
            self.consultant_id = act.consultant_id

    def set_date(self, event: EventData) -> None:
        act = _act(event)
        if event.event.name == "client_answer" or act.date in self.proposed_dates:
            self.decided.add(self.proposal)  # the proposal's one decision
        self.date = act.date

    def set_reason(self, event: EventData) -> None:
        self.reason = _act(event).reason

    def set_consultant(self, event: EventData) -> None:
        self.consultant_id = _act(event).consultant_id

    def set_started(self, event: EventData) -> None:
        at = event.kwargs["at"]
        self.started_at = at
        today = at.astimezone(self.zone).date().isoformat()
        if self.date != today:  # the visit happens today, whatever was booked
            self.history.append(f"date prévue {self.date}, visite faite le {today}")
            self.date = today

    def set_report(self, event: EventData) -> None:
        act = _act(event)
        self.finished_at = event.kwargs["at"]
        self.advice = act.advice
        self.questions = act.questions
        self.open_items = tuple(act.open_items)

    def set_built(self, event: EventData) -> None:
        self.report_ready = True
        if _act(event).open_items:
            self.open_items = tuple(_act(event).open_items)

    def forget_date(self, event: EventData) -> None:
        if self.proposed_dates:
            self.history.append(f"proposition {self.proposal} : {', '.join(self.proposed_dates)}")
        if self.date:
            self.history.append(f"date {self.date} abandonnée : {_act(event).reason}")
            if _act(event).tell_client:
                n = self.counts.get(VisitStep.DATE_DROPPED, 0) + 1
                self.counts = {**self.counts, VisitStep.DATE_DROPPED: n}
                self.intents.append(SendVisitMail(
                    step=VisitStep.DATE_DROPPED, attempt=str(n), at=event.kwargs["at"],
                    proposal=self.proposal, date=self.date, text=_act(event).reason))
        self.decided.add(self.proposal)
        self.date = None
        self.proposed_dates = ()
        self.answer_deadline = None

    # intents

    def send_proposal(self, event: EventData) -> None:
        self.mail(VisitStep.PROPOSAL, event.kwargs["at"], attempt=str(self.proposal))

    def send_reminder(self, event: EventData) -> None:
        self.reminders_sent += 1
        self.mail(VisitStep.REMINDER, event.kwargs["at"],
                  attempt=f"{self.proposal}.{self.reminders_sent}")

    def alert_planner(self, event: EventData) -> None:
        act = _act(event)
        name = event.event.name
        if name == "deadline":
            text = "aucune réponse du client à l'échéance de la proposition"
        elif name == "client_answer":
            text = "le client indique qu'aucune des dates proposées ne convient"
        else:
            text = f"la proposition n'a pas pu être envoyée au client ({act.status})"
        self.mail(VisitStep.PLANNER_ALERT, event.kwargs["at"], text=text)

    def mail_confirmation(self, event: EventData) -> None:
        self.mail(VisitStep.CONFIRMED, event.kwargs["at"])

    def send_day_before(self, event: EventData) -> None:
        at = event.kwargs["at"]
        self.mail(VisitStep.DAY_BEFORE_CLIENT, at)
        self.mail(VisitStep.DAY_BEFORE_CONSULTANT, at)

    def mail_report(self, event: EventData) -> None:
        self.mail(VisitStep.REPORT, event.kwargs["at"])

    def build_report(self, event: EventData) -> None:
        self.report_ready = False
        self.intents.append(BuildReport(event.kwargs["at"], _act(event).actor))

    def mail(self, step: str, at: datetime, attempt: str | None = None, text: str = "") -> None:
        n = self.counts.get(step, 0) + 1
        self.counts = {**self.counts, step: n}
        self.intents.append(SendVisitMail(
            step=step, attempt=attempt or str(n), at=at, proposal=self.proposal,
            dates=self.proposed_dates, date=self.date, deadline=self.answer_deadline,
            text=text))

    def arm_answer_timers(self, event: EventData) -> None:
        start = event.kwargs["at"]
        deadline = self.answer_deadline or start + timedelta(hours=self.input.answer_hours)
        for i, hours in enumerate(self.input.reminder_hours, start=1):
            due = start + timedelta(hours=hours)
            if due < deadline:
                self.intents.append(SetTimer(f"{TIMER_REMINDER}{i}", due))
        self.intents.append(SetTimer(TIMER_DEADLINE, deadline))

    def disarm_answer_timers(self, event: EventData) -> None:
        for i in range(1, len(self.input.reminder_hours) + 1):
            self.intents.append(ClearTimer(f"{TIMER_REMINDER}{i}"))
        self.intents.append(ClearTimer(TIMER_DEADLINE))

    def arm_visit_day(self, event: EventData) -> None:
        assert self.date is not None
        day = date.fromisoformat(self.date)
        before = datetime.combine(day - timedelta(days=1),
                                  time.fromisoformat(self.input.day_before_at), self.zone)
        if before > event.kwargs["at"]:
            self.intents.append(SetTimer(TIMER_DAY_BEFORE, before))
        self.intents.append(SetTimer(TIMER_DAY_END, self.end_of(day)))

    def disarm_visit_day(self, event: EventData) -> None:
        self.intents.append(ClearTimer(TIMER_DAY_BEFORE))
        self.intents.append(ClearTimer(TIMER_DAY_END))

    def arm_day_end(self, event: EventData) -> None:
        day = event.kwargs["at"].astimezone(self.zone).date()
        self.intents.append(SetTimer(TIMER_DAY_END, self.end_of(day)))

    def disarm_day_end(self, event: EventData) -> None:
        self.intents.append(ClearTimer(TIMER_DAY_END))

    def end_of(self, day: date) -> datetime:
        return datetime.combine(day + timedelta(days=1), time(0, 0), self.zone)

    # ledger and projection

    def record_event(self, event: EventData) -> None:
        act = _act(event)
        transition = event.transition
        assert transition is not None
        data = dict(event.kwargs.get("data", {}))
        if act.advice or act.questions:  # what the consultant typed reaches the ledger
            data.update(advice=act.advice[:2000], questions=act.questions[:2000])
        self.audit(event.kwargs["at"], event.event.name, act.actor, transition.source,
                   transition.dest, act.reason, data)
        self.save_if_changed()

    def audit(self, at: datetime, action: str, actor: str, from_state: str | None,
              to_state: str | None, reason: str = "", data: dict[str, str] | None = None
              ) -> None:
        line = Audit(self.next_seq, at, action, actor, from_state, to_state, reason,
                     {k: str(v) for k, v in (data or {}).items()})
        self.next_seq += 1
        self.timeline.append(VisitTimelineEntry(line.seq, at, action, actor, from_state,
                                                to_state, reason, dict(line.data)))
        # the ledger line goes first: a mail is never recorded before its decision
        self.intents.insert(self._first_side_effect(), line)

    def _first_side_effect(self) -> int:
        for i, intent in enumerate(self.intents):
            if not isinstance(intent, Audit | SaveVisit):
                return i
        return len(self.intents)

    def projection(self) -> SaveVisit:
        return SaveVisit(self.state, self.date, self.consultant_id, self.proposal,
                         self.proposed_dates, self.answer_deadline, self.reason,
                         self.started_at, self.finished_at, self.advice, self.questions,
                         self.open_items)

    def save_if_changed(self) -> None:
        snap = self.projection()
        if snap != self._saved:
            self._saved = snap
            self.intents.insert(self._first_side_effect(), snap)

    def take(self) -> list[Intent]:
        out, self.intents = self.intents, []
        return out

    def carry(self, visit_id: int, timers: dict[str, datetime], at: datetime) -> VisitCarry:
        saved = snapshot_of(self.projection(), visit_id, at)
        return VisitCarry(saved=saved, next_seq=self.next_seq, report_ready=self.report_ready,
                          reminders_sent=self.reminders_sent, counts=dict(self.counts),
                          history=tuple(self.history), timers=dict(timers),
                          decided=tuple(sorted(self.decided)))

    def restore(self, c: VisitCarry) -> None:
        p = c.saved
        self.date, self.consultant_id = p.date, p.consultant_id
        self.proposal, self.proposed_dates = p.proposal, tuple(p.proposed_dates)
        self.answer_deadline, self.reason = p.answer_deadline, p.reason
        self.started_at, self.finished_at = p.started_at, p.finished_at
        self.advice, self.questions = p.advice, p.questions
        self.open_items = tuple(p.open_items)
        self.next_seq, self.report_ready = c.next_seq, c.report_ready
        self.reminders_sent, self.counts = c.reminders_sent, dict(c.counts)
        self.history, self.decided = list(c.history), set(c.decided)
        self._saved = self.projection()  # the projection is already written


def _act(event: EventData) -> Act:
    return event.kwargs["act"]


def snapshot_of(p: SaveVisit, visit_id: int, at: datetime) -> VisitSnapshot:
    """The projection as the save activity writes it."""
    return VisitSnapshot(
        visit_id=visit_id, state=p.state, date=p.date, consultant_id=p.consultant_id,
        proposal=p.proposal, proposed_dates=p.proposed_dates,
        answer_deadline=p.answer_deadline, reason=p.reason, updated_at=at,
        started_at=p.started_at, finished_at=p.finished_at, advice=p.advice,
        questions=p.questions, open_items=p.open_items)


# --- the core the workflow talks to ---------------------------------------------------------


class VisitCore:
    """One visit's rules: refusals (French, for the planner), decisions, and its view."""

    def __init__(self, inp: VisitInput, calendar: SiteCalendar) -> None:
        self.input = inp
        self.model = VisitModel(inp, calendar)
        self.window = (date.fromisoformat(inp.due_start), date.fromisoformat(inp.due_end)) \
            if inp.due_start and inp.due_end else None
        self.site_days = (tuple(inp.site_closed), tuple(inp.site_open))  # closed, open
        self.machine = Machine(
            model=self.model, states=STATES, transitions=TRANSITIONS,
            initial=inp.carried.saved.state if inp.carried else str(V.PLANNED),
            send_event=True,
            auto_transitions=False, after_state_change="record_event",
        )
        if inp.carried is not None:
            self.model.restore(inp.carried)

    @classmethod
    def open(cls, inp: VisitInput, calendar: SiteCalendar, at: datetime
             ) -> tuple[VisitCore, list[Intent]]:
        core = cls(inp, calendar)
        if inp.carried is not None:  # a continued run: its ledger and projection are written
            return core, []
        core.model.audit(at, "plan", SYSTEM, None, V.PLANNED,
                         f"fenêtre {inp.due_start} – {inp.due_end}")
        core.model.save_if_changed()
        return core, core.model.take()

    @property
    def state(self) -> str:
        return self.model.state

    # refusals

    def check(self, action: str, act: Act, now: datetime) -> str | None:
        """Why ``action`` is refused now, or None if it is allowed."""
        if action not in PERSON_ACTIONS:
            return f"Action inconnue : {action}"
        if not act.actor.strip():
            return "L'auteur de l'action doit être indiqué"
        if action in ("reschedule", "cancel", "no_access") and not act.reason.strip():
            return "Un motif est obligatoire"
        if action == "propose":
            reason = self._check_dates(act.dates, now, act.rules)
            if reason:
                return reason
        if action == "confirm" and act.date not in self.model.proposed_dates:
            reason = self._check_day(act.date or "", now, act.rules)  # a day agreed by phone
            if reason:
                return reason
        if action == "assign" and act.consultant_id is None:
            return "Aucun consultant indiqué"
        if action == "start" and self.model.consultant_id is None:
            return "Aucun consultant n'est affecté à la visite"
        if action == "send_report" and self.state == V.REPORT_WRITTEN \
                and not self.model.report_ready:
            return "Le rapport est encore en préparation : réessayer dans un instant"
        if not self.model.may_trigger(action, at=now, act=act):
            label = STATE_LABELS.get(self.state, self.state)
            return f"Action « {action} » impossible : la visite est {label}"
        return None

    def _rules(self, rules: VisitRules | None
               ) -> tuple[tuple[date, date] | None, SiteCalendar]:
        """The window and site calendar to check against: those sent with the action when
        there are (re-cut window, site days typed since the start), else the known ones."""
        if rules is None:
            return self.window, self.model.calendar
        calendar = site_calendar(self.input.site_subdiv, self.input.timezone,
                                 closed=(date.fromisoformat(d) for d in rules.site_closed),
                                 opened=(date.fromisoformat(d) for d in rules.site_open))
        return (date.fromisoformat(rules.due_start), date.fromisoformat(rules.due_end)), \
            calendar

    def _check_dates(self, dates: tuple[str, ...], now: datetime,
                     rules: VisitRules | None = None) -> str | None:
        if not 2 <= len(dates) <= 3:
            return "Proposer deux ou trois dates"
        if len(set(dates)) != len(dates):
            return "Les dates proposées doivent être différentes"
        if self.input.days > 1 and self.input.kind == "preventive":
            return "Une visite préventive dure une journée au plus (3.2.4)"
        for text in dates:
            reason = self._check_day(text, now, rules)
            if reason:
                return reason
        return None

    def _check_day(self, text: str, now: datetime, rules: VisitRules | None = None
                   ) -> str | None:
        """Why ``text`` cannot be this visit's day: in the future, on a business day of the
        site (its own days included), inside the window (the desk's, when sent with the
        action) while two business days of it remain (after: late)."""
        today = now.astimezone(self.model.zone).date()
        window, calendar = self._rules(rules)
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return f"Date illisible : {text}"
        if day <= today:
            return f"Le {day:%d/%m/%Y} n'est pas dans le futur"
        if window is not None:
            start, end = window
            last = bookable_until(end, today, calendar.is_business_day)
            if day < start or (last is not None and day > last):
                return (f"Le {day:%d/%m/%Y} est hors de la fenêtre de la visite "
                        f"({start:%d/%m/%Y} – {end:%d/%m/%Y})")
        if not calendar.is_business_day(day):
            return f"Le {day:%d/%m/%Y} n'est pas un jour ouvré du site du client"
        return None

    # decisions

    def act(self, action: str, act: Act, at: datetime) -> list[Intent]:
        if act.rules is not None:  # accepted (checked just before): the desk's facts now
            self.window, self.model.calendar = self._rules(act.rules)
            self.site_days = (tuple(act.rules.site_closed), tuple(act.rules.site_open))
        getattr(self.model, action)(at=at, act=act)
        return self.model.take()

    def answer_refused(self, sig: ClientAnswer, at: datetime) -> str | None:
        """Why the client's answer changes nothing (checked before it is taken, so a
        replayed or concurrent answer leaves no trace), or None for the proposal's decision."""
        m = self.model
        if self.state not in (V.AWAITING_CLIENT, V.PROPOSED):
            return "la visite n'attend plus de réponse"
        if sig.proposal != m.proposal:
            return f"réponse à la proposition {sig.proposal}, remplacée par la {m.proposal}"
        if sig.proposal in m.decided:
            return "cette proposition a déjà reçu sa réponse"
        if sig.date is not None and sig.date not in m.proposed_dates:
            return f"date {sig.date} non proposée"
        if m.answer_deadline is not None and at > m.answer_deadline:
            return "réponse après l'échéance"
        return None

    def take_answer(self, sig: ClientAnswer, at: datetime) -> list[Intent]:
        """The proposal's one decision (``answer_refused`` said None)."""
        m = self.model
        m.decided.add(sig.proposal)
        data = {"proposal": str(sig.proposal), "date": sig.date or "aucune", "via": sig.via}
        m.client_answer(at=at, act=Act(actor=sig.contact or "client", date=sig.date,
                                       reason="" if sig.date else "aucune date ne convient"),
                        data=data)
        return m.take()

    def carry(self, timers: dict[str, datetime], at: datetime) -> VisitCarry:
        return self.model.carry(self.input.visit_id, timers, at)

    def next_input(self, timers: dict[str, datetime], at: datetime) -> VisitInput:
        """The input a continued run starts from: the state carried, and the window and
        site days last sent by the desk (a re-cut window is not lost across runs)."""
        start, end = (self.window[0].isoformat(), self.window[1].isoformat()) \
            if self.window else (self.input.due_start, self.input.due_end)
        return replace(self.input, consultant_id=self.model.consultant_id,
                       due_start=start, due_end=end,
                       site_closed=self.site_days[0], site_open=self.site_days[1],
                       carried=self.carry(timers, at))

    def answer(self, sig: ClientAnswer, at: datetime) -> list[Intent]:
        """The client's answer (already verified by the console): a stale proposal, a date
        not offered, or an answer after the deadline is recorded and changes nothing."""
        m = self.model
        who = sig.contact or "client"
        refused = None
        if self.state not in (V.AWAITING_CLIENT, V.PROPOSED):
            refused = "la visite n'attend plus de réponse"
        elif sig.proposal != m.proposal:
            refused = f"réponse à la proposition {sig.proposal}, remplacée par la {m.proposal}"
        elif sig.date is not None and sig.date not in m.proposed_dates:
            refused = f"date {sig.date} non proposée"
        elif m.answer_deadline is not None and at > m.answer_deadline:
            refused = "réponse après l'échéance"
        data = {"proposal": str(sig.proposal), "date": sig.date or "aucune", "via": sig.via}
        if refused:
            m.audit(at, "client_answer_refused", who, self.state, None, refused, data)
            return m.take()
        m.client_answer(at=at, act=Act(actor=who, date=sig.date,
                                       reason="" if sig.date else "aucune date ne convient"),
                        data=data)
        return m.take()

    def mail_outcome(self, step: str, status: str, recipient: str, detail: str,
                     at: datetime) -> list[Intent]:
        m = self.model
        data = {"step": step, "status": status, "recipient": recipient}
        act = Act(actor=SYSTEM, status=status, step=step, reason=detail[:300])
        if step == VisitStep.PROPOSAL and self.state == V.PROPOSED:
            m.proposal_sent(at=at, act=act, data=data)
        else:
            m.mail_outcome(at=at, act=act, data=data)
        return m.take()

    def report_built(self, open_items: tuple[str, ...], at: datetime,
                     data: dict[str, str]) -> list[Intent]:
        m = self.model
        if self.state != V.REPORT_WRITTEN:
            return []
        m.report_built(at=at, act=Act(actor=SYSTEM, open_items=open_items), data=data)
        return m.take()

    def timer_fired(self, kind: str, at: datetime) -> list[Intent]:
        m = self.model
        if kind.startswith(TIMER_REMINDER) and self.state == V.AWAITING_CLIENT:
            m.remind(at=at, act=Act(actor=SYSTEM, reason="relance automatique"))
        elif kind == TIMER_DEADLINE and self.state == V.AWAITING_CLIENT:
            m.deadline(at=at, act=Act(actor=SYSTEM, reason="échéance de réponse dépassée"))
        elif kind == TIMER_DAY_BEFORE and self.state == V.CONFIRMED:
            m.day_before(at=at, act=Act(actor=SYSTEM, reason="rappel la veille"))
        elif kind == TIMER_DAY_END and self.state == V.CONFIRMED:
            m.reason = MISSED_REASON
            m.day_over(at=at, act=Act(actor=SYSTEM, reason=MISSED_REASON))
        elif kind == TIMER_DAY_END and self.state == V.IN_PROGRESS:
            m.day_over(at=at, act=Act(actor=SYSTEM, reason=DAY_OVER_REASON,
                                      advice=m.advice, questions=m.questions))
        return m.take()

    def view(self) -> VisitView:
        m = self.model
        return VisitView(
            visit_id=self.input.visit_id, state=self.state, date=m.date,
            consultant_id=m.consultant_id, proposal=m.proposal,
            proposed_dates=m.proposed_dates, answer_deadline=m.answer_deadline,
            timeline=tuple(m.timeline), history=tuple(m.history),
        )

    @property
    def done(self) -> bool:
        return self.state in (V.REPORT_SENT, V.CANCELLED)
