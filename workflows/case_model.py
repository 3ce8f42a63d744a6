"""The data of one case, and the machine's callbacks that change it and record intents.

``transitions.Machine`` (built in ``workflows/case_machine.py``) drives this model: the
callbacks its tables name (``set_criticality``, ``start_l1_timer``, ``record_event`` ...) are
the methods below. They only change data and append intents, never act, so a whole case can
be run in a test without Temporal and replayed byte for byte.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime

from transitions import EventData

from messages.cases import ActionInput, Criticality, TimelineEntry
from messages.comms import Channel, CommStep
from workflows import case_intents as intent


def event_input(event: EventData) -> ActionInput:
    """Who acted and why: every event is fired with its ``ActionInput`` as ``inp``."""
    return event.kwargs["inp"]


class CaseModel:
    """The case's data; the machine's callbacks (named in its tables) record intents.

    Callbacks receive ``transitions.EventData`` whose kwargs are ``at`` (when it happened),
    ``inp`` (who and why, as an ``ActionInput``) and ``data`` (extra ledger fields).
    """

    state: str  # set by the machine

    def __init__(self, policy: intent.CasePolicy, *, next_seq: int = 1) -> None:
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
        self.intents: list[intent.Intent] = []
        # Communication intents wait for the event's ledger line: a mail is never recorded
        # (nor sent) before the decision that caused it.
        self.deferred: list[intent.Intent] = []
        self._saved: intent.SaveSnapshot | None = None

    # data changes

    def set_criticality(self, event: EventData) -> None:
        self.criticality = event_input(event).criticality
        self.l1_deadline = None  # only l1_diagnosis can be reclassified with a deadline running

    def set_demande_ref(self, event: EventData) -> None:
        self.demande_ref = event.kwargs["data"]["demande_ref"]

    def set_assignee(self, event: EventData) -> None:
        self.assignee = event_input(event).assignee

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
        self.intents.append(intent.StartL1Timer(self.l1_deadline))

    def cancel_l1_timer(self, event: EventData) -> None:
        self.intents.append(intent.CancelL1Timer())

    def start_auto_close(self, event: EventData) -> None:
        self.auto_close_at = event.kwargs["at"] + self.policy.auto_close_after
        self.intents.append(intent.StartAutoCloseTimer(self.auto_close_at))

    def cancel_auto_close(self, event: EventData) -> None:
        self.auto_close_at = None
        self.intents.append(intent.CancelAutoCloseTimer())

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
            self.deferred.append(intent.CancelContact(self.contact_runs))

    def queue_instructions(self, event: EventData) -> None:
        inp = event_input(event)
        at = event.kwargs["at"]
        if inp.channel == Channel.PHONE:
            self.start_contact(CommStep.INSTRUCTIONS, at, text=inp.text,
                               fallback=CommStep.INSTRUCTIONS)
        else:
            self.queue_message(CommStep.INSTRUCTIONS, inp.channel or Channel.EMAIL, at,
                               text=inp.text)

    def mail_l2_transfer(self, event: EventData) -> None:
        at, reason = event.kwargs["at"], event_input(event).reason
        self.queue_message(CommStep.L2_TRANSFER, Channel.EMAIL, at, text=reason)
        self.queue_message(CommStep.L2_HANDOVER, Channel.EMAIL, at, text=reason)

    def mail_resolution(self, event: EventData) -> None:
        """A client who heard about the problem hears about its end (never for a case
        without impact, nor one that recovered before anybody judged it)."""
        if self.client_contacted and self.criticality in (
            Criticality.MINOR, Criticality.SIGNIFICANT, Criticality.MAJOR
        ):
            self.queue_message(CommStep.RESOLUTION, Channel.EMAIL, event.kwargs["at"],
                               text=event_input(event).reason)

    def queue_message(
        self, step: str, channel: Channel, at: datetime, text: str = "", attempt: str | None = None
    ) -> None:
        if attempt is None:
            attempt = self.next_attempt(step)
        self.deferred.append(intent.SendMessage(step, attempt, channel, at, text))

    def start_contact(self, step: str, at: datetime, text: str = "",
                      fallback: str | None = None) -> None:
        self.contact_runs += 1
        self.contact_active = step
        self.deferred.append(intent.StartContact(
            run=self.contact_runs, step=step, at=at, text=text, fallback_step=fallback,
            fallback_attempt=self.next_attempt(fallback) if fallback else "1"))

    def next_attempt(self, step: str) -> str:
        n = self.comm_counts.get(step, 0) + 1
        self.comm_counts = {**self.comm_counts, step: n}
        return str(n)

    def transfer_to_l2(self, event: EventData) -> None:
        inp = event_input(event)
        self.intents.append(
            intent.TransferToL2(
                at=event.kwargs["at"],
                by=event.kwargs["data"]["by"],
                reason=inp.reason,
                demande_ref=self.demande_ref,
            )
        )

    def record_event(self, event: EventData) -> None:
        """After every event: the ledger line, then the projection if it changed."""
        inp = event_input(event)
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
        line = intent.Audit(self.next_seq, at, action, actor, from_state, to_state, reason,
                     {k: str(v) for k, v in (data or {}).items()})
        self.next_seq += 1
        self.timeline.append(line.entry())
        self.intents.append(line)

    def projection(self) -> intent.SaveSnapshot:
        """What the console's list reads of the case: the model's fields of those names."""
        snapshot = intent.SaveSnapshot
        return snapshot(**{f.name: getattr(self, f.name) for f in fields(snapshot)})

    def save_if_changed(self) -> None:
        snap = self.projection()
        if snap != self._saved:
            self._saved = snap
            self.intents.append(snap)

    def mark_saved(self) -> None:
        """The current projection is already in the database (restored after continue-as-new)."""
        self._saved = self.projection()

    def take_intents(self) -> list[intent.Intent]:
        out, self.intents = self.intents, []
        return out

