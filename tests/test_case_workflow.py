"""The case workflow on Temporal's time-skipping test server, with recording fake activities.

Scenarios are named in the contract's words (3.2.3). The real database activities are
exercised by the integration tests; here the fakes let us count every side effect.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from messages.cases import (
    ActivityName,
    AlertSignal,
    AuditInput,
    CaseView,
    Criticality,
    TransferInput,
)
from messages.comms import Channel, CommunicationSignal
from tests.workflow_fixtures import (
    CALENDAR,
    Desk,
    RecordingActivities,
    case_continued_as_new,
    case_reopened_by_a_new_alert,
    major_case_escalated_by_the_timer,
    major_case_to_called,
    minor_case_closed_by_itself,
    start_test_env,
)


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await start_test_env()
    yield environment
    await environment.shutdown()


@pytest.fixture
async def desk(env: WorkflowEnvironment) -> AsyncIterator[Desk]:
    """A fresh task queue and fresh fakes per test, with a worker serving them."""
    desk = Desk(env, RecordingActivities())
    async with desk.worker():
        yield desk
        await desk.terminate_running()


def ledger(desk: Desk) -> list[AuditInput]:
    return desk.acts.of(ActivityName.APPEND_AUDIT)


def ledger_actions(desk: Desk) -> list[str]:
    return [line.action for line in ledger(desk)]


def assert_written_once_in_order(desk: Desk) -> None:
    """Every ledger line reached the database once, in seq order, without a gap."""
    seqs = [line.seq for line in ledger(desk)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(desk.acts.of(ActivityName.OPEN_CASE)) == 1


# --- each class from triage to closed --------------------------------------------------------


async def test_no_impact_case_is_acknowledged_resolved_and_closed(desk: Desk) -> None:
    handle = await desk.open()
    result = await desk.act(handle, "classify", criticality=Criticality.NO_IMPACT)
    assert (result.accepted, result.state) == (True, "acknowledged")
    await desk.act(handle, "resolve", reason="seuil ajusté dans la console")
    await desk.act(handle, "close")
    final = await handle.result()
    assert final.state == "closed"
    # the first person to act becomes the assignee (its own line, and a projection save)
    assert ledger_actions(desk) == ["open", "assign", "classify", "resolve", "close"]
    assert [(s.state, s.assignee) for s in desk.acts.of(ActivityName.SAVE_CASE)] == [
        ("new", None), ("new", "alice"), ("acknowledged", "alice"), ("resolved", "alice"),
        ("closed", "alice")]
    opened = desk.acts.of(ActivityName.OPEN_CASE)[0]
    assert opened.workflow_id == handle.id
    assert_written_once_in_order(desk)


async def test_minor_case_instructs_the_client_and_closes_by_itself(desk: Desk) -> None:
    handle = await minor_case_closed_by_itself(desk)
    final = await handle.result()
    assert final.state == "closed"
    assert ledger_actions(desk) == [
        "open", "repeat", "assign", "classify", "record_contact", "record_contact", "note",
        "resolve", "communication", "close"]
    resolve, mailed, close = ledger(desk)[-3:]
    assert (mailed.data["step"], mailed.data["outcome"]) == ("resolution", "sent")
    assert (close.actor, close.at) == ("system", resolve.at + timedelta(hours=72))
    assert [e.to_state for e in final.timeline if e.action == "record_contact"] == [
        None, "client_instructed"]
    assert [link.event_id for link in desk.acts.of(ActivityName.LINK_EVENT)] == [101]
    assert_written_once_in_order(desk)


async def test_significant_case_is_notified_by_a_delivered_mail(desk: Desk) -> None:
    handle = await desk.open()
    await desk.act(handle, "classify", criticality=Criticality.SIGNIFICANT)
    result = await desk.act(handle, "register_demande")
    assert result.message == "Demande DEM-000001 enregistrée"
    assert result.state == "demande_registered"  # answered before the mail goes out
    view = await desk.until(handle, lambda v: v.state == "client_notified")
    assert view.timeline[-1].data == {
        "status": "sent", "channel": "email", "communication_id": "100", "outcome": "sent",
        "step": "demande_registered", "recipient": "paul@client.example"}
    (mail,) = desk.acts.of(ActivityName.SEND_MAIL)
    assert (mail.step, mail.attempt, mail.case_ref) == ("demande_registered", "1", "VIG-000001")
    # later delivery news about the same mail is recorded, without a state change
    await desk.signal(handle, "communication", CommunicationSignal(
        communication_id=100, channel=Channel.EMAIL, status="delivered", at=await desk.now()))
    await desk.until(handle, lambda v: len(v.timeline) == 6)
    await desk.act(handle, "resolve")
    await desk.act(handle, "close")
    assert (await handle.result()).state == "closed"
    assert ledger_actions(desk) == [
        "open", "assign", "classify", "register_demande", "communication", "communication",
        "resolve", "communication", "close"]
    assert ledger(desk)[3].data == {"demande_ref": "DEM-000001"}
    assert [m.step for m in desk.acts.of(ActivityName.SEND_MAIL)] == [
        "demande_registered", "resolution"]
    assert_written_once_in_order(desk)


# --- the level-1 hour ------------------------------------------------------------------------


async def test_major_resolved_inside_the_hour_is_not_transferred(desk: Desk) -> None:
    await desk.move_to_business_morning()
    handle = await major_case_to_called(desk)
    await desk.act(handle, "start_l1")
    await desk.env.sleep(timedelta(minutes=50))
    await desk.act(handle, "resolve", reason="service redémarré pendant le diagnostic N1")
    await desk.env.sleep(timedelta(minutes=30))  # past the deadline: nothing happens
    view = await desk.view(handle)
    assert view.state == "resolved"
    assert desk.acts.of(ActivityName.TRANSFER_TO_LEVEL2) == []
    assert "escalate_l2" not in ledger_actions(desk)


async def test_major_past_the_hour_goes_to_level2_by_itself_at_the_deadline(desk: Desk) -> None:
    start = await desk.move_to_business_morning()
    handle = await major_case_to_called(desk)
    await desk.act(handle, "start_l1")
    view = await desk.view(handle)
    started = next(e.at for e in view.timeline if e.action == "start_l1")
    assert view.l1_deadline == CALENDAR.add(started, timedelta(hours=1))
    assert view.l1_deadline - started == timedelta(hours=1)  # a business morning
    assert started - start < timedelta(minutes=1)

    await desk.env.sleep(view.l1_deadline - await desk.now() - timedelta(minutes=1))
    assert (await desk.view(handle)).state == "l1_diagnosis"  # not a minute early
    assert desk.acts.of(ActivityName.TRANSFER_TO_LEVEL2) == []

    await desk.env.sleep(timedelta(minutes=2))
    escalated = await desk.until(handle, lambda v: v.state == "l2_escalated")
    (transfer,) = desk.acts.of(ActivityName.TRANSFER_TO_LEVEL2)
    assert isinstance(transfer, TransferInput)
    assert (transfer.at, transfer.by, transfer.demande_ref) == (
        view.l1_deadline, "timer", "DEM-000001")
    line = next(e for e in escalated.timeline if e.action == "escalate_l2")
    assert (line.actor, line.at, line.data) == ("system", view.l1_deadline, {"by": "timer"})
    assert escalated.next_steps[0].action == "resolve"


async def test_level2_by_the_timer_then_resolved_and_closed(desk: Desk) -> None:
    handle = await major_case_escalated_by_the_timer(desk)
    assert (await handle.result()).state == "closed"
    assert ledger_actions(desk) == [
        "open", "assign", "classify", "register_demande", "communication", "communication",
        "record_contact", "start_l1", "escalate_l2", "communication", "notify_level2",
        "resolve", "communication", "close"]
    # the automated call (dry-run) then the fallback mail; the transfer told to both sides
    assert [(line.data.get("step"), line.data["status"]) for line in ledger(desk)
            if line.action in ("communication", "notify_level2")] == [
        ("l1_call", "dry_run"), ("l1_call_fallback", "sent"), ("l2_transfer", "sent"),
        ("l2_handover", "sent"), ("resolution", "sent")]
    assert_written_once_in_order(desk)


# --- reopening, refusals, repeats, recoveries ------------------------------------------------


async def test_reopen_cancels_the_auto_close(desk: Desk) -> None:
    handle = await desk.open(auto_close_hours=1)
    await desk.act(handle, "classify", criticality=Criticality.MINOR)
    await desk.act(handle, "resolve")
    await desk.act(handle, "reopen", reason="le client signale que le problème persiste")
    await desk.env.sleep(timedelta(hours=2))
    view = await desk.view(handle)
    assert view.state == "reopened" and view.criticality is None
    assert view.next_steps[0].action == "classify"
    await desk.act(handle, "classify", criticality=Criticality.MINOR)
    await desk.act(handle, "resolve")
    assert (await handle.result()).state == "closed"  # this time the delay runs out
    assert ledger_actions(desk)[-4:] == ["reopen", "classify", "resolve", "close"]


async def test_a_new_problem_reopens_a_resolved_case(desk: Desk) -> None:
    handle = await case_reopened_by_a_new_alert(desk)
    final = await handle.result()
    assert [(e.action, e.actor) for e in final.timeline][6:] == [
        ("resolve", "alice"), ("communication", "system"), ("repeat", "system"),
        ("reopen", "system"),
        ("classify", "alice"), ("recovery", "system"), ("resolve", "system"),
        ("close", "alice")]
    assert final.demande_ref == "EXT-77"


async def test_an_invalid_action_is_refused_by_the_validator(desk: Desk) -> None:
    handle = await desk.open()
    await desk.act(handle, "add_note", text="premier regard")
    before = await desk.view(handle)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await desk.act(handle, "start_l1")
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "InvalidAction"
    assert cause.message == (
        "Le diagnostic N1 ne peut démarrer qu'après l'appel du client (cas majeur)")
    assert await desk.view(handle) == before
    history = await desk.latest(handle).fetch_history()
    accepted = [e for e in history.events if e.HasField(
        "workflow_execution_update_accepted_event_attributes")]
    assert len(accepted) == 1  # only the note: a rejection leaves no trace in history


async def test_repeats_are_counted_and_a_redelivered_alert_ignored(desk: Desk) -> None:
    """The alert that opened the case is linked, not counted; each later one is a repeat."""
    now = await desk.now()
    first = AlertSignal(event_id=1, status="problem", received_at=now, opening=True)
    handle = await desk.open(first)
    for event_id in (2, 3, 3):
        await desk.signal(handle, "alert", AlertSignal(
            event_id=event_id, status="problem", received_at=now + timedelta(minutes=event_id)))
    view = await desk.until(handle, lambda v: v.repeat_count >= 2)
    await desk.act(handle, "add_note", text="trois alertes")
    view = await desk.view(handle)
    assert (view.repeat_count, view.last_seen) == (2, now + timedelta(minutes=3))
    assert [link.event_id for link in desk.acts.of(ActivityName.LINK_EVENT)] == [1, 2, 3]
    assert ledger_actions(desk) == ["open", "repeat", "repeat", "assign", "note"]


async def test_recovery_resolves_an_unclassified_case_by_itself(desk: Desk) -> None:
    handle = await desk.open()
    await desk.signal(handle, "alert", AlertSignal(
        event_id=9, status="recovery", received_at=await desk.now()))
    view = await desk.until(handle, lambda v: v.state == "resolved")
    assert [(e.action, e.actor, e.reason) for e in view.timeline[-2:]] == [
        ("recovery", "system", ""), ("resolve", "system", "rétablissement reçu")]


async def test_recovery_on_a_major_case_only_flags_it(desk: Desk) -> None:
    handle = await major_case_to_called(desk)
    await desk.signal(handle, "alert", AlertSignal(
        event_id=10, status="recovery", received_at=await desk.now()))
    view = await desk.until(handle, lambda v: v.recovered)
    assert view.state == "client_called"
    assert view.next_steps[0].label == "Confirmer le rétablissement et résoudre"
    await desk.act(handle, "add_note", text="à confirmer avec le client")  # after the flag
    assert desk.acts.of(ActivityName.SAVE_CASE)[-1].recovered


async def test_a_heartbeat_case_is_major_from_the_start(desk: Desk) -> None:
    handle = await desk.open(preset_criticality=Criticality.MAJOR,
                             preset_reason="battement horaire absent")
    view = await desk.until(handle, lambda v: len(v.timeline) == 2)
    assert (view.state, view.criticality) == ("classified", "major")
    assert view.timeline[1].actor == "system"


# --- durability ------------------------------------------------------------------------------


async def test_continue_as_new_keeps_the_case(desk: Desk) -> None:
    handle = await case_continued_as_new(desk)
    final: CaseView = await handle.result()
    first_run = desk.runs[handle.id]
    assert (await desk.latest(handle).describe()).run_id != first_run  # it did continue as new
    assert final.repeat_count == 12
    assert [e.seq for e in final.timeline] == list(range(1, 18))
    assert ledger_actions(desk) == [
        "open", *["repeat"] * 12, "assign", "classify", "resolve", "close"]
    assert [e.action for e in final.timeline] == ledger_actions(desk)
    assert_written_once_in_order(desk)
    links = [link.event_id for link in desk.acts.of(ActivityName.LINK_EVENT)]
    assert links == list(range(300, 312))


async def test_a_worker_restart_in_the_middle_of_a_case_repeats_nothing() -> None:
    """Own test server: its clock skips a day, which other tests' leftovers must not hold."""
    env = await start_test_env()
    try:
        await _restart_scenario(env)
    finally:
        await env.shutdown()


async def _restart_scenario(env: WorkflowEnvironment) -> None:
    desk = Desk(env, RecordingActivities())
    await desk.move_to_business_morning()
    async with desk.worker(cache=False):
        handle = await major_case_to_called(desk)
        await desk.act(handle, "start_l1")
    calls_before = len(desk.acts.calls)
    async with desk.worker(cache=False):  # a new worker: the case is replayed from its history
        await desk.act(handle, "add_note", text="diagnostic en cours")
        assert [name for name, _ in desk.acts.calls[calls_before:]] == ["append_audit"]
        assert (await desk.view(handle)).state == "l1_diagnosis"
        await desk.act(handle, "resolve")
        await desk.act(handle, "close", reason="client satisfait")
        assert (await handle.result()).state == "closed"
    assert_written_once_in_order(desk)
    assert len(desk.acts.of(ActivityName.REGISTER_DEMANDE)) == 1
    snapshots = desk.acts.of(ActivityName.SAVE_CASE)
    assert [s.state for s in snapshots] == [
        "new", "new", "classified", "demande_registered", "client_called", "l1_diagnosis",
        "resolved", "closed"]
