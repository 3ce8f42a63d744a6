"""The case and its contact runs on Temporal's time-skipping server, with recording fakes:
calls retried then the next contact then e-mail, durable waits, cancellation, SMS news."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from messages.cases import ActivityName, Criticality
from messages.comms import (
    CallRequest,
    Channel,
    CommStatus,
    CommunicationSignal,
    MailRequest,
    SmsRequest,
    contact_workflow_id,
)
from tests.workflow_fixtures import (
    BACKUP,
    PRIMARY,
    Desk,
    RecordingActivities,
    major_case_confirmed_on_the_phone,
    start_test_env,
)


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await start_test_env()
    yield environment
    await environment.shutdown()


@pytest.fixture
async def desk(env: WorkflowEnvironment) -> AsyncIterator[Desk]:
    ref = f"VIG-{uuid.uuid4().int % 10**6:06d}"
    desk = Desk(env, RecordingActivities(case_ref=ref, call_status=CommStatus.QUEUED,
                                         contacts=[PRIMARY, BACKUP], attempts_per_contact=2))
    async with desk.worker():
        yield desk
        await desk.terminate_running()


def comm_lines(view) -> list[tuple[str, str, str]]:
    return [(e.data.get("step", ""), e.data["status"], e.data.get("recipient", ""))
            for e in view.timeline if e.action == "communication"]


async def answer(desk: Desk, call: int, status: str) -> None:
    """Twilio's final status for the ``call``-th call, as the console relays it."""
    await desk.until_called(call)
    run = desk.client.get_workflow_handle(contact_workflow_id(desk.acts.case_ref, 1))
    await run.signal("communication", CommunicationSignal(
        desk.acts.placed_ids[call - 1], Channel.PHONE, status, await desk.now()))


async def major(desk: Desk):
    handle = await desk.open()
    await desk.act(handle, "classify", criticality=Criticality.MAJOR)
    await desk.act(handle, "register_demande")
    return handle


async def test_nobody_answers_the_calls_so_the_client_is_mailed(desk: Desk) -> None:
    """Primary: no answer, then busy after the retry delay; backup: voicemail, then a person
    who never presses 1; then the fallback mail. Every outcome is on the case's timeline."""
    handle = await major(desk)
    for call, status in enumerate(
            ("no_answer", "busy", "voicemail", "no_confirmation"), start=1):
        await answer(desk, call, status)
    view = await desk.until(handle, lambda v: v.contact_active is None)
    assert comm_lines(view) == [
        ("l1_call", "no_answer", PRIMARY.phone), ("l1_call", "busy", PRIMARY.phone),
        ("l1_call", "voicemail", BACKUP.phone), ("l1_call", "no_confirmation", BACKUP.phone),
        ("l1_call_fallback", "sent", "paul@client.example")]
    assert view.state == "demande_registered"  # a major case still needs a person on the line
    calls: list[CallRequest] = desk.acts.of(ActivityName.PLACE_CALL)
    assert [(c.contact_id, c.attempt) for c in calls] == [
        (1, "1.1"), (1, "1.2"), (2, "1.3"), (2, "1.4")]
    assert {c.workflow_id for c in calls} == {contact_workflow_id(desk.acts.case_ref, 1)}
    (mail,) = desk.acts.of(ActivityName.SEND_MAIL)
    assert isinstance(mail, MailRequest)
    assert (mail.step, mail.attempt, mail.after_calls) == ("l1_call_fallback", "1", 4)
    first, second = [e for e in view.timeline if e.action == "communication"][:2]
    assert second.at - first.at >= timedelta(seconds=60)  # the durable retry delay
    assert "Paul Petit (contact principal), appel 2/2" in second.reason


async def test_a_confirmed_call_on_the_backup_sets_up_the_diagnosis(env: WorkflowEnvironment
                                                                    ) -> None:
    desk = Desk(env, RecordingActivities(case_ref=f"VIG-{uuid.uuid4().int % 10**6:06d}"))
    async with desk.worker():
        handle = await major_case_confirmed_on_the_phone(desk)
    final = await handle.result()
    assert [(s, st) for s, st, _ in comm_lines(final)] == [
        ("l1_call", "no_answer"), ("l1_call", "confirmed"), ("resolution", "sent")]
    called = next(e for e in final.timeline if e.to_state == "client_called")
    assert (called.action, called.data["outcome"], called.data["recipient"]) == (
        "communication", "reached", BACKUP.phone)
    assert [m.step for m in desk.acts.of(ActivityName.SEND_MAIL)] == ["resolution"]


async def test_a_lost_callback_is_read_from_the_record(desk: Desk) -> None:
    desk.acts.attempts_per_contact = 1
    handle = await major(desk)
    await desk.until_called(1)
    desk.acts.statuses[desk.acts.placed_ids[0]] = CommStatus.BUSY  # only in the database
    await desk.env.sleep(timedelta(seconds=700))  # past the wait for Twilio's callback
    view = await desk.until(handle, lambda v: len(comm_lines(v)) >= 1)
    assert comm_lines(view)[0] == ("l1_call", "busy", PRIMARY.phone)
    assert desk.acts.of(ActivityName.COMMUNICATION_STATUS) == [desk.acts.placed_ids[0]]


async def test_resolving_the_case_stops_the_calls(desk: Desk) -> None:
    handle = await major(desk)
    await desk.until_called(1)
    await desk.act(handle, "resolve", reason="faux positif : sonde mal réglée")
    run = desk.client.get_workflow_handle(contact_workflow_id(desk.acts.case_ref, 1))
    for _ in range(100):
        if (await run.describe()).status != WorkflowExecutionStatus.RUNNING:
            break
        await desk.env.sleep(timedelta(seconds=1))
    assert (await run.describe()).status == WorkflowExecutionStatus.CANCELED
    assert len(desk.acts.of(ActivityName.PLACE_CALL)) == 1
    assert desk.acts.of(ActivityName.SEND_MAIL) == []  # never reached: no resolution mail


async def test_minor_instructions_by_sms_count_once_delivered(desk: Desk) -> None:
    handle = await desk.open()
    await desk.act(handle, "classify", criticality=Criticality.MINOR)
    result = await desk.act(handle, "send_instructions", channel=Channel.SMS,
                            text="Redémarrez le spouleur d'impression.")
    assert result.state == "classified"
    (sms,) = desk.acts.of(ActivityName.SEND_SMS)
    assert isinstance(sms, SmsRequest)
    assert (sms.step, sms.attempt, sms.text) == (
        "instructions", "1", "Redémarrez le spouleur d'impression.")
    view = await desk.until(handle, lambda v: len(comm_lines(v)) == 1)
    assert comm_lines(view) == [("instructions", "queued", "+33450000001")]
    # Twilio's delivery receipt, relayed by the console to the case
    await desk.signal(handle, "communication", CommunicationSignal(
        100, Channel.SMS, "delivered", await desk.now(), "Twilio : delivered", "instructions"))
    view = await desk.until(handle, lambda v: v.state == "client_instructed")
    assert [e.action for e in view.timeline] == [
        "open", "assign", "classify", "send_instructions", "communication", "communication"]
