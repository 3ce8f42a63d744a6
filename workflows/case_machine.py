"""The decision core of a case: which action is allowed now, and what must happen because of it.

Pure on purpose: no I/O, no clock, no randomness. The workflow hands every event in with its
time, and gets back *intents* (``Audit``, ``RegisterDemande``, ``StartL1Timer`` ...) that it
carries out in order as activities and timers. That keeps the contract's rules (3.2.3)
testable in microseconds, and keeps the workflow a thin, replay-safe executor.

The states and transitions below are plain data for ``transitions.Machine`` (pytransitions
style), attached to a separate :class:`CaseModel`; read them first, they are the whole flow:

* triage: ``classify`` from new/reopened, and reclassification until level 2 takes over;
  *no impact* is merely acknowledged, other classes are *classified*;
* minor: a contact that reached the client (or a sent mail) means the client is instructed;
* significant: register a Demande, then the client is notified (contact or delivered mail);
* major: register a Demande, phone the client, run the level-1 diagnosis, and past its
  deadline (one business hour by default) escalate to level 2, by the timer or by a person;
* any open case can be resolved; resolved cases close (by a person or after a delay) and can
  be reopened; assign, note and unsuccessful contacts are recorded without a state change;
  the first person to act on an unassigned case is assigned it (a line of its own).

Client communication is decided here too, as intents carried out after the event's ledger
line: the "Demande enregistrée" mail when a significant case enters demande_registered, the
automated calls (a ``ContactWorkflow`` run: retries, next contact, e-mail fallback) when a major
one does, the technician's ``send_instructions`` (mail, SMS or call), the level-2 transfer
mails, and the resolution mail to a client who heard from us. What became of each message
comes back through ``communication`` and is a ledger line like any other event.

Every event appends one ``Audit`` intent: that ledger is what the SLA module recomputes the
figures from, so nothing that happens to a case may bypass it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from transitions import EventData, Machine

from workflows.shared import (
    ActionInput,
    AlertSignal,
    CarriedState,
    CaseInput,
    CaseState,
    CaseView,
    Channel,
    ClientReplySignal,
    CommStatus,
    CommStep,
    CommunicationSignal,
    ContactOutcome,
    Criticality,
    NextStep,
    TimelineEntry,
)

S = CaseState

# --- the flow, as data ----------------------------------------------------------------------

UNTRIAGED = ["new", "reopened"]
RECLASSIFIABLE = [
    "acknowledged",
    "classified",
    "client_instructed",
    "demande_registered",
    "client_notified",
    "client_called",
    "l1_diagnosis",
]
OPEN = [*UNTRIAGED, *RECLASSIFIABLE, "l2_escalated"]
# No client communication before triage, nor for a case without impact (3.2.3 Sans impact).
CONTACTABLE = [s for s in OPEN if s not in ("new", "reopened", "acknowledged")]
ALL = [*OPEN, "resolved", "closed"]

# Plain strings, as ``CaseState`` values: ``transitions`` would name Enum states by their
# member names ("NEW"), which is not what the ledger must say.
STATES: list[dict[str, Any]] = [
    {"name": "new"},
    {"name": "acknowledged"},
    {"name": "classified", "on_exit": "stop_contact"},
    {"name": "client_instructed"},
    {"name": "demande_registered", "on_enter": "contact_for_demande", "on_exit": "stop_contact"},
    {"name": "client_notified"},
    {"name": "client_called"},
    {"name": "l1_diagnosis", "on_enter": "start_l1_timer", "on_exit": "cancel_l1_timer"},
    {"name": "l2_escalated"},
    {"name": "resolved", "on_enter": ["start_auto_close", "mail_resolution"],
     "on_exit": "cancel_auto_close"},
    {"name": "closed"},
    {"name": "reopened", "on_enter": "forget_triage"},
]

# Rows are tried in order: the first whose conditions hold wins; ``dest: None`` records the
# event without changing state. ``communication`` (delivery news from the mail relay or the
# phone provider) advances a case exactly like a contact a technician records.
TRANSITIONS: list[dict[str, Any]] = [
    # triage and reclassification
    {"trigger": "classify", "source": UNTRIAGED + RECLASSIFIABLE, "dest": "acknowledged",
     "conditions": "chooses_no_impact", "before": "set_criticality"},
    {"trigger": "classify", "source": UNTRIAGED + RECLASSIFIABLE, "dest": "demande_registered",
     "conditions": "keeps_demande", "before": "set_criticality"},
    {"trigger": "classify", "source": UNTRIAGED + RECLASSIFIABLE, "dest": "classified",
     "before": "set_criticality"},
    # contacting the client, by a person or confirmed by a delivery receipt
    *(
        row
        for trigger in ("record_contact", "communication")
        for row in (
            {"trigger": trigger, "source": "classified", "dest": "client_instructed",
             "conditions": ["is_minor", "reached_client"]},
            {"trigger": trigger, "source": "demande_registered", "dest": "client_notified",
             "conditions": ["is_significant", "reached_client"]},
            {"trigger": trigger, "source": "demande_registered", "dest": "client_called",
             "conditions": ["is_major", "reached_client", "by_phone"]},
        )
    ),
    {"trigger": "record_contact", "source": CONTACTABLE, "dest": None},
    {"trigger": "communication", "source": ALL, "dest": None},
    {"trigger": "send_instructions", "source": CONTACTABLE, "dest": None,
     "after": "queue_instructions"},
    {"trigger": "notify_level2", "source": ALL, "dest": None},  # not a client contact
    {"trigger": "client_reply", "source": ALL, "dest": None},
    # support request, level-1 diagnosis, level 2
    {"trigger": "register_demande", "source": "classified", "dest": "demande_registered",
     "conditions": "needs_demande", "before": "set_demande_ref"},
    {"trigger": "start_l1", "source": "client_called", "dest": "l1_diagnosis"},
    {"trigger": "escalate_l2", "source": "l1_diagnosis", "dest": "l2_escalated",
     "after": ["transfer_to_l2", "mail_l2_transfer"]},
    # end of life
    {"trigger": "resolve", "source": OPEN, "dest": "resolved"},
    {"trigger": "close", "source": "resolved", "dest": "closed"},
    {"trigger": "reopen", "source": ["resolved", "closed"], "dest": "reopened"},
    # recorded without a state change
    {"trigger": "assign", "source": OPEN, "dest": None, "before": "set_assignee"},
    {"trigger": "note", "source": OPEN, "dest": None},
    {"trigger": "repeat", "source": ALL, "dest": None, "before": "count_repeat"},
    # a problem that happened before the last recovery, delivered after it (an MTA's retry)
    {"trigger": "late_arrival", "source": ALL, "dest": None},
    {"trigger": "recovery", "source": ALL, "dest": None, "before": "flag_recovery"},
]

# What a technician may ask for, by update name; ``add_note`` is recorded as ``note``.
PERSON_ACTIONS: dict[str, str] = {
    "classify": "classify",
    "add_note": "note",
    "note": "note",
    "record_contact": "record_contact",
    "send_instructions": "send_instructions",
    "register_demande": "register_demande",
    "start_l1": "start_l1",
    "escalate_l2": "escalate_l2",
    "resolve": "resolve",
    "close": "close",
    "reopen": "reopen",
    "assign": "assign",
}

# Recovery ends these cases by itself: nobody has judged the problem yet, or it had no impact.
AUTO_RESOLVABLE = frozenset({S.NEW, S.REOPENED, S.ACKNOWLEDGED})
SYSTEM = "system"
RECOVERY_REASON = "rétablissement reçu"
REPEAT_REOPEN_REASON = "nouvelle alerte sur un cas résolu"
LATE_ARRIVAL_REASON = "alerte antérieure au dernier rétablissement, reçue après lui"
UNVERIFIED_SOURCE = "non vérifiée"  # the ``source`` of an open line whose sender failed checks
L1_TIMEOUT_REASON = "diagnostic N1 non abouti dans le délai"
AUTO_CLOSE_REASON = "clôture automatique : aucune nouvelle alerte depuis la résolution"
AUTO_ASSIGN_REASON = "attribué à la première personne qui agit sur le cas"
REMEMBERED_EVENTS = 256  # event ids kept to ignore a redelivered alert (router contract)

STATE_LABELS: dict[str, str] = {
    S.NEW: "nouveau",
    S.ACKNOWLEDGED: "pris en compte (sans impact)",
    S.CLASSIFIED: "classé",
    S.CLIENT_INSTRUCTED: "consignes transmises au client",
    S.DEMANDE_REGISTERED: "demande enregistrée",
    S.CLIENT_NOTIFIED: "client informé",
    S.CLIENT_CALLED: "client appelé",
    S.L1_DIAGNOSIS: "diagnostic N1 en cours",
    S.L2_ESCALATED: "transféré au niveau 2",
    S.RESOLVED: "résolu",
    S.CLOSED: "clôturé",
    S.REOPENED: "rouvert",
}
CRITICALITY_LABELS: dict[str, str] = {
    Criticality.NO_IMPACT: "sans impact",
    Criticality.MINOR: "mineur/modéré",
    Criticality.SIGNIFICANT: "significatif",
    Criticality.MAJOR: "majeur/étendu",
}
CLAUSE = {
    None: "3.2.3",
    Criticality.NO_IMPACT: "3.2.3 Sans impact",
    Criticality.MINOR: "3.2.3 Mineur/modéré",
    Criticality.SIGNIFICANT: "3.2.3 Significatif",
    Criticality.MAJOR: "3.2.3 Majeur/étendu",
}

# Guided steps by (state, criticality); ``None`` as criticality means "whatever the class".
_TRIAGE = NextStep("classify", "Fixer la criticité selon l'impact sur l'activité du client",
                   CLAUSE[None])
NEXT_STEPS: dict[tuple[str, str | None], list[NextStep]] = {
    (S.NEW, None): [_TRIAGE],
    (S.REOPENED, None): [_TRIAGE],
    (S.ACKNOWLEDGED, None): [
        NextStep("resolve", "Ajuster si besoin la console de supervision (seuil, silence), "
                 "puis résoudre ; aucune communication client", CLAUSE[Criticality.NO_IMPACT]),
    ],
    (S.CLASSIFIED, Criticality.MINOR): [
        NextStep("record_contact", "Envoyer au client, par mail ou téléphone, les consignes de "
                 "résolution ou de contournement", CLAUSE[Criticality.MINOR]),
        NextStep("send_instructions", "Envoyer les consignes depuis Vigie (mail, SMS ou appel "
                 "automatisé), avec accusé de réception", CLAUSE[Criticality.MINOR]),
    ],
    (S.CLASSIFIED, Criticality.SIGNIFICANT): [
        NextStep("register_demande", "Enregistrer une demande au support",
                 CLAUSE[Criticality.SIGNIFICANT]),
    ],
    (S.CLASSIFIED, Criticality.MAJOR): [
        NextStep("register_demande", "Enregistrer une demande au support",
                 CLAUSE[Criticality.MAJOR]),
    ],
    (S.DEMANDE_REGISTERED, Criticality.SIGNIFICANT): [
        NextStep("record_contact", "Informer le client par mail de l'enregistrement de la "
                 "demande et de sa prise en charge par le support",
                 CLAUSE[Criticality.SIGNIFICANT]),
    ],
    (S.DEMANDE_REGISTERED, Criticality.MAJOR): [
        NextStep("record_contact", "Appeler le contact principal du client pour organiser le "
                 "diagnostic N1", CLAUSE[Criticality.MAJOR]),
    ],
    (S.CLIENT_INSTRUCTED, None): [
        NextStep("resolve", "Résoudre une fois les consignes appliquées par le client",
                 CLAUSE[Criticality.MINOR]),
    ],
    (S.CLIENT_NOTIFIED, None): [
        NextStep("resolve", "Résoudre quand le support a traité la demande",
                 CLAUSE[Criticality.SIGNIFICANT]),
    ],
    (S.CLIENT_CALLED, None): [
        NextStep("start_l1", "Démarrer le diagnostic de niveau 1 (moins d'une heure)",
                 CLAUSE[Criticality.MAJOR]),
    ],
    (S.L1_DIAGNOSIS, None): [
        NextStep("resolve", "Résoudre si le diagnostic N1 aboutit avant l'échéance",
                 CLAUSE[Criticality.MAJOR]),
        NextStep("escalate_l2", "Transférer la demande au niveau 2 (automatique à "
                 "l'échéance du diagnostic N1)", CLAUSE[Criticality.MAJOR]),
    ],
    (S.L2_ESCALATED, None): [
        NextStep("resolve", "Résoudre quand le niveau 2 a terminé le dépannage",
                 CLAUSE[Criticality.MAJOR]),
    ],
    (S.RESOLVED, None): [
        NextStep("close", "Clôturer le cas (automatique après le délai sans nouvelle alerte)",
                 CLAUSE[None]),
        NextStep("reopen", "Rouvrir le cas si le problème persiste", CLAUSE[None]),
    ],
}
CONFIRM_RECOVERY = NextStep("resolve", "Confirmer le rétablissement et résoudre", "3.2.2")
# A major case's first contact is a person on the phone (3.2.3 "appel téléphonique"): the
# fallback mail after unanswered calls tells the client, it does not stop that clock.
CALL_AFTER_FALLBACK = NextStep(
    "record_contact", "Personne n'a été joint par téléphone (mail de repli envoyé) : appeler "
    "le client ; le premier contact n'est tenu qu'une fois une personne jointe au téléphone",
    CLAUSE[Criticality.MAJOR])


# --- intents: what the workflow must carry out, in order -----------------------------------


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
        return TimelineEntry(
            seq=self.seq,
            at=self.at,
            action=self.action,
            actor=self.actor,
            from_state=self.from_state,
            to_state=self.to_state,
            reason=self.reason,
            data=dict(self.data),
        )


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


# --- the model the machine drives ----------------------------------------------------------


class CaseModel:
    """The case's data; the machine's callbacks (named in the tables above) record intents.

    Callbacks receive ``transitions.EventData`` whose kwargs are ``at`` (when it happened),
    ``inp`` (who and why, as an ``ActionInput``) and ``data`` (extra ledger fields).
    """

    state: str  # set by the machine

    def __init__(self, policy: CasePolicy, *, next_seq: int = 1) -> None:
        self.policy = policy
        self.case_id: int | None = None
        self.ref: str | None = None
        self.criticality: str | None = None
        self.repeat_count = 0
        self.last_seen: datetime | None = None
        self.recovered = False
        self.last_recovery_at: datetime | None = None  # when the latest recovery happened
        self.assignee: str | None = None
        self.demande_ref: str | None = None
        self.l1_deadline: datetime | None = None
        self.auto_close_at: datetime | None = None
        self.next_seq = next_seq
        self.timeline: list[TimelineEntry] = []
        self.seen_event_ids: list[int] = []
        self.opening_linked = False  # the alert that opened the case is not a repeat
        self.comm_counts: dict[str, int] = {}  # attempts used per communication step
        self.contact_runs = 0
        self.contact_active: str | None = None  # step of the contact run still going
        self.client_contacted = False
        self.intents: list[Intent] = []
        # Communication intents wait for the event's ledger line: a mail is never recorded
        # (nor sent) before the decision that caused it.
        self.deferred: list[Intent] = []
        self._saved: SaveSnapshot | None = None

    # conditions (they read the event, never change anything)

    def chooses_no_impact(self, event: EventData) -> bool:
        return _inp(event).criticality == Criticality.NO_IMPACT

    def keeps_demande(self, event: EventData) -> bool:
        """Reclassified into a class that needs a Demande, and one exists: do not ask again."""
        return self.demande_ref is not None and _inp(event).criticality in (
            Criticality.SIGNIFICANT,
            Criticality.MAJOR,
        )

    def is_minor(self, event: EventData) -> bool:
        return self.criticality == Criticality.MINOR

    def is_significant(self, event: EventData) -> bool:
        return self.criticality == Criticality.SIGNIFICANT

    def is_major(self, event: EventData) -> bool:
        return self.criticality == Criticality.MAJOR

    def reached_client(self, event: EventData) -> bool:
        """A call answered or a mail sent; no answer, busy, voicemail or failure do not count."""
        return _inp(event).outcome in (ContactOutcome.REACHED, ContactOutcome.SENT)

    def by_phone(self, event: EventData) -> bool:
        return _inp(event).channel == Channel.PHONE

    def needs_demande(self, event: EventData) -> bool:
        return self.demande_ref is None and self.criticality in (
            Criticality.SIGNIFICANT,
            Criticality.MAJOR,
        )

    # data changes

    def set_criticality(self, event: EventData) -> None:
        self.criticality = _inp(event).criticality
        self.l1_deadline = None  # only l1_diagnosis can be reclassified with a deadline running

    def set_demande_ref(self, event: EventData) -> None:
        self.demande_ref = event.kwargs["data"]["demande_ref"]

    def set_assignee(self, event: EventData) -> None:
        self.assignee = _inp(event).assignee

    def count_repeat(self, event: EventData) -> None:
        self.repeat_count += 1
        self.last_seen = event.kwargs["at"]
        self.recovered = False  # the problem is back

    def flag_recovery(self, event: EventData) -> None:
        self.recovered = True

    def forget_triage(self, event: EventData) -> None:
        """A reopened case is judged afresh; its Demande, if any, is kept and reused."""
        self.criticality = None
        self.recovered = False
        self.l1_deadline = None

    # intents

    def start_l1_timer(self, event: EventData) -> None:
        self.l1_deadline = self.policy.calendar.add(event.kwargs["at"], self.policy.l1_length)
        self.intents.append(StartL1Timer(self.l1_deadline))

    def cancel_l1_timer(self, event: EventData) -> None:
        self.intents.append(CancelL1Timer())

    def start_auto_close(self, event: EventData) -> None:
        self.auto_close_at = event.kwargs["at"] + self.policy.auto_close_after
        self.intents.append(StartAutoCloseTimer(self.auto_close_at))

    def cancel_auto_close(self, event: EventData) -> None:
        self.auto_close_at = None
        self.intents.append(CancelAutoCloseTimer())

    def contact_for_demande(self, event: EventData) -> None:
        """Entering demande_registered: a significant client gets the "Demande enregistrée"
        mail (one per Demande, whatever the reclassifications), a major one is phoned."""
        at = event.kwargs["at"]
        if self.criticality == Criticality.SIGNIFICANT:
            self.queue_message(CommStep.DEMANDE_REGISTERED, Channel.EMAIL, at, attempt="1")
        elif self.criticality == Criticality.MAJOR and self.contact_active is None:
            self.start_contact(CommStep.L1_CALL, at, fallback=CommStep.L1_CALL_FALLBACK)

    def stop_contact(self, event: EventData) -> None:
        """Leaving the state a contact run serves: the client was reached another way, or
        the case was reclassified or resolved; the remaining calls are not placed."""
        if self.contact_active is not None:
            self.contact_active = None
            self.deferred.append(CancelContact(self.contact_runs))

    def queue_instructions(self, event: EventData) -> None:
        inp = _inp(event)
        at = event.kwargs["at"]
        if inp.channel == Channel.PHONE:
            self.start_contact(CommStep.INSTRUCTIONS, at, text=inp.text,
                               fallback=CommStep.INSTRUCTIONS)
        else:
            self.queue_message(CommStep.INSTRUCTIONS, inp.channel or Channel.EMAIL, at,
                               text=inp.text)

    def mail_l2_transfer(self, event: EventData) -> None:
        at, reason = event.kwargs["at"], _inp(event).reason
        self.queue_message(CommStep.L2_TRANSFER, Channel.EMAIL, at, text=reason)
        self.queue_message(CommStep.L2_HANDOVER, Channel.EMAIL, at, text=reason)

    def mail_resolution(self, event: EventData) -> None:
        """A client who heard about the problem hears about its end (never for a case
        without impact, nor one that recovered before anybody judged it)."""
        if self.client_contacted and self.criticality in (
            Criticality.MINOR, Criticality.SIGNIFICANT, Criticality.MAJOR
        ):
            self.queue_message(CommStep.RESOLUTION, Channel.EMAIL, event.kwargs["at"],
                               text=_inp(event).reason)

    def queue_message(
        self, step: str, channel: Channel, at: datetime, text: str = "", attempt: str | None = None
    ) -> None:
        if attempt is None:
            attempt = self.next_attempt(step)
        self.deferred.append(SendMessage(step, attempt, channel, at, text))

    def start_contact(self, step: str, at: datetime, text: str = "",
                      fallback: str | None = None) -> None:
        self.contact_runs += 1
        self.contact_active = step
        self.deferred.append(StartContact(
            run=self.contact_runs, step=step, at=at, text=text, fallback_step=fallback,
            fallback_attempt=self.next_attempt(fallback) if fallback else "1"))

    def next_attempt(self, step: str) -> str:
        n = self.comm_counts.get(step, 0) + 1
        self.comm_counts = {**self.comm_counts, step: n}
        return str(n)

    def transfer_to_l2(self, event: EventData) -> None:
        inp = _inp(event)
        self.intents.append(
            TransferToL2(
                at=event.kwargs["at"],
                by=event.kwargs["data"]["by"],
                reason=inp.reason,
                demande_ref=self.demande_ref,
            )
        )

    def record_event(self, event: EventData) -> None:
        """After every event: the ledger line, then the projection if it changed."""
        inp = _inp(event)
        transition = event.transition
        assert transition is not None
        self.audit(
            event.kwargs["at"],
            event.event.name,
            inp.actor,
            transition.source,
            transition.dest,
            inp.reason,
            event.kwargs.get("data", {}),
        )
        self.save_if_changed()
        self.intents.extend(self.deferred)
        self.deferred = []

    def audit(
        self,
        at: datetime,
        action: str,
        actor: str,
        from_state: str | None,
        to_state: str | None,
        reason: str = "",
        data: dict[str, str] | None = None,
    ) -> None:
        line = Audit(
            seq=self.next_seq,
            at=at,
            action=action,
            actor=actor,
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            data={k: str(v) for k, v in (data or {}).items()},
        )
        self.next_seq += 1
        self.timeline.append(line.entry())
        self.intents.append(line)

    def projection(self) -> SaveSnapshot:
        return SaveSnapshot(
            state=self.state,
            criticality=self.criticality,
            repeat_count=self.repeat_count,
            last_seen=self.last_seen,
            recovered=self.recovered,
            assignee=self.assignee,
            demande_ref=self.demande_ref,
            l1_deadline=self.l1_deadline,
        )

    def save_if_changed(self) -> None:
        snap = self.projection()
        if snap != self._saved:
            self._saved = snap
            self.intents.append(snap)

    def mark_saved(self) -> None:
        """The current projection is already in the database (restored after continue-as-new)."""
        self._saved = self.projection()

    def take_intents(self) -> list[Intent]:
        out, self.intents = self.intents, []
        return out


def _inp(event: EventData) -> ActionInput:
    return event.kwargs["inp"]


def _system(reason: str, **fields: Any) -> ActionInput:
    return ActionInput(actor=SYSTEM, reason=reason, **fields)


class _SharedMachine(Machine):
    """The case flow built once per process, driving every case's model (issue 24).

    Building a ``Machine`` from the tables compiles every transition: about half of a new
    case's workflow-task time in the worker went there. The machine holds no case's data:
    each model keeps its own state (its ``state`` attribute) and gets its own trigger
    functions, bound to it, exactly as ``Machine.add_model`` binds them. Models are not
    listed on the machine (``add_model`` appends each to ``models``, which would keep every
    case a worker ever ran alive). Triggers run unqueued: nothing on the machine changes
    while one runs, so workflow tasks in several threads may share it.
    """

    def attach(self, model: CaseModel, initial: str) -> None:
        """``add_model`` for one model, without remembering it."""
        self._checked_assignment(model, "trigger", partial(self._get_trigger, model))
        self._checked_assignment(model, "may_trigger", partial(self._can_trigger, model))
        for trigger in self.events:
            self._add_trigger_to_model(trigger, model)
        for state in self.states.values():
            self._add_model_to_state(state, model)
        self.set_state(initial, model=model)


MACHINE = _SharedMachine(
    model=None,
    states=STATES,
    transitions=TRANSITIONS,
    initial=S.NEW.value,  # plain strings: see STATES
    send_event=True,
    auto_transitions=False,
    after_state_change="record_event",
)


def _build_machine(model: CaseModel, initial: str) -> Machine:
    MACHINE.attach(model, str(initial))
    return MACHINE


# --- the core the workflow talks to --------------------------------------------------------

# What a communication status means as a contact; statuses absent here (queued, dry_run,
# unknown, no_recipient) are recorded without an outcome: the client was not reached.
_COMMUNICATION_OUTCOMES: dict[str, ContactOutcome] = {
    CommStatus.SENT: ContactOutcome.SENT,
    CommStatus.DELIVERED: ContactOutcome.SENT,
    CommStatus.CONFIRMED: ContactOutcome.REACHED,
    CommStatus.ANSWERED: ContactOutcome.REACHED,
    CommStatus.NO_ANSWER: ContactOutcome.NO_ANSWER,
    CommStatus.NO_CONFIRMATION: ContactOutcome.NO_ANSWER,
    CommStatus.BUSY: ContactOutcome.BUSY,
    CommStatus.VOICEMAIL: ContactOutcome.VOICEMAIL,
    CommStatus.FAILED: ContactOutcome.FAILED,
}
COMM_LABELS: dict[str, str] = {
    CommStep.INSTRUCTIONS: "consignes",
    CommStep.DEMANDE_REGISTERED: "demande enregistrée",
    CommStep.L1_CALL: "appel pour le diagnostic N1",
    CommStep.L1_CALL_FALLBACK: "mail après appels sans réponse",
    CommStep.L2_TRANSFER: "transfert au niveau 2 (client)",
    CommStep.L2_HANDOVER: "transfert au niveau 2 (équipe N2)",
    CommStep.RESOLUTION: "résolution",
}


class CaseCore:
    """One case's rules: refusals, decisions, guided steps, and the view the console shows.

    Every method that decides returns the intents to carry out, in order.
    """

    def __init__(self, model: CaseModel, inp: CaseInput, initial: str) -> None:
        self.model = model
        self.input = inp
        self.machine = _build_machine(model, initial)

    # creation

    @classmethod
    def open(cls, inp: CaseInput, policy: CasePolicy) -> tuple[CaseCore, list[Intent]]:
        """A new case: the ``open`` line, then the preset triage if the source has one."""
        model = CaseModel(policy)
        model.last_seen = inp.opened_at
        core = cls(model, inp, S.NEW)
        data = None
        if not inp.source_verified:
            data = {"source": UNVERIFIED_SOURCE, "source_check": inp.source_check}
        model.audit(inp.opened_at, "open", SYSTEM, None, S.NEW, inp.title, data)
        core._preset_triage(inp.opened_at)
        model.save_if_changed()
        return core, model.take_intents()

    @classmethod
    def resume(
        cls, inp: CaseInput, carried: CarriedState, policy: CasePolicy
    ) -> tuple[CaseCore, list[Intent]]:
        """After continue-as-new: the same case, its timers armed again, nothing re-recorded."""
        model = CaseModel(policy, next_seq=carried.next_seq)
        model.case_id, model.ref = carried.case_id, carried.ref
        model.criticality = carried.criticality
        model.repeat_count = carried.repeat_count
        model.last_seen = carried.last_seen
        model.recovered = carried.recovered
        model.assignee = carried.assignee
        model.demande_ref = carried.demande_ref
        model.l1_deadline = carried.l1_deadline
        model.auto_close_at = carried.auto_close_at
        model.timeline = list(carried.timeline)
        model.seen_event_ids = list(carried.seen_event_ids)
        model.comm_counts = dict(carried.comm_counts)
        model.contact_runs = carried.contact_runs
        model.contact_active = carried.contact_active
        model.client_contacted = carried.client_contacted
        model.last_recovery_at = carried.last_recovery_at
        model.opening_linked = True
        core = cls(model, inp, carried.state)
        model.mark_saved()
        intents: list[Intent] = []
        if core.state == S.L1_DIAGNOSIS and model.l1_deadline is not None:
            intents.append(StartL1Timer(model.l1_deadline))
        if core.state == S.RESOLVED and model.auto_close_at is not None:
            intents.append(StartAutoCloseTimer(model.auto_close_at))
        return core, intents

    def opened(self, case_id: int, ref: str) -> None:
        self.model.case_id, self.model.ref = case_id, ref

    @property
    def state(self) -> str:
        return self.model.state

    @property
    def criticality(self) -> str | None:
        return self.model.criticality

    # people's actions

    def check(self, action: str, inp: ActionInput) -> str | None:
        """Why ``action`` is not allowed now (French, for the technician), or None if it is."""
        trigger = PERSON_ACTIONS.get(action)
        if trigger is None:
            return f"Action inconnue : {action}"
        if not inp.actor.strip():
            return "L'auteur de l'action doit être indiqué"
        for refused, reason in self._rules(trigger, inp):
            if refused:
                return reason
        if not self.model.may_trigger(trigger, **self._event_kwargs(trigger, inp, None)):
            return (
                f"Action « {action} » impossible : le cas est "
                f"{STATE_LABELS.get(self.state, self.state)}"
            )
        return None

    def act(self, action: str, inp: ActionInput, at: datetime, *,
            auto_assign: bool = True) -> list[Intent]:
        """Carry out a person's action that :meth:`check` accepted.

        ``auto_assign``: the first person to act on an unassigned case becomes its assignee
        (an ``assign`` line of its own, before the action; after it for a reopening), so
        "my cases" lists what one has touched. The workflow turns it off for histories
        recorded before the rule existed.
        """
        reason = self.check(action, inp)
        if reason is not None:
            raise ValueError(reason)
        trigger = PERSON_ACTIONS[action]
        claim = auto_assign and trigger != "assign" and self.model.assignee is None
        if claim and self.state in OPEN:
            self._claim(inp.actor, at)
            claim = False
        if trigger == "register_demande":
            # The state changes only once the Demande exists (see demande_registered).
            return [
                *self.model.take_intents(),
                RegisterDemande(
                    actor=inp.actor,
                    reason=inp.reason,
                    at=at,
                    summary=self.input.title,
                    external_ref=inp.demande_ref,
                ),
            ]
        if trigger == "record_contact" and inp.outcome in (ContactOutcome.REACHED,
                                                           ContactOutcome.SENT):
            self.model.client_contacted = True
        self._fire(trigger, inp, at)
        if claim and self.state in OPEN:
            self._claim(inp.actor, at)
        if self.state == S.REOPENED:
            self._preset_triage(at)
        return self.model.take_intents()

    def _claim(self, actor: str, at: datetime) -> None:
        self._fire("assign", ActionInput(actor=actor, reason=AUTO_ASSIGN_REASON,
                                         assignee=actor), at)

    def demande_registered(self, request: RegisterDemande, demande_ref: str) -> list[Intent]:
        """The support request exists: the case moves on, and the ledger names the Demande."""
        inp = ActionInput(actor=request.actor, reason=request.reason)
        self._fire("register_demande", inp, request.at, {"demande_ref": demande_ref})
        return self.model.take_intents()

    # machine events

    def alert(self, sig: AlertSignal,
              order_rule: Callable[[], bool] = lambda: True) -> list[Intent]:
        """A repeat or a recovery of the case's problem; a redelivered event is ignored.

        Occurrence order: a problem that happened before the case's last recovery (by more
        than the input's clock-skew margin) was delivered late, e.g. by a mail server's retry.
        It is linked and recorded as a ``late_arrival`` ledger line, and neither repeats nor
        reopens. ``order_rule`` is asked only then (the workflow's ``workflow.patched``: a run
        recorded before the rule keeps counting it as a repeat)."""
        model = self.model
        if sig.event_id is not None:
            if sig.event_id in model.seen_event_ids:
                return []
            model.seen_event_ids = [*model.seen_event_ids, sig.event_id][-REMEMBERED_EVENTS:]
            model.intents.append(LinkEvent(sig.event_id))
        data = {"event_id": str(sig.event_id)} if sig.event_id is not None else {}
        if not sig.verified and sig.status != "problem":
            # a recovery from a source that failed verification: linked, never acted upon
            return model.take_intents()
        if not model.opening_linked:
            model.opening_linked = True
            if sig.status == "problem" and sig.opening:
                # the alert the router opened the case with (signal-with-start): the ``open``
                # line already stands for it, so it is linked but not counted as a repeat
                return model.take_intents()
        if sig.status == "recovery":
            happened = sig.occurred_at or sig.received_at
            if model.last_recovery_at is None or happened > model.last_recovery_at:
                model.last_recovery_at = happened
            self._fire("recovery", _system(sig.summary), sig.received_at, data)
            if self.state in AUTO_RESOLVABLE:
                self._fire("resolve", _system(RECOVERY_REASON), sig.received_at)
        elif self._late(sig) and order_rule():
            assert sig.occurred_at is not None and model.last_recovery_at is not None
            self._fire("late_arrival", _system(LATE_ARRIVAL_REASON), sig.received_at,
                       {**data, "severity": sig.severity,
                        "occurred_at": sig.occurred_at.isoformat(),
                        "last_recovery_at": model.last_recovery_at.isoformat(),
                        "summary": sig.summary[:500]})
        else:
            self._fire("repeat", _system(sig.summary), sig.received_at,
                       {**data, "severity": sig.severity})
            if self.state in (S.RESOLVED, S.CLOSED):
                self._fire("reopen", _system(REPEAT_REOPEN_REASON), sig.received_at)
                self._preset_triage(sig.received_at)
        return model.take_intents()

    def communication(self, sig: CommunicationSignal) -> list[Intent]:
        """Delivery news; a sent or delivered message, or a call a person answered and
        confirmed, counts as reaching the client. Level 2's own mail is recorded apart
        (``notify_level2``): it is no client contact."""
        model = self.model
        outcome = _COMMUNICATION_OUTCOMES.get(sig.status)
        reached = outcome in (ContactOutcome.REACHED, ContactOutcome.SENT)
        data = {
            "status": sig.status,
            "channel": sig.channel,
            "communication_id": str(sig.communication_id),
        }
        if outcome is not None:
            data["outcome"] = outcome
        if sig.step:
            data["step"] = sig.step
        if sig.recipient:
            data["recipient"] = sig.recipient
        if sig.step == CommStep.L2_HANDOVER:
            self._fire("notify_level2", _system(sig.detail), sig.at, data)
            return model.take_intents()
        if sig.final and sig.contact_run == model.contact_runs:
            model.contact_active = None  # the contact run ended by itself: nothing to cancel
        if reached:
            model.client_contacted = True
        inp = _system(sig.detail, channel=sig.channel, outcome=outcome)
        self._fire("communication", inp, sig.at, data)
        return model.take_intents()

    def client_reply(self, sig: ClientReplySignal) -> list[Intent]:
        """A client's answer quoting the case: linked and on the timeline, no state change."""
        model = self.model
        if sig.event_id is not None and sig.event_id not in model.seen_event_ids:
            model.seen_event_ids = [*model.seen_event_ids, sig.event_id][-REMEMBERED_EVENTS:]
            model.intents.append(LinkEvent(sig.event_id))
        elif sig.event_id is not None:
            return []  # redelivered
        data = {"channel": sig.channel, "sender": sig.sender}
        if sig.event_id is not None:
            data["event_id"] = str(sig.event_id)
        self._fire("client_reply", ActionInput(actor=sig.sender or "client",
                                               reason=sig.summary[:500]), sig.received_at, data)
        return model.take_intents()

    def timer_fired(self, kind: str) -> list[Intent]:
        """A timer armed by an intent is due; stale timers (state moved on) do nothing."""
        model = self.model
        if kind == TIMER_L1 and self.state == S.L1_DIAGNOSIS and model.l1_deadline:
            # Escalated at the deadline itself, whenever the timer task happens to run.
            self._fire("escalate_l2", _system(L1_TIMEOUT_REASON), model.l1_deadline,
                       {"by": "timer"})
        elif kind == TIMER_AUTO_CLOSE and self.state == S.RESOLVED and model.auto_close_at:
            self._fire("close", _system(AUTO_CLOSE_REASON), model.auto_close_at)
        return model.take_intents()

    # what the console shows

    def next_steps(self) -> list[NextStep]:
        state, crit = self.state, self.criticality
        steps = NEXT_STEPS.get((state, crit)) or NEXT_STEPS.get((state, None)) or []
        if (state == S.DEMANDE_REGISTERED and crit == Criticality.MAJOR
                and self.model.contact_runs and self.model.contact_active is None):
            steps = [CALL_AFTER_FALLBACK]  # the automated calls reached nobody
        if self.model.recovered and state in OPEN and state not in AUTO_RESOLVABLE:
            return [CONFIRM_RECOVERY, *(s for s in steps if s.action != "resolve")]
        return list(steps)

    def view(self) -> CaseView:
        m = self.model
        return CaseView(
            case_id=m.case_id,
            ref=m.ref,
            state=self.state,
            criticality=m.criticality,
            repeat_count=m.repeat_count,
            last_seen=m.last_seen,
            recovered=m.recovered,
            assignee=m.assignee,
            demande_ref=m.demande_ref,
            l1_deadline=m.l1_deadline,
            next_steps=self.next_steps(),
            timeline=list(m.timeline),
            contact_active=m.contact_active,
        )

    def carry(self) -> CarriedState:
        m = self.model
        return CarriedState(
            case_id=m.case_id,
            ref=m.ref,
            state=self.state,
            criticality=m.criticality,
            repeat_count=m.repeat_count,
            last_seen=m.last_seen,
            recovered=m.recovered,
            assignee=m.assignee,
            demande_ref=m.demande_ref,
            l1_deadline=m.l1_deadline,
            next_seq=m.next_seq,
            timeline=list(m.timeline),
            auto_close_at=m.auto_close_at,
            seen_event_ids=list(m.seen_event_ids),
            comm_counts=dict(m.comm_counts),
            contact_runs=m.contact_runs,
            contact_active=m.contact_active,
            client_contacted=m.client_contacted,
            last_recovery_at=m.last_recovery_at,
        )

    # internals

    def _late(self, sig: AlertSignal) -> bool:
        """Did this problem happen before the last recovery, beyond the clock-skew margin?"""
        last = self.model.last_recovery_at
        margin = timedelta(seconds=self.input.late_margin_seconds)
        return sig.occurred_at is not None and last is not None \
            and sig.occurred_at + margin < last

    def _preset_triage(self, at: datetime) -> None:
        """Sources whose class is known in advance (a missing heartbeat is major) triage
        themselves, at opening and again at reopening."""
        preset = self.input.preset_criticality
        if preset is None or self.state not in UNTRIAGED or not self.input.source_verified:
            return  # an unverified source is never auto-classified
        reason = self.input.preset_reason or "criticité fixée d'office pour cette source"
        self._fire("classify", _system(reason, criticality=preset), at,
                   {"criticality": preset, "previous": ""})

    def _fire(
        self, trigger: str, inp: ActionInput, at: datetime, data: dict[str, str] | None = None
    ) -> None:
        self.model.trigger(trigger, **self._event_kwargs(trigger, inp, at, data))

    def _event_kwargs(
        self,
        trigger: str,
        inp: ActionInput,
        at: datetime | None,
        data: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The ledger fields each person action adds, derived from its input."""
        extra: dict[str, str] = {}
        if trigger == "classify" and inp.criticality is not None:
            extra = {"criticality": inp.criticality, "previous": self.criticality or ""}
        elif trigger == "record_contact":
            extra = {"channel": inp.channel or "", "outcome": inp.outcome or ""}
            if inp.text.strip():
                extra["text"] = inp.text.strip()  # the call report typed by the technician
        elif trigger == "send_instructions":
            extra = {"channel": inp.channel or "", "text": inp.text}
        elif trigger == "assign":
            extra = {"assignee": inp.assignee or ""}
        elif trigger == "note":
            extra = {"text": inp.text}
        elif trigger == "escalate_l2":
            extra = {"by": inp.actor}
        return {"at": at, "inp": inp, "data": {**extra, **(data or {})}}

    def _rules(self, trigger: str, inp: ActionInput) -> list[tuple[bool, str]]:
        """The refusals a technician can meet, most specific first, each with its reason."""
        state, crit, m = self.state, self.criticality, self.model
        is_open = state in OPEN
        reopen_first = (not is_open, f"Le cas est {STATE_LABELS[state]} : rouvrez-le d'abord")
        match trigger:
            case "classify":
                return [
                    (inp.criticality is None,
                     "Indiquez la criticité (sans impact, mineur, significatif ou majeur)"),
                    reopen_first,
                    (state == S.L2_ESCALATED,
                     "La demande est transférée au niveau 2 : le cas ne peut plus être reclassé"),
                    (inp.criticality == crit and state not in UNTRIAGED,
                     f"Le cas est déjà classé {CRITICALITY_LABELS.get(crit or '', crit)}"),
                ]
            case "record_contact":
                return [
                    (inp.channel is None or inp.outcome is None,
                     "Indiquez le canal et le résultat du contact"),
                    reopen_first,
                    (state in UNTRIAGED,
                     "Fixez d'abord la criticité du cas avant de contacter le client (3.2.3)"),
                    (state == S.ACKNOWLEDGED,
                     "Un cas sans impact ne donne lieu à aucune communication client "
                     "(3.2.3 Sans impact) : reclassez-le d'abord"),
                ]
            case "send_instructions":
                return [
                    (not inp.text.strip(), "Rédigez les consignes à transmettre au client"),
                    (inp.channel is None,
                     "Indiquez le canal des consignes (mail, SMS ou téléphone)"),
                    reopen_first,
                    (state in UNTRIAGED,
                     "Fixez d'abord la criticité du cas avant de contacter le client (3.2.3)"),
                    (state == S.ACKNOWLEDGED,
                     "Un cas sans impact ne donne lieu à aucune communication client "
                     "(3.2.3 Sans impact) : reclassez-le d'abord"),
                    (inp.channel == Channel.PHONE and m.contact_active is not None,
                     "Des appels automatiques sont déjà en cours pour ce cas"),
                    (inp.channel == Channel.SMS and len(inp.text) > 300,
                     "Un SMS porte des consignes courtes (300 caractères au plus)"),
                ]
            case "register_demande":
                return [
                    reopen_first,
                    (m.demande_ref is not None,
                     f"Une demande est déjà enregistrée pour ce cas ({m.demande_ref})"),
                    (crit not in (Criticality.SIGNIFICANT, Criticality.MAJOR),
                     "Une demande au support ne s'enregistre que pour un cas significatif ou "
                     "majeur (3.2.3)"),
                ]
            case "start_l1":
                return [
                    reopen_first,
                    (state == S.L1_DIAGNOSIS, "Le diagnostic N1 est déjà en cours"),
                    (crit is not None and crit != Criticality.MAJOR,
                     "Le diagnostic N1 ne concerne que les cas majeurs/étendus (3.2.3)"),
                    (state != S.CLIENT_CALLED,
                     "Le diagnostic N1 ne peut démarrer qu'après l'appel du client "
                     "(cas majeur)"),
                ]
            case "escalate_l2":
                return [
                    reopen_first,
                    (state == S.L2_ESCALATED, "La demande est déjà transférée au niveau 2"),
                    (state != S.L1_DIAGNOSIS,
                     "Le transfert au niveau 2 suit le diagnostic N1 : démarrez-le d'abord "
                     "(3.2.3 Majeur/étendu)"),
                ]
            case "resolve":
                return [(not is_open, f"Le cas est déjà {STATE_LABELS[state]}")]
            case "close":
                return [
                    (state == S.CLOSED, "Le cas est déjà clôturé"),
                    (state != S.RESOLVED,
                     "Seul un cas résolu peut être clôturé : résolvez-le d'abord"),
                ]
            case "reopen":
                return [(is_open, "Le cas est encore ouvert : il n'y a rien à rouvrir")]
            case "assign":
                return [
                    (not inp.assignee, "Indiquez la personne à qui assigner le cas"),
                    reopen_first,
                    (inp.assignee == m.assignee, f"Le cas est déjà assigné à {m.assignee}"),
                ]
            case "note":
                return [(not inp.text.strip(), "La note est vide"), reopen_first]
        return []


def policy_for(inp: CaseInput, calendar: Calendar) -> CasePolicy:
    """The rules' settings for one case, from what the router (or a test) put in its input."""
    return CasePolicy(
        calendar=calendar,
        l1_length=timedelta(minutes=inp.l1_minutes),
        auto_close_after=timedelta(hours=inp.auto_close_hours),
    )

