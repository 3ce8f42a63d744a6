"""Phoning a client until someone confirms: retries, the next contact, then e-mail.

A child of the case (``ContactWorkflow``), so that the waits between calls are durable timers
that survive worker restarts, and the case stays free to take its technicians' actions
meanwhile. The flow, for each contact of the plan in order (primary, backup; after-hours
first outside business hours):

* place a call (``place_call``: automated French message, or click-to-call);
* wait for its final status: Twilio's callbacks reach the console, which signals this run
  (``communication``); if no signal comes in time the record is read (a lost signal);
* a person who answered *and* pressed 1 ends the run: the client is reached;
* no answer, busy, voicemail, no keypress: retry after a delay, up to the plan's attempts,
  then the next contact; after the last, the fallback mail is sent.

Every outcome is signalled to the case (``communication``), which writes it on its timeline
and ledger; the run's last signal says ``final``. The case cancels the run when it moves on
(client reached by hand, reclassified, resolved). Deterministic: the plan is read once by an
activity, time is ``workflow.now()`` and durable timers.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from messages.cases import ActivityName
    from messages.comms import (
        CallRequest,
        Channel,
        CommStatus,
        CommStep,
        CommunicationSignal,
        ContactInfo,
        ContactPlan,
        ContactRun,
        ContactRunResult,
        MailRequest,
        PlanRequest,
        SendResult,
    )

# Outcomes after which calling the same contact again is pointless: nothing was placed.
NOT_PLACED = frozenset({CommStatus.DRY_RUN, CommStatus.NO_RECIPIENT, CommStatus.FAILED,
                        CommStatus.UNKNOWN})
# Handed to Twilio, outcome to come (a retried activity may already see it ringing).
WAITING = frozenset({CommStatus.QUEUED, "ringing", "in-progress"})
FINAL_CALL = frozenset({
    CommStatus.CONFIRMED, CommStatus.NO_ANSWER, CommStatus.NO_CONFIRMATION, CommStatus.BUSY,
    CommStatus.VOICEMAIL, CommStatus.FAILED,
})
# Bounded: a relay or Twilio down for long must end in a recorded failure, not a silent wait.
COMMS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)
# A major case's first contact is a person on the phone: the fallback mail does not make it.
PHONE_STILL_DUE = " ; le premier contact (une personne au téléphone) reste à faire"
ROLE_LABELS = {"primary": "contact principal", "backup": "contact de secours",
               "after_hours": "contact d'astreinte"}


@workflow.defn
class ContactWorkflow:
    def __init__(self) -> None:
        self._news: dict[int, CommunicationSignal] = {}

    @workflow.signal
    def communication(self, sig: CommunicationSignal) -> None:
        """A call's final status (from the Twilio callbacks, relayed by the console)."""
        if sig.status in FINAL_CALL and sig.communication_id not in self._news:
            self._news[sig.communication_id] = sig

    @workflow.run
    async def run(self, run: ContactRun) -> ContactRunResult:
        try:
            plan = await workflow.execute_activity(
                ActivityName.PLAN_CONTACTS,
                PlanRequest(run.client_id, workflow.now()),
                result_type=ContactPlan,
                start_to_close_timeout=timedelta(seconds=run.comms_timeout_seconds),
                retry_policy=COMMS_RETRY,
            )
        except ActivityError as exc:  # no plan: the client is still told, by mail
            workflow.logger.warning("contact %s: no calling plan: %s", run.run, exc)
            plan = ContactPlan(contacts=[])
        calls = 0
        for contact in plan.contacts:
            for n in range(1, plan.attempts_per_contact + 1):
                calls += 1
                placed = await self._call(run, plan, contact, calls)
                status, detail = await self._outcome(placed, plan)
                reached = status == CommStatus.CONFIRMED
                last = reached or (
                    run.fallback_step is None and contact == plan.contacts[-1]
                    and n == plan.attempts_per_contact
                )
                who = f"{contact.name} ({ROLE_LABELS.get(contact.role, contact.role)})"
                await self._tell_case(run, CommunicationSignal(
                    communication_id=placed.communication_id,
                    channel=Channel.PHONE,
                    status=status,
                    at=workflow.now(),
                    detail=f"{who}, appel {n}/{plan.attempts_per_contact}"
                    + (f" : {detail}" if detail else ""),
                    step=run.step,
                    recipient=contact.phone,
                    contact_run=run.run,
                    final=last,
                ))
                if reached:
                    return ContactRunResult(True, placed.communication_id, calls)
                if status in NOT_PLACED:
                    break  # the same number again would not do better: next contact
                if n < plan.attempts_per_contact and plan.retry_seconds > 0:
                    await workflow.sleep(timedelta(seconds=plan.retry_seconds))
        if run.fallback_step is None:
            if not plan.contacts:
                await self._tell_case(run, CommunicationSignal(
                    0, Channel.PHONE, CommStatus.NO_RECIPIENT, workflow.now(),
                    "aucun contact du client n'a de numéro de téléphone", run.step,
                    contact_run=run.run, final=True))
            return ContactRunResult(False, None, calls)
        mailed = await self._fallback_mail(run, calls)
        await self._tell_case(run, CommunicationSignal(
            communication_id=mailed.communication_id,
            channel=Channel.EMAIL,
            status=mailed.status,
            at=workflow.now(),
            detail=("aucun contact joint par téléphone" if plan.contacts
                    else "aucun contact du client n'a de numéro de téléphone")
            + f" ; mail de repli{' : ' + mailed.detail if mailed.detail else ''}"
            + (PHONE_STILL_DUE if run.step == CommStep.L1_CALL else ""),
            step=run.fallback_step,
            recipient=mailed.recipient,
            contact_run=run.run,
            final=True,
        ))
        return ContactRunResult(False, mailed.communication_id, calls, mailed.status)

    async def _call(self, run: ContactRun, plan: ContactPlan, contact: ContactInfo,
                    number: int) -> SendResult:
        try:
            return await workflow.execute_activity(
                ActivityName.PLACE_CALL,
                CallRequest(
                    case_id=run.case_id,
                    case_ref=run.case_ref,
                    step=run.step,
                    attempt=f"{run.run}.{number}",
                    workflow_id=workflow.info().workflow_id,
                    at=workflow.now(),
                    contact_id=contact.contact_id,
                    mode=plan.mode,
                    title=run.title,
                    demande_ref=run.demande_ref,
                    text=run.text,
                ),
                result_type=SendResult,
                start_to_close_timeout=timedelta(seconds=run.comms_timeout_seconds),
                retry_policy=COMMS_RETRY,
            )
        except ActivityError as exc:
            return SendResult(0, Channel.PHONE, CommStatus.FAILED, contact.phone,
                              f"appel impossible : {exc.cause or exc}")

    async def _outcome(self, placed: SendResult, plan: ContactPlan) -> tuple[str, str]:
        """The call's final status: by signal, or read from the record when none came."""
        if placed.status not in WAITING:
            return placed.status, placed.detail
        comm_id = placed.communication_id
        try:
            await workflow.wait_condition(lambda: comm_id in self._news,
                                          timeout=timedelta(seconds=plan.answer_wait_seconds))
        except TimeoutError:
            latest = await workflow.execute_activity(
                ActivityName.COMMUNICATION_STATUS,
                comm_id,
                result_type=SendResult,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=COMMS_RETRY,
            )
            if latest.status in FINAL_CALL:
                return latest.status, latest.detail
            return CommStatus.NO_ANSWER, "aucun retour de l'opérateur dans le délai"
        sig = self._news[comm_id]
        return sig.status, sig.detail

    async def _fallback_mail(self, run: ContactRun, calls: int) -> SendResult:
        assert run.fallback_step is not None
        try:
            return await workflow.execute_activity(
                ActivityName.SEND_MAIL,
                MailRequest(
                    case_id=run.case_id,
                    case_ref=run.case_ref,
                    step=run.fallback_step,
                    attempt=run.fallback_attempt,
                    workflow_id=run.case_workflow_id,
                    at=workflow.now(),
                    title=run.title,
                    demande_ref=run.demande_ref,
                    text=run.text,
                    after_calls=calls,
                ),
                result_type=SendResult,
                start_to_close_timeout=timedelta(seconds=run.comms_timeout_seconds),
                retry_policy=COMMS_RETRY,
            )
        except ActivityError as exc:
            return SendResult(0, Channel.EMAIL, CommStatus.FAILED, "",
                              f"mail impossible : {exc.cause or exc}")

    async def _tell_case(self, run: ContactRun, sig: CommunicationSignal) -> None:
        """The case writes it on its timeline; a case already gone (closed) cannot, and the
        record in the database still holds the evidence."""
        try:
            await workflow.get_external_workflow_handle(run.case_workflow_id).signal(
                "communication", sig)
        except Exception as exc:  # the case ended meanwhile
            workflow.logger.warning("contact %s: case %s not told: %s", run.run,
                                    run.case_workflow_id, exc)
