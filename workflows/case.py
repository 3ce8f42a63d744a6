"""One alert case as a durable Temporal workflow: the single source of truth for its state.

The rules live in :mod:`workflows.case_machine`; this module only feeds it events (signals from
the intake, updates from technicians, its own timers) and carries out the intents it returns,
in order, as activities and timers. One queue of intents, drained under one lock, so that two
handlers never interleave their side effects (Temporal's ``safe_message_handlers`` pattern),
and the ledger lines reach the database in ``seq`` order.

Client communication: mails and SMS the core asks for go through a queue of their own, sent
one by one by a background task outside the lock, so a slow relay never holds a technician's
update; their outcome comes back to the core like any signal. Calls run in a child
``ContactWorkflow`` (retries, next contact, e-mail fallback), started by id from the case
reference with ``ABANDON`` as parent-close policy so it outlives a continue-as-new; it reports
each outcome by signal, and the case cancels it by id when it moves on.

Timers follow the ``updatable_timer`` pattern: the main loop waits on a condition with the
earliest armed deadline as timeout, and starts over whenever the armed set changes. The level-1
deadline is business time (``domain.calendar``); auto-close is plain hours.

Search attributes (``messages.search``: case reference, client code, class, state) are
upserted as they change, so a person finds the case in the Temporal UI. Changes that alter
the command sequence go behind ``workflow.patched`` (the search attributes, the first
person's assignment), so the histories in tests/histories/ replay unchanged.

The opening path (issue 24): a run whose input carries ``path`` (``CASE_PATH``, set by the
router) was started by code that has every patch of this module, and takes their new
branch without asking ``workflow.patched``: no marker and no ``TemporalChangeVersion``
upsert per patch. Its client code, class and state come with the start, so a new case costs
one workflow task: the opening local activity's marker and one upsert of its reference.
Runs started without it (recorded histories, older starters) ask as before.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain.calendar import calendar_for
    from messages import search
    from messages.cases import (
        ActionInput,
        ActionResult,
        ActivityName,
        AlertSignal,
        AuditInput,
        CaseInput,
        CaseSnapshot,
        CaseState,
        CaseView,
        ClientReplySignal,
        DemandeInput,
        DemandeResult,
        LinkEventInput,
        OpenCaseInput,
        OpenCaseResult,
        OpeningInput,
        TransferInput,
    )
    from messages.comms import (
        Channel,
        CommStatus,
        CommStep,
        CommunicationSignal,
        ContactRun,
        MailRequest,
        SendResult,
        SmsRequest,
        contact_workflow_id,
    )
    from workflows.case_machine import (
        TIMER_AUTO_CLOSE,
        TIMER_L1,
        Audit,
        CancelAutoCloseTimer,
        CancelContact,
        CancelL1Timer,
        CaseCore,
        Intent,
        LinkEvent,
        RegisterDemande,
        SaveSnapshot,
        SendMessage,
        StartAutoCloseTimer,
        StartContact,
        StartL1Timer,
        TransferToL2,
        policy_for,
    )

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Database activities are idempotent, so retrying until the database is back is always safe.
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
# A message is retried a few times only: a relay or Twilio down for long must end in a failure
# on the timeline (the technician then acts), not in a case waiting forever.
COMMS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)
CONTACT_WORKFLOW = "ContactWorkflow"
# Patches (``workflow.patched``): runs recorded before them replay the old commands.
# One local activity opens the case (row, first ledger lines, projection, event link).
OPEN_AT_ONCE = "open-case-at-once"
# The short database steps of a running case (ledger, projection, links, Demande) run as
# local activities: no round trip through the task queue and the history per step.
LOCAL_DB_STEPS = "local-db-steps"
# Intents the opening transaction can carry (they only write rows of this case).
OPENING_INTENTS = (Audit, SaveSnapshot, LinkEvent)
INVALID_ACTION = "InvalidAction"
# workflow.patched() ids: histories recorded before each change replay without it.
PATCH_AUTO_ASSIGN = "case-auto-assign-1"
# A problem older than the case's last recovery is a late arrival, not a repeat (issue 21).
PATCH_OCCURRENCE_ORDER = "case-occurrence-order-1"


@workflow.defn
class CaseWorkflow:
    """A case from its first alert to its closure; it continues as new when history grows."""

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        """Decide what opening means before any handler runs (signal-with-start delivers the
        first alert right away); the ``open_case`` activity itself runs in :meth:`run`."""
        self._input = inp
        policy = policy_for(
            inp, calendar_for(inp.timezone, inp.business_start, inp.business_end)
        )
        if inp.carried_state is None:
            self._core, intents = CaseCore.open(inp, policy)
        else:
            self._core, intents = CaseCore.resume(inp, inp.carried_state, policy)
        self._pending: deque[Intent] = deque(intents)
        self._lock = asyncio.Lock()
        self._timers: dict[str, datetime] = {}
        self._opened = inp.carried_state is not None
        self._comms: deque[SendMessage] = deque()  # sent in order by _send_messages
        carried = inp.carried_state
        self._client_code = carried.client_code if carried is not None else ""
        # search attributes last upserted, or given at start (new path: the router's)
        self._searchable: dict[str, str] = (
            search.known(workflow.info().typed_search_attributes) if inp.path else {})

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseView:
        if not self._opened:
            info = workflow.info()
            if inp.open_in_one_step and self._patched(OPEN_AT_ONCE):
                case = await self._open_at_once(inp)
            else:
                case = await workflow.execute_activity(
                    ActivityName.OPEN_CASE,
                    OpenCaseInput(info.workflow_id, info.first_execution_run_id, inp),
                    result_type=OpenCaseResult,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                )
            self._core.opened(case.case_id, case.ref)
            self._client_code = case.client_code
            self._opened = True
        self._upsert_search_attributes()
        # Lives as long as the run, which ends only when nothing is left to send.
        self._sender = asyncio.create_task(self._send_messages())
        while True:
            async with self._lock:
                await self._drain()
            if self._idle() and self._core.state == CaseState.CLOSED:
                return self._core.view()
            if self._idle() and self._history_is_long():
                carried = replace(self._core.carry(), client_code=self._client_code)
                workflow.continue_as_new(replace(inp, carried_state=carried))
            await self._wait_for_work()

    async def _open_at_once(self, inp: CaseInput) -> OpenCaseResult:
        """The leading ledger lines, projection and event links the core decided at opening
        (signal-with-start has already delivered the opening alert) go with the case row in
        one local activity, instead of four activities one after the other."""
        lines: list[AuditInput] = []
        snapshot: CaseSnapshot | None = None
        event_ids: list[int] = []
        now = workflow.now()
        while self._pending and isinstance(self._pending[0], OPENING_INTENTS):
            intent = self._pending.popleft()
            match intent:
                case Audit():
                    lines.append(self._audit_input(0, intent))
                case SaveSnapshot():
                    snapshot = self._snapshot_input(0, intent, now)  # the last one wins
                case LinkEvent():
                    event_ids.append(intent.event_id)
        info = workflow.info()
        return await workflow.execute_local_activity(
            ActivityName.OPEN_CASE_AT_ONCE,
            OpeningInput(info.workflow_id, info.first_execution_run_id, inp, lines, snapshot,
                         event_ids),
            result_type=OpenCaseResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )

    # --- signals from the intake, the mail relay and the phone provider ---------------------

    @workflow.signal
    def alert(self, sig: AlertSignal) -> None:
        """A repeat or a recovery of the case's problem (the router's signal-with-start)."""
        self._pending.extend(
            self._core.alert(sig, lambda: self._patched(PATCH_OCCURRENCE_ORDER)))

    @workflow.signal
    def communication(self, sig: CommunicationSignal) -> None:
        """Delivery news about a communication sent to the client (Twilio callbacks relayed by
        the console, outcomes reported by the contact run)."""
        self._pending.extend(self._core.communication(sig))

    @workflow.signal
    def client_reply(self, sig: ClientReplySignal) -> None:
        """A client's answer quoting the case reference (mail through the intake)."""
        self._pending.extend(self._core.client_reply(sig))

    # --- technicians' actions: each refused early by its validator, with the reason ---------

    @workflow.update
    async def classify(self, inp: ActionInput) -> ActionResult:
        return await self._act("classify", inp)

    @classify.validator
    def _check_classify(self, inp: ActionInput) -> None:
        self._validate("classify", inp)

    @workflow.update
    async def add_note(self, inp: ActionInput) -> ActionResult:
        return await self._act("add_note", inp)

    @add_note.validator
    def _check_add_note(self, inp: ActionInput) -> None:
        self._validate("add_note", inp)

    @workflow.update
    async def record_contact(self, inp: ActionInput) -> ActionResult:
        return await self._act("record_contact", inp)

    @record_contact.validator
    def _check_record_contact(self, inp: ActionInput) -> None:
        self._validate("record_contact", inp)

    @workflow.update
    async def send_instructions(self, inp: ActionInput) -> ActionResult:
        """Instructions to the client (``text``) by ``channel``: email, sms or phone (an
        automated call reading them, retried, then the same text by mail)."""
        return await self._act("send_instructions", inp)

    @send_instructions.validator
    def _check_send_instructions(self, inp: ActionInput) -> None:
        self._validate("send_instructions", inp)

    @workflow.update
    async def register_demande(self, inp: ActionInput) -> ActionResult:
        return await self._act("register_demande", inp)

    @register_demande.validator
    def _check_register_demande(self, inp: ActionInput) -> None:
        self._validate("register_demande", inp)

    @workflow.update
    async def start_l1(self, inp: ActionInput) -> ActionResult:
        return await self._act("start_l1", inp)

    @start_l1.validator
    def _check_start_l1(self, inp: ActionInput) -> None:
        self._validate("start_l1", inp)

    @workflow.update
    async def escalate_l2(self, inp: ActionInput) -> ActionResult:
        return await self._act("escalate_l2", inp)

    @escalate_l2.validator
    def _check_escalate_l2(self, inp: ActionInput) -> None:
        self._validate("escalate_l2", inp)

    @workflow.update
    async def resolve(self, inp: ActionInput) -> ActionResult:
        return await self._act("resolve", inp)

    @resolve.validator
    def _check_resolve(self, inp: ActionInput) -> None:
        self._validate("resolve", inp)

    @workflow.update
    async def close(self, inp: ActionInput) -> ActionResult:
        return await self._act("close", inp)

    @close.validator
    def _check_close(self, inp: ActionInput) -> None:
        self._validate("close", inp)

    @workflow.update
    async def reopen(self, inp: ActionInput) -> ActionResult:
        return await self._act("reopen", inp)

    @reopen.validator
    def _check_reopen(self, inp: ActionInput) -> None:
        self._validate("reopen", inp)

    @workflow.update
    async def assign(self, inp: ActionInput) -> ActionResult:
        return await self._act("assign", inp)

    @assign.validator
    def _check_assign(self, inp: ActionInput) -> None:
        self._validate("assign", inp)

    @workflow.query
    def view(self) -> CaseView:
        """State, class, guided steps and the whole timeline, as the console shows them."""
        return replace(self._core.view(), messages_pending=len(self._comms))

    # --- internals ---------------------------------------------------------------------------

    def _validate(self, action: str, inp: ActionInput) -> None:
        """Refuse before the update is even written to history (nothing to replay)."""
        reason = self._core.check(action, inp)
        if reason is not None:
            raise ApplicationError(reason, type=INVALID_ACTION, non_retryable=True)

    async def _act(self, action: str, inp: ActionInput) -> ActionResult:
        """Decide and carry out under the lock; answer once the side effects are done, so a
        technician who is told "accepted" can rely on the Demande, ledger and projection."""
        async with self._lock:
            # Checked again: another handler may have changed the case since validation.
            self._validate(action, inp)
            auto_assign = self._patched(PATCH_AUTO_ASSIGN)
            self._pending.extend(
                self._core.act(action, inp, workflow.now(), auto_assign=auto_assign))
            await self._drain()
        view = self._core.view()
        message = f"État : {view.state}"
        if action == "register_demande" and view.demande_ref:
            message = f"Demande {view.demande_ref} enregistrée"
        return ActionResult(accepted=True, state=view.state, message=message)

    async def _drain(self) -> None:
        """Carry out pending intents in order; the caller holds the lock."""
        await workflow.wait_condition(lambda: self._opened)  # ledger lines need the case id
        while self._pending:
            intent = self._pending.popleft()
            follow_up = await self._execute(intent)
            self._pending.extendleft(reversed(follow_up))

    async def _execute(self, intent: Intent) -> list[Intent]:
        """One intent; returns what the core decides from its answer (only a Demande has one)."""
        case_id = self._core.model.case_id
        assert case_id is not None
        match intent:
            case Audit():
                await self._activity(ActivityName.APPEND_AUDIT,
                                     self._audit_input(case_id, intent))
            case SaveSnapshot():
                await self._activity(ActivityName.SAVE_CASE,
                                     self._snapshot_input(case_id, intent, workflow.now()))
                self._upsert_search_attributes()
            case LinkEvent():
                await self._activity(
                    ActivityName.LINK_EVENT, LinkEventInput(case_id, intent.event_id)
                )
            case RegisterDemande():
                demande = DemandeInput(
                    case_id=case_id,
                    actor=intent.actor,
                    at=intent.at,
                    summary=intent.summary,
                    external_ref=intent.external_ref,
                )
                if self._local_db_steps():
                    result = await workflow.execute_local_activity(
                        ActivityName.REGISTER_DEMANDE, demande, result_type=DemandeResult,
                        start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY)
                else:
                    result = await workflow.execute_activity(
                        ActivityName.REGISTER_DEMANDE, demande, result_type=DemandeResult,
                        start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY)
                return self._core.demande_registered(intent, result.ref)
            case TransferToL2():
                await self._activity(
                    ActivityName.TRANSFER_TO_LEVEL2,
                    TransferInput(
                        case_id=case_id,
                        demande_ref=intent.demande_ref,
                        at=intent.at,
                        by=intent.by,
                        reason=intent.reason,
                    ),
                )
            case SendMessage():
                self._comms.append(intent)  # sent by _send_messages, outside the lock
            case StartContact():
                await self._start_contact(intent, case_id)
            case CancelContact():
                ref = self._core.model.ref or str(case_id)
                try:
                    await workflow.get_external_workflow_handle(
                        contact_workflow_id(ref, intent.run)).cancel()
                except Exception as exc:  # it had just finished by itself
                    workflow.logger.info("contact run %s not cancelled: %s", intent.run, exc)
            case StartL1Timer():
                self._timers[TIMER_L1] = intent.deadline
            case CancelL1Timer():
                self._timers.pop(TIMER_L1, None)
            case StartAutoCloseTimer():
                self._timers[TIMER_AUTO_CLOSE] = intent.at
            case CancelAutoCloseTimer():
                self._timers.pop(TIMER_AUTO_CLOSE, None)
        return []

    def _upsert_search_attributes(self) -> None:
        """Keep ``CaseRef``, ``ClientCode``, ``Criticality`` and ``CaseState`` current, so
        the case can be found in the Temporal UI; only what changed is upserted."""
        model = self._core.model
        if model.ref is None or not self._patched(search.PATCH):
            return
        wanted = {
            search.CASE_REF.name: model.ref,
            search.CLIENT_CODE.name: self._client_code,
            search.CRITICALITY.name: self._core.criticality or "",
            search.CASE_STATE.name: self._core.state,
        }
        updates = [
            key.value_set(wanted[key.name]) if wanted[key.name] else key.value_unset()
            for key in search.KEYS
            if self._searchable.get(key.name) != wanted[key.name]
        ]
        if updates:
            workflow.upsert_search_attributes(updates)
            self._searchable = wanted

    async def _start_contact(self, intent: StartContact, case_id: int) -> None:
        ref = self._core.model.ref or str(case_id)
        try:
            await workflow.start_child_workflow(
                CONTACT_WORKFLOW,
                ContactRun(
                    case_id=case_id,
                    case_ref=ref,
                    case_workflow_id=workflow.info().workflow_id,
                    client_id=self._input.client_id,
                    step=intent.step,
                    run=intent.run,
                    title=self._input.title,
                    demande_ref=self._core.model.demande_ref,
                    text=intent.text,
                    fallback_step=intent.fallback_step,
                    fallback_attempt=intent.fallback_attempt,
                    comms_timeout_seconds=self._input.comms_timeout_seconds,
                ),
                id=contact_workflow_id(ref, intent.run),
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
        except WorkflowAlreadyStartedError:
            # the same run id is already calling (a stale run of a reused reference): its
            # news still reaches the case by signal; never start a second caller
            workflow.logger.warning("contact run %s already running", intent.run)

    async def _send_messages(self) -> None:
        """Send queued mails and SMS one at a time; each outcome goes to the core, whose
        ledger line the main loop then writes in order."""
        while True:
            await workflow.wait_condition(lambda: bool(self._comms))
            intent = self._comms[0]
            result = await self._send(intent)
            self._comms.popleft()
            self._pending.extend(self._core.communication(CommunicationSignal(
                communication_id=result.communication_id,
                channel=result.channel,
                status=result.status,
                at=workflow.now(),
                detail=result.detail,
                step=intent.step,
                recipient=result.recipient,
            )))

    async def _send(self, intent: SendMessage) -> SendResult:
        case_id = self._core.model.case_id
        assert case_id is not None
        ref = self._core.model.ref or ""
        common = {
            "case_id": case_id,
            "case_ref": ref,
            "step": intent.step,
            "attempt": intent.attempt,
            "workflow_id": workflow.info().workflow_id,
            "at": intent.at,
        }
        if intent.channel == Channel.SMS:
            name, arg = ActivityName.SEND_SMS, SmsRequest(**common, text=intent.text)
        else:
            name, arg = ActivityName.SEND_MAIL, MailRequest(
                **common,
                title=self._input.title,
                demande_ref=self._core.model.demande_ref,
                text=intent.text,
                to_level2=intent.step == CommStep.L2_HANDOVER,
            )
        try:
            return await workflow.execute_activity(
                name,
                arg,
                result_type=SendResult,
                start_to_close_timeout=timedelta(seconds=self._input.comms_timeout_seconds),
                retry_policy=COMMS_RETRY,
            )
        except ActivityError as exc:
            return SendResult(0, intent.channel, CommStatus.FAILED, "",
                              f"envoi impossible : {exc.cause or exc}")

    def _audit_input(self, case_id: int, intent: Audit) -> AuditInput:
        return AuditInput(
            case_id=case_id,
            seq=intent.seq,
            at=intent.at,
            action=intent.action,
            actor=intent.actor,
            from_state=intent.from_state,
            to_state=intent.to_state,
            reason=intent.reason,
            data=intent.data,
            policy_version=self._input.policy_version,
        )

    @staticmethod
    def _snapshot_input(case_id: int, intent: SaveSnapshot, at: datetime) -> CaseSnapshot:
        return CaseSnapshot(
            case_id=case_id,
            state=intent.state,
            criticality=intent.criticality,
            repeat_count=intent.repeat_count,
            last_seen=intent.last_seen,
            recovered=intent.recovered,
            assignee=intent.assignee,
            demande_ref=intent.demande_ref,
            l1_deadline=intent.l1_deadline,
            updated_at=at,
        )

    def _local_db_steps(self) -> bool:
        """Idempotent single-transaction steps, retried by the worker itself: safe as local
        activities. Older runs (and the legacy switch) keep regular activities."""
        return self._input.open_in_one_step and self._patched(LOCAL_DB_STEPS)

    def _patched(self, patch_id: str) -> bool:
        """``workflow.patched``, except on a run started on the new path (``CaseInput.path``):
        its starter had every patch above, so their new branch is taken without a marker,
        and the marker can never land in another workflow task than the code expects (the
        TMPRL1100 of a first task split by its local activity)."""
        return bool(self._input.path) or workflow.patched(patch_id)

    async def _activity(self, name: ActivityName, arg: object) -> None:
        if self._local_db_steps():
            await workflow.execute_local_activity(
                name, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY
            )
            return
        await workflow.execute_activity(
            name, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY
        )

    async def _wait_for_work(self) -> None:
        """Sleep until a handler queues intents, the armed timers change, one falls due, or
        the run may end; a due timer hands its event to the core."""
        armed = dict(self._timers)
        due = [kind for kind, at in armed.items() if at <= workflow.now()]
        if not due:
            timeout = None
            if armed:
                timeout = (min(armed.values()) - workflow.now()).total_seconds()
            try:
                await workflow.wait_condition(
                    lambda: bool(self._pending)
                    or self._timers != armed
                    or (self._idle() and self._may_end()),
                    timeout=timeout,
                )
                return
            except TimeoutError:
                due = [kind for kind, at in armed.items() if at <= workflow.now()]
        for kind in sorted(due, key=armed.__getitem__):
            del self._timers[kind]
            self._pending.extend(self._core.timer_fired(kind))

    def _idle(self) -> bool:
        return not self._pending and not self._comms and workflow.all_handlers_finished()

    def _may_end(self) -> bool:
        return self._core.state == CaseState.CLOSED or self._history_is_long()

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self._input.max_history_events
        )
