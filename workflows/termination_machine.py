"""The decision core of a contract's end (articles 5-7): pure, no I/O, no clock.

* ``notice``: a formal notice was received (date, breach described); the contract is in
  *notice* and a timer runs to day 20 (``domain.contract.notice_effective_at``, day-of-receipt
  convention from the settings, copied into the workflow input so a running notice keeps the
  rule it started under);
* ``remedied``: the breach was remedied before the timer fired; the contract is active again;
* ``terminated``: the timer fired, or the client runs an unsupported software version
  (immediate path, with its reason): the contract is terminated, monitoring of the client
  stops (its events are still stored, flagged), its planned visits are cancelled through
  their workflows with a notice to the planner, and the retention timer for its personal data
  starts;
* ``erased``: the retention passed; the client's personal data was erased, its anonymized
  SLA figures kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from transitions import EventData, Machine

from domain.contract import ContractStatus, notice_effective_at, termination_refusal
from messages.contracts import TerminationInput, TerminationKind, TerminationView, TimelineLine
from workflows.onboarding_machine import Record, SetStatus

TIMER_NOTICE = "notice"
TIMER_ERASE = "erase"
FINAL = ("remedied", "erased")
NOTICE_EXPIRED = "délai de mise en demeure expiré sans correction du manquement"

STATES: list[dict[str, Any]] = [
    {"name": "started"},
    {"name": "notice", "on_enter": ["status_notice", "arm_notice"], "on_exit": "disarm_notice"},
    {"name": "remedied", "on_enter": "status_active"},
    {"name": "terminated",
     "on_enter": ["status_terminated", "stop_monitoring", "cancel_visits", "arm_erase"],
     "on_exit": "disarm_erase"},
    {"name": "erased", "on_enter": "erase"},
]
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "give_notice", "source": "started", "dest": "notice"},
    {"trigger": "terminate", "source": ["started", "notice"], "dest": "terminated"},
    {"trigger": "remedy", "source": "notice", "dest": "remedied"},
    {"trigger": "retention_over", "source": "terminated", "dest": "erased"},
]


@dataclass(frozen=True)
class ArmTimer:
    kind: str
    at: datetime


@dataclass(frozen=True)
class DisarmTimer:
    kind: str


@dataclass(frozen=True)
class StopMonitoring:
    at: datetime
    actor: str


@dataclass(frozen=True)
class CancelVisits:
    at: datetime
    actor: str
    reason: str


@dataclass(frozen=True)
class Erase:
    at: datetime
    actor: str


Intent = Record | SetStatus | ArmTimer | DisarmTimer | StopMonitoring | CancelVisits | Erase


class TerminationModel:
    state: str

    def __init__(self, inp: TerminationInput) -> None:
        self.inp = inp
        self.effective_at: datetime | None = None
        self.erase_at: datetime | None = None
        self.seq = 0
        self.intents: list[Intent] = []
        self.timeline: list[TimelineLine] = []

    def status_notice(self, ev: EventData) -> None:
        inp = self.inp
        assert inp.received_on is not None
        self.effective_at = notice_effective_at(date.fromisoformat(inp.received_on),
                                                inp.timezone, inp.notice_days,
                                                inp.receipt_day_counts)
        self.intents.append(SetStatus(ContractStatus.NOTICE, ev.kwargs["at"], ev.kwargs["actor"],
                                      ev.kwargs.get("reason") or ""))

    def arm_notice(self, ev: EventData) -> None:
        assert self.effective_at is not None
        self.intents.append(ArmTimer(TIMER_NOTICE, self.effective_at))

    def disarm_notice(self, ev: EventData) -> None:
        self.intents.append(DisarmTimer(TIMER_NOTICE))

    def status_active(self, ev: EventData) -> None:
        self.intents.append(SetStatus(ContractStatus.ACTIVE, ev.kwargs["at"], ev.kwargs["actor"],
                                      ev.kwargs.get("reason") or ""))

    def status_terminated(self, ev: EventData) -> None:
        self.effective_at = ev.kwargs["at"]
        self.intents.append(SetStatus(ContractStatus.TERMINATED, ev.kwargs["at"],
                                      ev.kwargs["actor"], ev.kwargs.get("reason") or ""))

    def stop_monitoring(self, ev: EventData) -> None:
        self.intents.append(StopMonitoring(ev.kwargs["at"], ev.kwargs["actor"]))

    def cancel_visits(self, ev: EventData) -> None:
        self.intents.append(CancelVisits(ev.kwargs["at"], ev.kwargs["actor"],
                                         "contrat résilié : " + (ev.kwargs.get("reason") or "")))

    def arm_erase(self, ev: EventData) -> None:
        self.erase_at = ev.kwargs["at"] + timedelta(days=self.inp.retention_days)
        self.intents.append(ArmTimer(TIMER_ERASE, self.erase_at))

    def disarm_erase(self, ev: EventData) -> None:
        self.intents.append(DisarmTimer(TIMER_ERASE))

    def erase(self, ev: EventData) -> None:
        self.intents.append(Erase(ev.kwargs["at"], ev.kwargs["actor"]))


class TerminationCore:
    def __init__(self, inp: TerminationInput) -> None:
        self.inp = inp
        self.model = TerminationModel(inp)
        Machine(model=self.model, states=STATES, transitions=TRANSITIONS, initial="started",
                send_event=True, auto_transitions=False)

    @property
    def state(self) -> str:
        return self.model.state

    @property
    def finished(self) -> bool:
        return self.state in FINAL

    def _fire(self, trigger: str, at: datetime, actor: str, reason: str = "",
              data: dict[str, str] | None = None) -> list[Intent]:
        m = self.model
        m.intents = []
        getattr(m, trigger)(at=at, actor=actor, reason=reason)
        m.seq += 1
        line = Record(m.seq, at, trigger, actor, reason, {"state": m.state, **(data or {})})
        m.timeline.append(TimelineLine(at, trigger, actor, m.state, reason))
        out: list[Intent] = [line, *m.intents]
        m.intents = []
        return out

    @staticmethod
    def validate_input(inp: TerminationInput) -> str | None:
        return termination_refusal(inp)

    def start(self, at: datetime) -> list[Intent]:
        inp = self.inp
        if inp.kind == TerminationKind.IMMEDIATE:
            return self._fire("terminate", at, inp.actor,
                              f"version logicielle non supportée : {inp.reason}",
                              {"kind": inp.kind})
        return self._fire("give_notice", at, inp.actor, inp.reason,
                          {"kind": inp.kind, "received_on": str(inp.received_on)})

    def check_remedy(self, actor: str) -> str | None:
        if not actor.strip():
            return "L'auteur doit être indiqué"
        if self.state != "notice":
            return "Aucune mise en demeure en cours"
        return None

    def remedy(self, actor: str, reason: str, at: datetime) -> list[Intent]:
        if self.check_remedy(actor) is not None:
            return []  # a signal cannot be refused: a late one is ignored (and said in logs)
        return self._fire("remedy", at, actor, reason or "manquement corrigé")

    def timer_fired(self, kind: str, at: datetime) -> list[Intent]:
        if kind == TIMER_NOTICE and self.state == "notice":
            # in effect at 00:00 of day 20, whatever the timer's own latency
            return self._fire("terminate", self.model.effective_at or at, "system",
                              NOTICE_EXPIRED)
        if kind == TIMER_ERASE and self.state == "terminated":
            return self._fire("retention_over", self.model.erase_at or at, "system",
                              f"durée de conservation ({self.inp.retention_days} j) écoulée")
        return []

    def view(self) -> TerminationView:
        m = self.model
        return TerminationView(self.state, self.inp.kind, m.effective_at, m.erase_at,
                               list(m.timeline))
