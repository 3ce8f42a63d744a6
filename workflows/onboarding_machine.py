"""The decision core of a client's onboarding (3.1, 3.2.1): pure, no I/O, no clock.

The workflow hands every event in with its time and carries out the *intents* returned, in
order, as activities (``workflows.onboarding``). The flow, as data for ``transitions``:

* ``sizing``: the on-site length from the rule table (``domain.contract``); a size the
  contract does not cover goes to ``awaiting_decision`` until a planner decides (recorded
  with the planner's name and reason), never guessed;
* ``scheduling``: the onboarding is booked like a visit (``kind='onboarding'``, N days);
* ``installing``: sensors are deployed per monitored element (tracked as data); the contract
  is activated from here only, and only when no mandatory 3.1 item is open (the workflow
  asks the checklist at that moment; a manager's waiver counts as lifted);
* ``active``: the first technical document, the client's expectations (heartbeat, backup
  jobs), the contract status *active* and the first year's visit entitlement were carried
  out on entering it;
* ``cancelled``: the contract ended before service started.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from transitions import EventData, Machine

from domain.contract import ContractStatus, onboarding_sizing
from messages.contracts import (
    ONBOARDING_STATE_LABELS,
    ContractFacts,
    OnboardingView,
    TimelineLine,
)

OPEN = ["sizing", "awaiting_decision", "scheduling", "installing"]
FINAL = ("active", "cancelled")
MAX_DAYS = 10

STATES: list[dict[str, Any]] = [
    {"name": "sizing"},
    {"name": "awaiting_decision"},
    {"name": "scheduling", "on_enter": ["save_sizing", "schedule_visit"]},
    {"name": "installing", "on_enter": "plan_sensors"},
    {"name": "active", "on_enter": ["create_document", "set_up_expectations", "go_active",
                                    "open_entitlement"]},
    {"name": "cancelled"},
]
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "size", "source": "sizing", "dest": "scheduling", "conditions": "has_days"},
    {"trigger": "size", "source": "sizing", "dest": "awaiting_decision",
     "after": "save_sizing"},
    {"trigger": "decide", "source": "awaiting_decision", "dest": "scheduling",
     "before": "set_decision"},
    {"trigger": "scheduled", "source": "scheduling", "dest": "installing",
     "before": "set_visit"},
    {"trigger": "activate", "source": "installing", "dest": "active"},
    {"trigger": "cancel", "source": OPEN, "dest": "cancelled"},
]


# --- intents ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    seq: int
    at: datetime
    action: str
    actor: str
    reason: str = ""
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SaveSizing:
    days: int | None
    rule: str
    decided_by: str


@dataclass(frozen=True)
class ScheduleVisit:
    days: int


@dataclass(frozen=True)
class PlanSensors:
    pass


@dataclass(frozen=True)
class CreateDocument:
    actor: str


@dataclass(frozen=True)
class SetUpExpectations:
    actor: str


@dataclass(frozen=True)
class OpenEntitlement:
    actor: str


@dataclass(frozen=True)
class SetStatus:
    status: str
    at: datetime
    actor: str
    reason: str = ""


Intent = Record | SaveSizing | ScheduleVisit | PlanSensors | CreateDocument | SetUpExpectations \
    | SetStatus | OpenEntitlement


class OnboardingModel:
    """The onboarding's data; the machine's callbacks record intents."""

    state: str

    def __init__(self) -> None:
        self.days: int | None = None
        self.rule = ""
        self.decided_by = ""
        self.visit_id: int | None = None
        self.seq = 0
        self.intents: list[Intent] = []
        self.timeline: list[TimelineLine] = []

    # conditions
    def has_days(self, ev: EventData) -> bool:
        return self.days is not None

    # callbacks (``ev.kwargs``: at, actor, reason, days, visit_id)
    def set_decision(self, ev: EventData) -> None:
        self.days = ev.kwargs["days"]
        self.decided_by = ev.kwargs["actor"]
        reason = ev.kwargs.get("reason") or ""
        self.rule = f"décision du planificateur ({self.decided_by})" + (
            f" : {reason}" if reason else "")

    def set_visit(self, ev: EventData) -> None:
        self.visit_id = ev.kwargs["visit_id"]

    def save_sizing(self, ev: EventData) -> None:
        self.intents.append(SaveSizing(self.days, self.rule, self.decided_by))

    def schedule_visit(self, ev: EventData) -> None:
        assert self.days is not None
        self.intents.append(ScheduleVisit(self.days))

    def plan_sensors(self, ev: EventData) -> None:
        self.intents.append(PlanSensors())

    def create_document(self, ev: EventData) -> None:
        self.intents.append(CreateDocument(ev.kwargs["actor"]))

    def set_up_expectations(self, ev: EventData) -> None:
        self.intents.append(SetUpExpectations(ev.kwargs["actor"]))

    def open_entitlement(self, ev: EventData) -> None:
        self.intents.append(OpenEntitlement(ev.kwargs["actor"]))

    def go_active(self, ev: EventData) -> None:
        self.intents.append(SetStatus(ContractStatus.ACTIVE, ev.kwargs["at"],
                                      ev.kwargs["actor"], ev.kwargs.get("reason") or ""))


class OnboardingCore:
    """What the workflow talks to: events in, intents out."""

    def __init__(self) -> None:
        self.model = OnboardingModel()
        Machine(model=self.model, states=STATES, transitions=TRANSITIONS, initial="sizing",
                send_event=True, auto_transitions=False)

    @property
    def state(self) -> str:
        return self.model.state

    @property
    def finished(self) -> bool:
        return self.state in FINAL

    def _fire(self, trigger: str, at: datetime, actor: str, reason: str = "",
              data: dict[str, str] | None = None, **kw: Any) -> list[Intent]:
        m = self.model
        m.intents = []
        getattr(m, trigger)(at=at, actor=actor, reason=reason, **kw)
        m.seq += 1
        line = Record(m.seq, at, trigger, actor, reason, {"state": m.state, **(data or {})})
        m.timeline.append(TimelineLine(at, trigger, actor, m.state, reason))
        out: list[Intent] = [line, *m.intents]
        m.intents = []
        return out

    def start(self, facts: ContractFacts, at: datetime, actor: str) -> list[Intent]:
        sizing = onboarding_sizing(facts.users, facts.servers, facts.contracted_days)
        self.model.days, self.model.rule = sizing.days, sizing.rule
        return self._fire("size", at, actor, sizing.rule,
                          {"users": str(facts.users), "servers": str(facts.servers),
                           "days": str(sizing.days or "")})

    def check(self, action: str, actor: str, days: int | None = None) -> str | None:
        """Why ``action`` is refused now (French), or None."""
        if not actor.strip():
            return "L'auteur de l'action doit être indiqué"
        if action == "decide":
            if self.state != "awaiting_decision":
                return "Aucune décision de durée attendue : la règle du contrat s'applique"
            if days is None or not 1 <= days <= MAX_DAYS:
                return f"Durée d'installation entre 1 et {MAX_DAYS} jours"
            return None
        if action == "activate" and self.state != "installing":
            label = ONBOARDING_STATE_LABELS.get(self.state, self.state)
            return f"Mise en service impossible : installation au stade « {label} »"
        if action == "cancel" and self.state not in OPEN:
            return "Installation déjà terminée"
        return None

    def decide(self, actor: str, days: int, reason: str, at: datetime) -> list[Intent]:
        self._refuse(self.check("decide", actor, days))
        return self._fire("decide", at, actor, reason, {"days": str(days)}, days=days)

    def scheduled(self, visit_id: int, at: datetime) -> list[Intent]:
        return self._fire("scheduled", at, "system", "", {"visit_id": str(visit_id)},
                          visit_id=visit_id)

    def activation_refusal(self, actor: str, blockers: list[str]) -> str | None:
        refused = self.check("activate", actor)
        if refused is not None:
            return refused
        if blockers:
            return ("Mise en service refusée : prérequis obligatoire(s) ouvert(s) — "
                    + " ; ".join(blockers)
                    + ". Un responsable peut accorder une dérogation motivée.")
        return None

    def activate(self, actor: str, blockers: list[str], at: datetime) -> list[Intent]:
        self._refuse(self.activation_refusal(actor, blockers))
        return self._fire("activate", at, actor, "prérequis remplis ou dérogés")

    def cancel(self, actor: str, reason: str, at: datetime) -> list[Intent]:
        self._refuse(self.check("cancel", actor))
        return self._fire("cancel", at, actor, reason)

    @staticmethod
    def _refuse(reason: str | None) -> None:
        if reason is not None:
            raise ValueError(reason)

    def view(self) -> OnboardingView:
        m = self.model
        return OnboardingView(self.state, m.days, m.rule, m.decided_by, m.visit_id,
                              list(m.timeline))
