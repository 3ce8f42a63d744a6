"""The case's core: the events a case meets, turned into the intents the workflow carries out.

The workflow (``workflows/case.py``) hands each event in with its time: a person's action, an
alert, delivery news, a client's reply, a timer. The core fires the matching event of the
machine (``workflows/case_machine.py``), whose callbacks record intents on the model
(``workflows/case_model.py``), and returns them in order. Refusals and the view are read
from their own modules; this one holds what an event means for the case.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from messages.cases import (
    ActionInput,
    AlertSignal,
    CarriedState,
    CaseInput,
    CaseState,
    CaseView,
    ClientReplySignal,
    NextStep,
)
from messages.comms import CommStatus, CommStep, CommunicationSignal, ContactOutcome
from workflows.case_intents import (
    TIMER_AUTO_CLOSE,
    TIMER_L1,
    CasePolicy,
    Intent,
    LinkEvent,
    RegisterDemande,
    StartAutoCloseTimer,
    StartL1Timer,
)
from workflows.case_machine import (
    AUTO_ASSIGN_REASON,
    AUTO_CLOSE_REASON,
    AUTO_RESOLVABLE,
    L1_TIMEOUT_REASON,
    LATE_ARRIVAL_REASON,
    OPEN,
    PERSON_ACTIONS,
    RECOVERY_REASON,
    REMEMBERED_EVENTS,
    REPEAT_REOPEN_REASON,
    SYSTEM,
    UNTRIAGED,
    UNVERIFIED_SOURCE,
    build_machine,
)
from workflows.case_model import CaseModel
from workflows.case_refusals import not_now, refusal
from workflows.case_view import carried_state, case_view, next_steps, restore

S = CaseState

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


class CaseCore:
    """One case as the workflow talks to it: events in, the intents to carry out, in order.

    Refusals come from ``case_refusals`` and what the console shows from ``case_view``; the
    methods here only turn each event into the machine's triggers and their ledger fields.
    """

    def __init__(self, model: CaseModel, inp: CaseInput, initial: str) -> None:
        self.model = model
        self.input = inp
        self.machine = build_machine(model, initial)

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
        restore(model, carried)
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
        reason = refusal(action, trigger, inp, self.model)
        if reason is None and trigger is not None and not self.model.may_trigger(
                trigger, **self._event_kwargs(trigger, inp, None)):
            return not_now(action, self.state)
        return reason

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

    # what the console shows (``workflows/case_view.py``)

    def next_steps(self) -> list[NextStep]:
        return next_steps(self.model)

    def view(self) -> CaseView:
        return case_view(self.model)

    def carry(self) -> CarriedState:
        return carried_state(self.model)

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


def _system(reason: str, **fields: Any) -> ActionInput:
    return ActionInput(actor=SYSTEM, reason=reason, **fields)
