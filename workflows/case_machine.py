"""The flow of a case on one screen: its states, the transitions between them, their guards.

Plain data for ``transitions.Machine`` (pytransitions style), attached to a separate model
(:class:`~workflows.case_model.CaseModel`) whose callbacks, named in the tables, only change
data and record *intents*; read the tables first, they are the whole flow:

* triage: ``classify`` from new/reopened, and reclassification until level 2 takes over;
  *no impact* is merely acknowledged, other classes are *classified*;
* minor: a contact that reached the client (or a sent mail) means the client is instructed;
* significant: register a Demande, then the client is notified (contact or delivered mail);
* major: register a Demande, phone the client, run the level-1 diagnosis, and past its
  deadline (one business hour by default) escalate to level 2, by the timer or by a person;
* any open case can be resolved; resolved cases close (by a person or after a delay) and can
  be reopened; assign, note and unsuccessful contacts are recorded without a state change;
  the first person to act on an unassigned case is assigned it (a line of its own).

Client communication is decided by the callbacks too, carried out after the event's ledger
line: the "Demande enregistrée" mail when a significant case enters demande_registered, the
automated calls (a ``ContactWorkflow`` run) when a major one does, the technician's
``send_instructions``, the level-2 transfer mails, and the resolution mail to a client who
heard from us. Every event appends one ``Audit`` intent: the SLA module recomputes the figures
from that ledger, so nothing that happens to a case may bypass it.

Pure on purpose (no I/O, no clock, no randomness), so the contract's rules (3.2.3) are testable
in microseconds and the workflow stays a thin, replay-safe executor. Beside this module, each
with one job: ``case_intents`` (what the workflow must carry out, the rules' settings),
``case_model`` (the data and the callbacks), ``case_refusals`` (why a person's action is
refused, in French), ``case_view`` (guided steps and the console's view) and ``case_core``
(``CaseCore``: each event turned into intents). Their public names stay importable from here.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from transitions import EventData, Machine

from messages.cases import CaseState, Criticality
from messages.comms import Channel, ContactOutcome
from workflows.case_model import CaseModel, event_input

S = CaseState

# --- the states ------------------------------------------------------------------------------

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


# --- the guards: they read the event and the case, never change anything ----------------------


def chooses_no_impact(event: EventData) -> bool:
    return event_input(event).criticality == Criticality.NO_IMPACT


def keeps_demande(event: EventData) -> bool:
    """Reclassified into a class that needs a Demande, and one exists: do not ask again."""
    return event.model.demande_ref is not None and event_input(event).criticality in (
        Criticality.SIGNIFICANT,
        Criticality.MAJOR,
    )


def is_minor(event: EventData) -> bool:
    return event.model.criticality == Criticality.MINOR


def is_significant(event: EventData) -> bool:
    return event.model.criticality == Criticality.SIGNIFICANT


def is_major(event: EventData) -> bool:
    return event.model.criticality == Criticality.MAJOR


def reached_client(event: EventData) -> bool:
    """A call answered or a mail sent; no answer, busy, voicemail or failure do not count."""
    return event_input(event).outcome in (ContactOutcome.REACHED, ContactOutcome.SENT)


def by_phone(event: EventData) -> bool:
    return event_input(event).channel == Channel.PHONE


def needs_demande(event: EventData) -> bool:
    return event.model.demande_ref is None and event.model.criticality in (
        Criticality.SIGNIFICANT,
        Criticality.MAJOR,
    )


# --- the transitions -------------------------------------------------------------------------

# Rows are tried in order: the first whose conditions hold wins; ``dest: None`` records the
# event without changing state. ``communication`` (delivery news from the mail relay or the
# phone provider) advances a case exactly like a contact a technician records.
TRANSITIONS: list[dict[str, Any]] = [
    # triage and reclassification
    {"trigger": "classify", "source": UNTRIAGED + RECLASSIFIABLE, "dest": "acknowledged",
     "conditions": chooses_no_impact, "before": "set_criticality"},
    {"trigger": "classify", "source": UNTRIAGED + RECLASSIFIABLE, "dest": "demande_registered",
     "conditions": keeps_demande, "before": "set_criticality"},
    {"trigger": "classify", "source": UNTRIAGED + RECLASSIFIABLE, "dest": "classified",
     "before": "set_criticality"},
    # contacting the client, by a person or confirmed by a delivery receipt
    *(
        row
        for trigger in ("record_contact", "communication")
        for row in (
            {"trigger": trigger, "source": "classified", "dest": "client_instructed",
             "conditions": [is_minor, reached_client]},
            {"trigger": trigger, "source": "demande_registered", "dest": "client_notified",
             "conditions": [is_significant, reached_client]},
            {"trigger": trigger, "source": "demande_registered", "dest": "client_called",
             "conditions": [is_major, reached_client, by_phone]},
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
     "conditions": needs_demande, "before": "set_demande_ref"},
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

CLAUSE = {
    None: "3.2.3",
    Criticality.NO_IMPACT: "3.2.3 Sans impact",
    Criticality.MINOR: "3.2.3 Mineur/modéré",
    Criticality.SIGNIFICANT: "3.2.3 Significatif",
    Criticality.MAJOR: "3.2.3 Majeur/étendu",
}


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


def build_machine(model: CaseModel, initial: str) -> Machine:
    """The shared machine, now also over ``model``; every event's kwargs are ``at``, ``inp``
    and ``data``."""
    MACHINE.attach(model, str(initial))
    return MACHINE


# --- names that moved beside this module ----------------------------------------------------

# Every name this module used to define is still importable from it (``workflows/case.py``,
# the tests), looked up on first use (PEP 562): the core, the refusals and the view import the
# tables above, so importing them here would be a cycle. The intents could be imported, but
# one table saying where each moved name lives beats a second copy of their import list.
_MOVED: dict[str, tuple[str, ...]] = {
    "workflows.case_intents": (
        "Audit", "SaveSnapshot", "LinkEvent", "RegisterDemande", "TransferToL2", "SendMessage",
        "StartContact", "CancelContact", "StartL1Timer", "CancelL1Timer", "StartAutoCloseTimer",
        "CancelAutoCloseTimer", "Intent", "TIMER_L1", "TIMER_AUTO_CLOSE", "Calendar",
        "CasePolicy", "policy_for",
    ),
    "workflows.case_core": ("CaseCore",),
    "workflows.case_view": ("NEXT_STEPS", "CONFIRM_RECOVERY", "CALL_AFTER_FALLBACK",
                            "COMM_LABELS"),
}
_HOME = {name: module for module, names in _MOVED.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # ``__import__`` (not importlib): Temporal's sandbox sees it and passes it through, as
    # ``workflows/case.py`` imports this module inside ``imports_passed_through``
    value = getattr(__import__(module, fromlist=[name]), name)
    globals()[name] = value
    return value
