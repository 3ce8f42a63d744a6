"""One preventive visit as a durable Temporal workflow (id ``visit-{visit_id}``).

The rules live in :mod:`workflows.visit_machine`; this module feeds it events (the planner's
and consultant's updates, the client's answer signal, its own timers, the outcomes of its
mails) and carries out the intents it returns, in order, under one lock (Temporal's
``safe_message_handlers`` pattern). Mails go through a queue of their own, sent one by one by a
background task outside the lock (as the case's), so a slow relay never holds a planner's
update; each outcome comes back to the core like any event. Timers follow
``updatable_timer``: the main loop waits on a condition with the earliest armed deadline as
timeout. Business days come from the client site's calendar (``domain.calendar``, with its
Alsace-Moselle subdivision).

The client's answer arrives as the update ``answer`` whose validator refuses any answer but
the proposal's first decision: a replayed or concurrent link leaves nothing in the history
(the console sends it with the update id ``answer-{proposal}``, so concurrent copies are one
update). The older ``client_answer`` signal is still taken, for runs begun before. Past
``history_limit`` events (``HISTORY_LIMIT`` by default) an idle run continues as new,
carrying its state and armed timers (``VisitCarry``): a visit's history stays bounded.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import date, datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.calendar import site_calendar
    from messages.visits import (
        AnswerResult,
        AssignConsultant,
        CancelVisit,
        ClientAnswer,
        ConfirmDate,
        NoAccess,
        ProposeDates,
        ReportRequest,
        ReportResult,
        RescheduleVisit,
        SendReport,
        StartVisit,
        VisitActivity,
        VisitEventInput,
        VisitInput,
        VisitMailRequest,
        VisitMailResult,
        VisitResult,
        VisitView,
        WriteReport,
    )
    from workflows.visit_machine import (
        Act,
        Audit,
        BuildReport,
        ClearTimer,
        Intent,
        SaveVisit,
        SendVisitMail,
        SetTimer,
        VisitCore,
        snapshot_of,
    )

__all__ = ["CancelVisit", "VisitWorkflow"]

ACTIVITY_TIMEOUT = timedelta(seconds=30)
ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=1))
MAIL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                         maximum_interval=timedelta(seconds=30), maximum_attempts=5)
REPORT_TIMEOUT = timedelta(minutes=2)
INVALID_ACTION = "InvalidVisitAction"
HISTORY_LIMIT = 2000  # events; a run continues as new past it, once idle
DATE_DROPPED_PATCH = "visit-date-dropped-mail"  # runs begun before did not mail it


@workflow.defn
class VisitWorkflow:
    """A visit from its due window to its report; ends when the report is sent or cancelled."""

    @workflow.init
    def __init__(self, inp: VisitInput) -> None:
        calendar = site_calendar(inp.site_subdiv, inp.timezone,
                                 closed=(date.fromisoformat(d) for d in inp.site_closed),
                                 opened=(date.fromisoformat(d) for d in inp.site_open))
        self._core, intents = VisitCore.open(inp, calendar, workflow.now())
        self._pending: deque[Intent] = deque(intents)
        self._lock = asyncio.Lock()
        self._timers: dict[str, datetime] = dict(inp.carried.timers) if inp.carried else {}
        self._input = inp
        self._mails: deque[SendVisitMail] = deque()  # sent in order by _send_mails

    @workflow.run
    async def run(self, inp: VisitInput) -> VisitView:
        self._sender = asyncio.create_task(self._send_mails())
        while True:
            async with self._lock:
                await self._drain()
            if self._idle() and self._core.done:
                return self._core.view()
            if self._history_full():
                workflow.continue_as_new(self._core.next_input(self._timers, workflow.now()))
            await self._wait_for_work()

    # --- the client's answer (verified signed link, relayed by the console) ----------------

    @workflow.signal
    def client_answer(self, sig: ClientAnswer) -> None:
        self._pending.extend(self._core.answer(sig, workflow.now()))

    @workflow.update
    async def answer(self, sig: ClientAnswer) -> AnswerResult:
        async with self._lock:
            decided = self._core.answer_refused(sig, workflow.now()) is None  # again, inside
            if decided:
                self._pending.extend(self._core.take_answer(sig, workflow.now()))
                await self._drain()
        return AnswerResult(state=self._core.state, date=self._core.model.date,
                            decided=decided)

    @answer.validator
    def _check_answer(self, sig: ClientAnswer) -> None:
        reason = self._core.answer_refused(sig, workflow.now())
        if reason is not None:
            raise ApplicationError(reason, type=INVALID_ACTION, non_retryable=True)

    # --- planners' and consultants' actions --------------------------------------------------

    @workflow.update
    async def propose(self, inp: ProposeDates) -> VisitResult:
        return await self._act("propose", Act(actor=inp.actor, reason=inp.reason,
                                              dates=tuple(inp.dates),
                                              consultant_id=inp.consultant_id,
                                              rules=inp.rules))

    @propose.validator
    def _check_propose(self, inp: ProposeDates) -> None:
        self._validate("propose", Act(actor=inp.actor, dates=tuple(inp.dates),
                                      consultant_id=inp.consultant_id, rules=inp.rules))

    @workflow.update
    async def confirm(self, inp: ConfirmDate) -> VisitResult:
        return await self._act("confirm", Act(actor=inp.actor, date=inp.date, reason=inp.reason,
                                              rules=inp.rules))

    @confirm.validator
    def _check_confirm(self, inp: ConfirmDate) -> None:
        self._validate("confirm", Act(actor=inp.actor, date=inp.date, rules=inp.rules))

    @workflow.update
    async def assign(self, inp: AssignConsultant) -> VisitResult:
        return await self._act("assign", Act(actor=inp.actor, reason=inp.reason,
                                             consultant_id=inp.consultant_id))

    @assign.validator
    def _check_assign(self, inp: AssignConsultant) -> None:
        self._validate("assign", Act(actor=inp.actor, consultant_id=inp.consultant_id))

    @workflow.update
    async def start(self, inp: StartVisit) -> VisitResult:
        return await self._act("start", Act(actor=inp.actor, reason=inp.reason))

    @start.validator
    def _check_start(self, inp: StartVisit) -> None:
        self._validate("start", Act(actor=inp.actor))

    @workflow.update
    async def write_report(self, inp: WriteReport) -> VisitResult:
        return await self._act("write_report", Act(
            actor=inp.actor, advice=inp.advice, questions=inp.questions,
            open_items=tuple(inp.open_items)))

    @write_report.validator
    def _check_write_report(self, inp: WriteReport) -> None:
        self._validate("write_report", Act(actor=inp.actor))

    @workflow.update
    async def send_report(self, inp: SendReport) -> VisitResult:
        return await self._act("send_report", Act(actor=inp.actor, reason=inp.reason))

    @send_report.validator
    def _check_send_report(self, inp: SendReport) -> None:
        self._validate("send_report", Act(actor=inp.actor))

    @workflow.update
    async def no_access(self, inp: NoAccess) -> VisitResult:
        return await self._act("no_access", Act(actor=inp.actor, reason=inp.reason))

    @no_access.validator
    def _check_no_access(self, inp: NoAccess) -> None:
        self._validate("no_access", Act(actor=inp.actor, reason=inp.reason))

    @workflow.update
    async def reschedule(self, inp: RescheduleVisit) -> VisitResult:
        tell = self._core.model.date is not None and workflow.patched(DATE_DROPPED_PATCH)
        return await self._act("reschedule", Act(actor=inp.actor, reason=inp.reason,
                                                 tell_client=tell))

    @reschedule.validator
    def _check_reschedule(self, inp: RescheduleVisit) -> None:
        self._validate("reschedule", Act(actor=inp.actor, reason=inp.reason))

    @workflow.update
    async def cancel(self, inp: CancelVisit) -> VisitResult:
        return await self._act("cancel", Act(actor=inp.actor, reason=inp.reason))

    @cancel.validator
    def _check_cancel(self, inp: CancelVisit) -> None:
        self._validate("cancel", Act(actor=inp.actor, reason=inp.reason))

    @workflow.query
    def view(self) -> VisitView:
        return self._core.view()

    # --- internals ---------------------------------------------------------------------------

    def _validate(self, action: str, act: Act) -> None:
        reason = self._core.check(action, act, workflow.now())
        if reason is not None:
            raise ApplicationError(reason, type=INVALID_ACTION, non_retryable=True)

    async def _act(self, action: str, act: Act) -> VisitResult:
        async with self._lock:
            self._validate(action, act)  # again: another handler may have run meanwhile
            self._pending.extend(self._core.act(action, act, workflow.now()))
            await self._drain()
        return VisitResult(accepted=True, state=self._core.state)

    async def _drain(self) -> None:
        while self._pending:
            intent = self._pending.popleft()
            follow_up = await self._execute(intent)
            self._pending.extendleft(reversed(follow_up))

    async def _execute(self, intent: Intent) -> list[Intent]:
        visit_id = self._core.input.visit_id
        match intent:
            case Audit():
                await self._activity(VisitActivity.APPEND, VisitEventInput(
                    visit_id=visit_id, seq=intent.seq, at=intent.at, action=intent.action,
                    actor=intent.actor, from_state=intent.from_state,
                    to_state=intent.to_state, reason=intent.reason, data=intent.data))
            case SaveVisit():
                await self._activity(VisitActivity.SAVE,
                                     snapshot_of(intent, visit_id, workflow.now()))
            case SendVisitMail():
                self._mails.append(intent)  # sent by _send_mails, outside the lock
            case BuildReport():
                built = await workflow.execute_activity(
                    VisitActivity.BUILD_REPORT,
                    ReportRequest(visit_id=visit_id, at=intent.at, actor=intent.actor),
                    result_type=ReportResult, start_to_close_timeout=REPORT_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY)
                return self._core.report_built(tuple(built.open_items), workflow.now(), {
                    "anomalies": str(built.anomalies),
                    "techdoc_before": str(built.techdoc_before or ""),
                    "techdoc_after": str(built.techdoc_after or ""),
                })
            case SetTimer():
                self._timers[intent.kind] = intent.at
            case ClearTimer():
                self._timers.pop(intent.kind, None)
        return []

    async def _send_mails(self) -> None:
        """Send queued mails one at a time; each outcome goes to the core, whose ledger line
        the main loop then writes in order."""
        while True:
            await workflow.wait_condition(lambda: bool(self._mails))
            intent = self._mails[0]
            result = await self._send(intent)
            self._mails.popleft()
            self._pending.extend(self._core.mail_outcome(
                intent.step, result.status, result.recipient, result.detail, workflow.now()))

    async def _send(self, intent: SendVisitMail) -> VisitMailResult:
        req = VisitMailRequest(
            visit_id=self._core.input.visit_id, step=intent.step, attempt=intent.attempt,
            workflow_id=workflow.info().workflow_id, at=intent.at, proposal=intent.proposal,
            dates=intent.dates, date=intent.date, deadline=intent.deadline, text=intent.text)
        try:
            return await workflow.execute_activity(
                VisitActivity.SEND_MAIL, req, result_type=VisitMailResult,
                start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=MAIL_RETRY)
        except ActivityError as exc:
            return VisitMailResult(0, "failed", "", f"envoi impossible : {exc.cause or exc}")

    async def _activity(self, name: str, arg: object) -> None:
        await workflow.execute_activity(name, arg, start_to_close_timeout=ACTIVITY_TIMEOUT,
                                        retry_policy=ACTIVITY_RETRY)

    async def _wait_for_work(self) -> None:
        armed = dict(self._timers)
        due = [kind for kind, at in armed.items() if at <= workflow.now()]
        if not due:
            timeout = None
            if armed:
                timeout = (min(armed.values()) - workflow.now()).total_seconds()
            try:
                await workflow.wait_condition(
                    lambda: bool(self._pending) or self._timers != armed
                    or (self._idle() and self._core.done) or self._history_full(),
                    timeout=timeout)
                return
            except TimeoutError:
                due = [kind for kind, at in armed.items() if at <= workflow.now()]
        for kind in sorted(due, key=armed.__getitem__):
            del self._timers[kind]
            self._pending.extend(self._core.timer_fired(kind, workflow.now()))

    def _idle(self) -> bool:
        return not self._pending and not self._mails and workflow.all_handlers_finished()

    def _history_full(self) -> bool:
        limit = self._input.history_limit or HISTORY_LIMIT
        return self._idle() and not self._core.done \
            and workflow.info().get_current_history_length() > limit
