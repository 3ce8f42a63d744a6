"""A client's onboarding as a durable Temporal workflow (3.1, 3.2.1).

The rules live in :mod:`workflows.onboarding_machine`; this module feeds it events (the
planner's duration decision, the activation request, a cancellation) and carries out the
intents it returns, in order, as activities, under one lock (Temporal's
``safe_message_handlers`` pattern). Activation asks the checklist at the moment it is
requested: a refused activation changes nothing and says which items are open.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from messages.contracts import (
        INVALID,
        ActionDone,
        Activate,
        CancelOnboarding,
        ContractActivity,
        ContractFacts,
        DecideDuration,
        DocumentInput,
        EventInput,
        ExpectationsInput,
        OnboardingInput,
        OnboardingView,
        ScheduleInput,
        SizingDecision,
        StatusInput,
    )
    from workflows.onboarding_machine import (
        CreateDocument,
        Intent,
        OnboardingCore,
        OpenEntitlement,
        PlanSensors,
        Record,
        SaveSizing,
        ScheduleVisit,
        SetStatus,
        SetUpExpectations,
    )

ACTIVITY_TIMEOUT = timedelta(seconds=60)
# Database activities are idempotent: retrying until the database is back is always safe.
ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=1))


@workflow.defn
class OnboardingWorkflow:
    """From the signed contract to the service in operation; ends once active or cancelled."""

    @workflow.init
    def __init__(self, inp: OnboardingInput) -> None:
        self._input = inp
        self._core = OnboardingCore()
        self._pending: deque[Intent] = deque()
        self._lock = asyncio.Lock()
        self._started = False

    @workflow.run
    async def run(self, inp: OnboardingInput) -> OnboardingView:
        facts = await workflow.execute_activity(
            ContractActivity.FACTS, inp.contract_id, result_type=ContractFacts,
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY)
        async with self._lock:
            self._pending.extend(self._core.start(facts, workflow.now(), inp.actor))
            await self._drain()
            self._started = True
        await workflow.wait_condition(
            lambda: self._core.finished and not self._pending
            and workflow.all_handlers_finished())
        return self._core.view()

    # --- people ----------------------------------------------------------------------------

    @workflow.update
    async def decide_duration(self, d: DecideDuration) -> ActionDone:
        """A planner sets the on-site length of a size the contract does not cover."""
        async with self._lock:
            self._refuse(self._core.check("decide", d.actor, d.days))
            self._pending.extend(self._core.decide(d.actor, d.days, d.reason, workflow.now()))
            await self._drain()
        return ActionDone(True, self._core.state, f"Durée retenue : {d.days} jour(s)")

    @decide_duration.validator
    def _check_decide(self, d: DecideDuration) -> None:
        self._refuse(self._core.check("decide", d.actor, d.days))

    @workflow.update
    async def activate(self, a: Activate) -> ActionDone:
        """Start the service; refused while a mandatory prerequisite is open (3.1)."""
        async with self._lock:
            self._refuse(self._core.check("activate", a.actor))
            blockers = await workflow.execute_activity(
                ContractActivity.BLOCKERS, self._input.contract_id, result_type=list[str],
                start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY)
            self._refuse(self._core.activation_refusal(a.actor, blockers))
            self._pending.extend(self._core.activate(a.actor, blockers, workflow.now()))
            await self._drain()
        return ActionDone(True, self._core.state, "Contrat en service")

    @activate.validator
    def _check_activate(self, a: Activate) -> None:
        self._refuse(self._core.check("activate", a.actor))

    @workflow.signal
    async def cancel(self, c: CancelOnboarding) -> None:
        """The contract ended before the service started (termination workflow)."""
        await workflow.wait_condition(lambda: self._started)
        async with self._lock:
            if self._core.check("cancel", c.actor) is None:
                self._pending.extend(self._core.cancel(c.actor, c.reason, workflow.now()))
                await self._drain()

    @workflow.query
    def view(self) -> OnboardingView:
        return self._core.view()

    # --- internals -------------------------------------------------------------------------

    @staticmethod
    def _refuse(reason: str | None) -> None:
        if reason is not None:
            raise ApplicationError(reason, type=INVALID, non_retryable=True)

    async def _drain(self) -> None:
        while self._pending:
            intent = self._pending.popleft()
            self._pending.extendleft(reversed(await self._execute(intent)))

    async def _execute(self, intent: Intent) -> list[Intent]:
        inp = self._input
        wid = workflow.info().workflow_id
        match intent:
            case Record():
                await self._activity(ContractActivity.EVENT, EventInput(
                    inp.contract_id, f"{wid}:{intent.seq}", intent.at, "onboarding_" +
                    intent.action, intent.actor, intent.reason, dict(intent.data)))
            case SaveSizing():
                await self._activity(ContractActivity.SAVE_SIZING, SizingDecision(
                    inp.contract_id, intent.days, intent.rule, intent.decided_by))
            case ScheduleVisit():
                visit_id = await workflow.execute_activity(
                    ContractActivity.SCHEDULE_ONBOARDING,
                    ScheduleInput(inp.contract_id, inp.client_id, intent.days),
                    result_type=int, start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY)
                return self._core.scheduled(visit_id, workflow.now())
            case PlanSensors():
                await self._activity(ContractActivity.PLAN_SENSORS, inp.contract_id)
            case CreateDocument():
                await self._activity(ContractActivity.TECHNICAL_DOCUMENT,
                                     DocumentInput(inp.contract_id, inp.client_id, intent.actor))
            case SetUpExpectations():
                await self._activity(ContractActivity.EXPECTATIONS,
                                     ExpectationsInput(inp.contract_id, inp.client_id,
                                                       intent.actor))
            case OpenEntitlement():
                await self._activity(ContractActivity.ENTITLEMENT,
                                     ExpectationsInput(inp.contract_id, inp.client_id,
                                                       intent.actor))
            case SetStatus():
                await self._activity(ContractActivity.SET_STATUS, StatusInput(
                    inp.contract_id, intent.status, f"{wid}:status:{intent.status}", intent.at,
                    intent.actor, intent.reason, activated=True))
        return []

    async def _activity(self, name: str, arg: object) -> None:
        await workflow.execute_activity(name, arg, start_to_close_timeout=ACTIVITY_TIMEOUT,
                                        retry_policy=ACTIVITY_RETRY)
