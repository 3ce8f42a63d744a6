"""A contract's end as a durable Temporal workflow: the 20-day notice, or at once.

The rules live in :mod:`workflows.termination_machine`; this module feeds it the
``remedied`` signal and its own timers (``updatable_timer`` pattern: wait on a condition
with the earliest armed deadline as timeout), and carries out the intents in order as
activities. The notice timer is a durable Temporal timer: a worker down on day 20 terminates
the contract when it comes back, with the time the timer fired.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from messages.contracts import (
        INVALID,
        CancelOnboarding,
        CancelVisitsInput,
        ContractActivity,
        EraseInput,
        EventInput,
        Remedied,
        StatusInput,
        StopInput,
        TerminationInput,
        TerminationView,
    )
    from workflows.onboarding_machine import Record, SetStatus
    from workflows.termination_machine import (
        ArmTimer,
        CancelVisits,
        DisarmTimer,
        Erase,
        Intent,
        StopMonitoring,
        TerminationCore,
    )

ACTIVITY_TIMEOUT = timedelta(seconds=60)
ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=1))
# Cancelling visits talks to other workflows: give it room, still retried until done.
VISITS_TIMEOUT = timedelta(minutes=5)
# The client's open cases are closed (or listed to hand over) before its visits are
# cancelled; histories recorded before this step replay without it.
PATCH_CLOSE_CASES = "termination-close-cases-1"


@workflow.defn
class TerminationWorkflow:
    """One formal notice (or immediate termination) of one contract, to its last effect."""

    @workflow.init
    def __init__(self, inp: TerminationInput) -> None:
        self._input = inp
        self._core = TerminationCore(inp)
        self._pending: deque[Intent] = deque()
        self._timers: dict[str, datetime] = {}
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, inp: TerminationInput) -> TerminationView:
        refused = TerminationCore.validate_input(inp)
        if refused is not None:
            raise ApplicationError(refused, type=INVALID, non_retryable=True)
        self._pending.extend(self._core.start(workflow.now()))
        while True:
            async with self._lock:
                await self._drain()
            if self._core.finished and not self._pending and workflow.all_handlers_finished():
                return self._core.view()
            await self._wait()

    @workflow.signal
    def remedied(self, r: Remedied) -> None:
        """The breach was remedied: the notice stops and the contract is active again."""
        refused = self._core.check_remedy(r.actor)
        if refused is not None:
            workflow.logger.info("remedied ignored: %s", refused)
            return
        self._pending.extend(self._core.remedy(r.actor, r.reason, workflow.now()))

    @workflow.query
    def view(self) -> TerminationView:
        return self._core.view()

    async def _wait(self) -> None:
        armed = dict(self._timers)
        due = [k for k, at in armed.items() if at <= workflow.now()]
        if not due:
            timeout = None
            if armed:
                timeout = (min(armed.values()) - workflow.now()).total_seconds()
            try:
                await workflow.wait_condition(
                    lambda: bool(self._pending) or self._timers != armed, timeout=timeout)
                return
            except TimeoutError:
                due = [k for k, at in armed.items() if at <= workflow.now()]
        for kind in sorted(due, key=armed.__getitem__):
            del self._timers[kind]
            self._pending.extend(self._core.timer_fired(kind, workflow.now()))

    async def _drain(self) -> None:
        while self._pending:
            await self._execute(self._pending.popleft())

    async def _execute(self, intent: Intent) -> None:
        inp = self._input
        wid = workflow.info().workflow_id
        match intent:
            case Record():
                await self._activity(ContractActivity.EVENT, EventInput(
                    inp.contract_id, f"{wid}:{intent.seq}", intent.at,
                    "termination_" + intent.action, intent.actor, intent.reason,
                    dict(intent.data)))
            case SetStatus():
                view = self._core.view()
                await self._activity(ContractActivity.SET_STATUS, StatusInput(
                    inp.contract_id, intent.status, f"{wid}:status:{intent.status}", intent.at,
                    intent.actor, intent.reason,
                    terminated=intent.status == "terminated",
                    notice_received_on=inp.received_on,
                    notice_effective_at=view.effective_at,
                    notice_workflow_id=wid))
            case ArmTimer():
                self._timers[intent.kind] = intent.at
            case DisarmTimer():
                self._timers.pop(intent.kind, None)
            case StopMonitoring():
                await self._activity(ContractActivity.STOP_MONITORING, StopInput(
                    inp.contract_id, inp.client_id, intent.actor, intent.at))
                try:  # an onboarding still running ends with the contract
                    await workflow.get_external_workflow_handle(
                        f"contract-onboarding-{inp.contract_id}").signal(
                        "cancel", CancelOnboarding(intent.actor, "contrat résilié"))
                except Exception as exc:  # already finished: nothing to cancel
                    workflow.logger.info("onboarding not signalled: %s", exc)
            case CancelVisits():
                ending = CancelVisitsInput(inp.contract_id, inp.client_id, intent.actor,
                                           intent.reason, intent.at)
                if workflow.patched(PATCH_CLOSE_CASES):
                    await self._others(ContractActivity.CLOSE_CASES, ending, list[str])
                await self._others(ContractActivity.CANCEL_VISITS, ending, list[int])
            case Erase():
                await self._activity(ContractActivity.ERASE, EraseInput(
                    inp.contract_id, inp.client_id, intent.actor, intent.at))

    async def _others(self, name: str, arg: object, result_type: type) -> None:
        """An activity that talks to other workflows (cases, visits): more room, still
        retried until done."""
        await workflow.execute_activity(name, arg, result_type=result_type,
                                        start_to_close_timeout=VISITS_TIMEOUT,
                                        retry_policy=ACTIVITY_RETRY)

    async def _activity(self, name: str, arg: object) -> None:
        await workflow.execute_activity(name, arg, start_to_close_timeout=ACTIVITY_TIMEOUT,
                                        retry_policy=ACTIVITY_RETRY)
