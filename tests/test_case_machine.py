"""The case rules (3.2.3) on the pure decision core: no Temporal, no database, no clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.calendar import default_calendar
from messages.cases import ActionInput, AlertSignal, CaseInput, CaseState, Criticality
from messages.comms import Channel, CommunicationSignal, ContactOutcome
from workflows.case_machine import (
    STATES,
    TRANSITIONS,
    Audit,
    CancelAutoCloseTimer,
    CancelL1Timer,
    CaseCore,
    Intent,
    LinkEvent,
    RegisterDemande,
    SaveSnapshot,
    SendMessage,
    StartAutoCloseTimer,
    StartL1Timer,
    TransferToL2,
    policy_for,
)

CAL = default_calendar()
# Monday 10 March 2025, 10:00 in Paris (09:00 UTC): a plain business morning.
MONDAY_10 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
TECH = "alice"


def case_input(**changes: object) -> CaseInput:
    base = CaseInput(
        fingerprint="srv1|cpu|_total",
        client_id=1,
        server_id=1,
        host="SRV1",
        family="perf",
        check="cpu",
        target="_total",
        title="SRV1 — processeur > 95 %",
        opened_at=MONDAY_10,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def opened(**changes: object) -> tuple[CaseCore, list[Intent]]:
    core, intents = CaseCore.open(case_input(**changes), policy_for(case_input(), CAL))
    core.opened(7, "VIG-000007")
    return core, intents


def audits(intents: list[Intent]) -> list[Audit]:
    return [i for i in intents if isinstance(i, Audit)]


def actions(intents: list[Intent]) -> list[str]:
    return [a.action for a in audits(intents)]


def act(core: CaseCore, action: str, at: datetime = MONDAY_10, **fields: object) -> list[Intent]:
    inp = ActionInput(actor=str(fields.pop("actor", TECH)), **fields)  # type: ignore[arg-type]
    assert core.check(action, inp) is None, core.check(action, inp)
    return core.act(action, inp, at)


def register(core: CaseCore, ref: str = "DEM-000001", at: datetime = MONDAY_10) -> list[Intent]:
    """Both halves of registering a Demande: the request, then the activity's answer."""
    *_claimed, request = act(core, "register_demande", at)  # the auto-assignment first
    assert isinstance(request, RegisterDemande)
    assert core.state == CaseState.CLASSIFIED  # nothing changes until the Demande exists
    return core.demande_registered(request, ref)


def at(minutes: int) -> datetime:
    return MONDAY_10 + timedelta(minutes=minutes)


def to_called_major(core: CaseCore) -> None:
    act(core, "classify", criticality=Criticality.MAJOR)
    register(core)
    act(core, "record_contact", at(5), channel=Channel.PHONE, outcome=ContactOutcome.REACHED)
    assert core.state == CaseState.CLIENT_CALLED


# --- the tables ------------------------------------------------------------------------------


def test_the_state_table_is_exactly_the_shared_case_states() -> None:
    names = [s["name"] for s in STATES]
    assert sorted(names) == sorted(s.value for s in CaseState)
    for row in TRANSITIONS:
        sources = row["source"] if isinstance(row["source"], list) else [row["source"]]
        assert set(sources) <= set(names), row
        assert row["dest"] is None or row["dest"] in names, row


# --- opening ---------------------------------------------------------------------------------


def test_open_writes_the_first_ledger_line_and_the_projection() -> None:
    core, intents = opened()
    (line,) = audits(intents)
    assert (line.seq, line.action, line.actor, line.from_state, line.to_state) == (
        1, "open", "system", None, "new")
    assert line.at == MONDAY_10
    assert isinstance(intents[-1], SaveSnapshot) and intents[-1].state == "new"
    assert [s.action for s in core.next_steps()] == ["classify"]


def test_a_missing_heartbeat_is_classified_major_by_the_system_at_opening() -> None:
    core, intents = opened(preset_criticality=Criticality.MAJOR,
                           preset_reason="absence de battement horaire")
    assert actions(intents) == ["open", "classify"]
    classify = audits(intents)[1]
    assert classify.actor == "system"
    assert classify.data == {"criticality": "major", "previous": ""}
    assert classify.reason == "absence de battement horaire"
    assert core.state == CaseState.CLASSIFIED and core.criticality == Criticality.MAJOR
    assert core.next_steps()[0].action == "register_demande"


# --- each class, from triage to closed -------------------------------------------------------


def test_no_impact_is_acknowledged_without_client_communication() -> None:
    core, _ = opened()
    intents = act(core, "classify", criticality=Criticality.NO_IMPACT)
    assert core.state == CaseState.ACKNOWLEDGED
    assert audits(intents)[-1].data["criticality"] == "no_impact"
    refusal = core.check("record_contact", ActionInput(
        actor=TECH, channel=Channel.EMAIL, outcome=ContactOutcome.SENT))
    assert refusal is not None and "aucune communication client" in refusal
    assert core.next_steps()[0].clause == "3.2.3 Sans impact"
    act(core, "resolve", at(10))
    assert core.state == CaseState.RESOLVED
    intents = act(core, "close", at(20))
    assert core.state == CaseState.CLOSED
    assert [type(i) for i in intents] == [CancelAutoCloseTimer, Audit, SaveSnapshot]


def test_minor_case_instructs_the_client_by_mail_or_phone() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.MINOR)
    assert core.state == CaseState.CLASSIFIED
    assert core.next_steps()[0].clause == "3.2.3 Mineur/modéré"
    intents = act(core, "record_contact", at(3), channel=Channel.EMAIL,
                  outcome=ContactOutcome.SENT)
    line = audits(intents)[0]
    assert (line.action, line.from_state, line.to_state) == (
        "record_contact", "classified", "client_instructed")
    assert line.data == {"channel": "email", "outcome": "sent"}
    act(core, "resolve", at(30))
    act(core, "close", at(40))
    assert core.state == CaseState.CLOSED


@pytest.mark.parametrize("outcome", ["no_answer", "busy", "voicemail", "failed"])
def test_a_contact_that_reached_nobody_is_recorded_but_does_not_advance(outcome: str) -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.MINOR)
    intents = act(core, "record_contact", channel=Channel.PHONE,
                  outcome=ContactOutcome(outcome))
    line = audits(intents)[0]
    assert core.state == CaseState.CLASSIFIED
    assert (line.action, line.from_state, line.to_state) == ("record_contact", "classified", None)
    assert line.data["outcome"] == outcome
    assert not any(isinstance(i, SaveSnapshot) for i in intents)  # nothing visible changed


def test_significant_case_registers_a_demande_then_notifies_the_client() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.SIGNIFICANT)
    assert core.next_steps()[0].action == "register_demande"
    intents = register(core, "DEM-000042")
    line = audits(intents)[0]
    assert (line.action, line.from_state, line.to_state) == (
        "register_demande", "classified", "demande_registered")
    assert line.data == {"demande_ref": "DEM-000042"}
    assert core.view().demande_ref == "DEM-000042"
    assert core.next_steps()[0].clause == "3.2.3 Significatif"
    act(core, "record_contact", at(4), channel=Channel.EMAIL, outcome=ContactOutcome.SENT)
    assert core.state == CaseState.CLIENT_NOTIFIED
    act(core, "resolve", at(60))
    act(core, "close", at(61))
    assert core.state == CaseState.CLOSED


def test_a_delivered_mail_notifies_the_significant_client_by_itself() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.SIGNIFICANT)
    register(core)
    failed = core.communication(CommunicationSignal(3, Channel.EMAIL, "failed", at(2)))
    assert core.state == CaseState.DEMANDE_REGISTERED
    assert audits(failed)[0].data == {
        "status": "failed", "channel": "email", "communication_id": "3", "outcome": "failed"}
    delivered = core.communication(CommunicationSignal(4, Channel.EMAIL, "delivered", at(3)))
    line = audits(delivered)[0]
    assert (line.action, line.actor, line.to_state) == ("communication", "system",
                                                        "client_notified")


def test_major_case_full_path_with_level2_by_the_timer_at_the_deadline() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.MAJOR)
    register(core)
    assert core.next_steps()[0].label.startswith("Appeler le contact principal")
    # A mail or an unanswered call does not set up the diagnosis: a call must reach someone.
    act(core, "record_contact", at(1), channel=Channel.EMAIL, outcome=ContactOutcome.SENT)
    act(core, "record_contact", at(2), channel=Channel.PHONE, outcome=ContactOutcome.NO_ANSWER)
    assert core.state == CaseState.DEMANDE_REGISTERED
    refusal = core.check("start_l1", ActionInput(actor=TECH))
    assert refusal == "Le diagnostic N1 ne peut démarrer qu'après l'appel du client (cas majeur)"
    act(core, "record_contact", at(5), channel=Channel.PHONE, outcome=ContactOutcome.REACHED)
    assert core.state == CaseState.CLIENT_CALLED

    intents = act(core, "start_l1", at(10))
    deadline = CAL.add(at(10), timedelta(hours=1))
    assert deadline == at(70)  # a business morning: exactly one hour
    assert intents[0] == StartL1Timer(deadline)
    assert core.view().l1_deadline == deadline
    assert audits(intents)[0].to_state == "l1_diagnosis"

    intents = core.timer_fired("l1")
    assert core.state == CaseState.L2_ESCALATED
    assert [type(i) for i in intents] == [
        CancelL1Timer, TransferToL2, Audit, SaveSnapshot, SendMessage, SendMessage]
    # the client and level 2 are told, after the ledger line that decided it
    assert [(m.step, m.channel) for m in intents[4:]] == [  # type: ignore[union-attr]
        ("l2_transfer", "email"), ("l2_handover", "email")]
    transfer = intents[1]
    assert isinstance(transfer, TransferToL2)
    assert (transfer.at, transfer.by, transfer.demande_ref) == (deadline, "timer", "DEM-000001")
    line = audits(intents)[0]
    assert (line.action, line.actor, line.at, line.data) == (
        "escalate_l2", "system", deadline, {"by": "timer"})

    intents = act(core, "resolve", at(200))
    assert isinstance(intents[0], StartAutoCloseTimer)
    assert intents[0].at == at(200) + timedelta(hours=72)
    intents = core.timer_fired("auto_close")
    assert core.state == CaseState.CLOSED
    assert audits(intents)[0].actor == "system"
    assert audits(intents)[0].at == at(200) + timedelta(hours=72)


def test_major_resolved_inside_the_hour_never_reaches_level2() -> None:
    core, _ = opened()
    to_called_major(core)
    act(core, "start_l1", at(10))
    intents = act(core, "resolve", at(50))
    assert isinstance(intents[0], CancelL1Timer)
    assert not any(isinstance(i, TransferToL2) for i in intents)
    assert core.timer_fired("l1") == []  # a timer that fires late changes nothing
    assert core.state == CaseState.RESOLVED


def test_a_person_may_escalate_before_the_deadline() -> None:
    core, _ = opened()
    to_called_major(core)
    act(core, "start_l1", at(10))
    intents = act(core, "escalate_l2", at(30), reason="panne matérielle")
    transfer = next(i for i in intents if isinstance(i, TransferToL2))
    assert (transfer.by, transfer.at, transfer.reason) == (TECH, at(30), "panne matérielle")
    assert audits(intents)[0].data == {"by": TECH}
    assert isinstance(intents[0], CancelL1Timer)


def test_the_l1_deadline_runs_on_business_hours() -> None:
    core, _ = opened()
    to_called_major(core)
    friday_1730 = datetime(2025, 3, 14, 16, 30, tzinfo=UTC)  # 17:30 in Paris
    act(core, "start_l1", friday_1730)
    monday_0930 = datetime(2025, 3, 17, 8, 30, tzinfo=UTC)
    assert core.view().l1_deadline == monday_0930


def test_the_l1_length_is_configurable() -> None:
    inp = case_input(l1_minutes=30)
    core, _ = CaseCore.open(inp, policy_for(inp, CAL))
    to_called_major(core)
    act(core, "start_l1", at(10))
    assert core.view().l1_deadline == at(40)


# --- refusals --------------------------------------------------------------------------------


def _at_state(state: str) -> CaseCore:
    core, _ = opened()
    if state == "acknowledged":
        act(core, "classify", criticality=Criticality.NO_IMPACT)
    elif state == "minor":
        act(core, "classify", criticality=Criticality.MINOR)
    elif state == "major":
        act(core, "classify", criticality=Criticality.MAJOR)
    elif state == "l2":
        to_called_major(core)
        act(core, "start_l1")
        act(core, "escalate_l2")
    elif state == "resolved":
        act(core, "resolve")
    return core


@pytest.mark.parametrize(
    ("state", "action", "fields", "reason"),
    [
        ("new", "start_l1", {}, "qu'après l'appel du client"),
        ("new", "record_contact", {"channel": Channel.EMAIL, "outcome": ContactOutcome.SENT},
         "Fixez d'abord la criticité"),
        ("new", "classify", {}, "Indiquez la criticité"),
        ("new", "close", {}, "Seul un cas résolu"),
        ("new", "reopen", {}, "encore ouvert"),
        ("new", "escalate_l2", {}, "suit le diagnostic N1"),
        ("new", "add_note", {"text": "  "}, "La note est vide"),
        ("new", "assign", {}, "Indiquez la personne"),
        ("new", "fly", {}, "Action inconnue"),
        ("new", "resolve", {"actor": " "}, "L'auteur de l'action"),
        ("minor", "register_demande", {}, "significatif ou majeur"),
        ("minor", "start_l1", {}, "majeurs/étendus"),
        ("minor", "classify", {"criticality": Criticality.MINOR}, "déjà classé mineur"),
        ("minor", "record_contact", {"channel": Channel.PHONE}, "canal et le résultat"),
        ("major", "start_l1", {}, "qu'après l'appel du client"),
        ("l2", "classify", {"criticality": Criticality.MINOR}, "niveau 2"),
        ("l2", "escalate_l2", {}, "déjà transférée"),
        ("resolved", "add_note", {"text": "x"}, "rouvrez-le d'abord"),
        ("resolved", "resolve", {}, "déjà résolu"),
        ("resolved", "classify", {"criticality": Criticality.MINOR}, "rouvrez-le d'abord"),
    ],
)
def test_refusals_say_why_in_french(
    state: str, action: str, fields: dict[str, object], reason: str
) -> None:
    core = _at_state(state)
    before = core.view()
    inp = ActionInput(actor=str(fields.pop("actor", TECH)), **fields)  # type: ignore[arg-type]
    refusal = core.check(action, inp)
    assert refusal is not None and reason in refusal
    with pytest.raises(ValueError) as refused:
        core.act(action, inp, MONDAY_10)
    assert str(refused.value) == refusal
    assert core.view() == before  # a refusal changes nothing


def test_assigning_twice_to_the_same_person_is_refused() -> None:
    core, _ = opened()
    intents = act(core, "assign", assignee="bob")
    assert audits(intents)[0].data == {"assignee": "bob"}
    assert core.view().assignee == "bob"
    assert core.check("assign", ActionInput(actor=TECH, assignee="bob")) == (
        "Le cas est déjà assigné à bob")


# --- reclassification ------------------------------------------------------------------------


def test_reclassify_minor_to_major_asks_for_a_demande() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.MINOR)
    act(core, "record_contact", channel=Channel.EMAIL, outcome=ContactOutcome.SENT)
    intents = act(core, "classify", criticality=Criticality.MAJOR)
    line = audits(intents)[0]
    assert (line.from_state, line.to_state) == ("client_instructed", "classified")
    assert line.data == {"criticality": "major", "previous": "minor"}
    assert core.next_steps()[0].action == "register_demande"


def test_reclassify_significant_to_major_keeps_the_demande_and_asks_for_the_call() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.SIGNIFICANT)
    register(core)
    act(core, "record_contact", channel=Channel.EMAIL, outcome=ContactOutcome.SENT)
    act(core, "classify", criticality=Criticality.MAJOR)
    assert core.state == CaseState.DEMANDE_REGISTERED
    assert core.view().demande_ref == "DEM-000001"
    assert core.next_steps()[0].label.startswith("Appeler le contact principal")


def test_reclassify_during_l1_stops_the_clock() -> None:
    core, _ = opened()
    to_called_major(core)
    act(core, "start_l1", at(10))
    intents = act(core, "classify", at(20), criticality=Criticality.SIGNIFICANT)
    assert isinstance(intents[0], CancelL1Timer)
    assert core.state == CaseState.DEMANDE_REGISTERED
    assert core.view().l1_deadline is None


# --- repeats and recoveries ------------------------------------------------------------------


def problem(event_id: int | None, minutes: int) -> AlertSignal:
    return AlertSignal(event_id=event_id, status="problem", received_at=at(minutes),
                       summary="CPU 99 %", severity="critical")


def recovery(event_id: int | None, minutes: int) -> AlertSignal:
    return AlertSignal(event_id=event_id, status="recovery", received_at=at(minutes))


def test_repeats_are_counted_once_per_event_and_refresh_last_seen() -> None:
    core, _ = opened()
    first = core.alert(problem(11, 1))
    assert first[0] == LinkEvent(11)
    assert actions(first) == ["repeat"]
    assert audits(first)[0].data == {"event_id": "11", "severity": "critical"}
    core.alert(problem(12, 5))
    assert core.alert(problem(12, 5)) == []  # redelivered by the router: ignored
    view = core.view()
    assert (view.repeat_count, view.last_seen) == (2, at(5))
    assert core.state == CaseState.NEW


def test_a_new_problem_reopens_a_resolved_case_as_the_system() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.MINOR)
    act(core, "resolve", at(10))
    intents = core.alert(problem(13, 20))
    assert actions(intents) == ["repeat", "reopen"]
    reopen = audits(intents)[1]
    assert (reopen.actor, reopen.from_state, reopen.to_state) == ("system", "resolved",
                                                                  "reopened")
    assert CancelAutoCloseTimer() in intents
    assert core.criticality is None  # judged afresh
    assert core.next_steps()[0].action == "classify"


def test_a_reopened_heartbeat_case_is_major_again_and_keeps_its_demande() -> None:
    core, _ = opened(preset_criticality=Criticality.MAJOR)
    register(core)
    act(core, "resolve", at(10))
    intents = core.alert(problem(14, 20))
    assert actions(intents) == ["repeat", "reopen", "classify"]
    assert core.state == CaseState.DEMANDE_REGISTERED
    assert core.criticality == Criticality.MAJOR


@pytest.mark.parametrize("state", ["new", "acknowledged", "reopened"])
def test_recovery_resolves_an_unjudged_or_harmless_case_by_itself(state: str) -> None:
    core = _at_state(state if state != "reopened" else "resolved")
    if state == "reopened":
        act(core, "reopen")
    intents = core.alert(recovery(21, 30))
    assert actions(intents) == ["recovery", "resolve"]
    resolve = audits(intents)[1]
    assert (resolve.actor, resolve.reason, resolve.to_state) == (
        "system", "rétablissement reçu", "resolved")
    assert core.state == CaseState.RESOLVED


def test_recovery_on_a_major_case_only_flags_it_for_a_technician() -> None:
    core, _ = opened()
    to_called_major(core)
    intents = core.alert(recovery(22, 30))
    assert actions(intents) == ["recovery"]
    assert core.state == CaseState.CLIENT_CALLED
    assert core.view().recovered
    steps = core.next_steps()
    assert steps[0].label == "Confirmer le rétablissement et résoudre"
    core.alert(problem(23, 40))  # the problem came back
    assert not core.view().recovered


# --- guided steps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("criticality", "expected"),
    [
        (Criticality.NO_IMPACT, ("resolve", "3.2.3 Sans impact")),
        (Criticality.MINOR, ("record_contact", "3.2.3 Mineur/modéré")),
        (Criticality.SIGNIFICANT, ("register_demande", "3.2.3 Significatif")),
        (Criticality.MAJOR, ("register_demande", "3.2.3 Majeur/étendu")),
    ],
)
def test_next_step_after_triage_follows_the_class(
    criticality: Criticality, expected: tuple[str, str]
) -> None:
    core, _ = opened()
    act(core, "classify", criticality=criticality)
    step = core.next_steps()[0]
    assert (step.action, step.clause) == expected
    assert step.label  # French words for the technician


def test_every_open_state_guides_the_technician() -> None:
    core, _ = opened()
    seen = {core.state: core.next_steps()}
    to_called_major(core)
    seen[core.state] = core.next_steps()
    act(core, "start_l1")
    seen[core.state] = core.next_steps()
    act(core, "escalate_l2")
    seen[core.state] = core.next_steps()
    act(core, "resolve")
    seen[core.state] = core.next_steps()
    assert all(seen.values()), seen
    assert [s.action for s in seen["l1_diagnosis"]] == ["resolve", "escalate_l2"]
    assert [s.action for s in seen["resolved"]] == ["close", "reopen"]


# --- the ledger ------------------------------------------------------------------------------


def test_the_ledger_is_complete_and_numbered_without_gaps() -> None:
    core, intents = opened()
    intents += core.alert(problem(1, 1))
    intents += act(core, "assign", assignee="bob")
    intents += act(core, "add_note", text="client prévenu par le standard")
    intents += act(core, "classify", criticality=Criticality.MAJOR)
    request, = act(core, "register_demande")
    assert isinstance(request, RegisterDemande)
    intents += core.demande_registered(request, "DEM-1")
    intents += act(core, "record_contact", channel=Channel.PHONE,
                   outcome=ContactOutcome.REACHED)
    intents += core.communication(CommunicationSignal(9, Channel.PHONE, "answered", at(6)))
    intents += act(core, "start_l1")
    intents += core.alert(recovery(2, 7))
    intents += core.timer_fired("l1")
    intents += act(core, "resolve")
    intents += act(core, "reopen")
    intents += act(core, "classify", criticality=Criticality.MINOR)
    intents += act(core, "resolve")
    intents += act(core, "close")
    assert actions(intents) == [
        "open", "repeat", "assign", "note", "classify", "register_demande", "record_contact",
        "communication", "start_l1", "recovery", "escalate_l2", "resolve", "reopen",
        "classify", "resolve", "close",
    ]
    assert [a.seq for a in audits(intents)] == list(range(1, 17))
    assert core.view().timeline == [a.entry() for a in audits(intents)]
    note = audits(intents)[3]
    assert (note.data, note.to_state) == ({"text": "client prévenu par le standard"}, None)


def test_a_note_does_not_resave_the_projection() -> None:
    core, _ = opened()
    act(core, "assign", assignee=TECH)
    intents = act(core, "add_note", text="vu")
    assert [type(i) for i in intents] == [Audit]


def test_carried_state_resumes_the_same_case_with_its_timer() -> None:
    core, _ = opened()
    to_called_major(core)
    act(core, "start_l1", at(10))
    core.alert(problem(31, 11))
    inp = case_input(carried_state=core.carry())
    resumed, intents = CaseCore.resume(inp, core.carry(), policy_for(inp, CAL))
    assert resumed.view() == core.view()
    assert intents == [StartL1Timer(at(70))]  # re-armed, nothing re-recorded
    assert resumed.alert(problem(31, 11)) == []  # still remembers the events it linked
    assert audits(resumed.timer_fired("l1"))[0].seq == core.view().timeline[-1].seq + 1


def test_the_alert_a_case_is_opened_with_is_linked_but_not_a_repeat() -> None:
    core, _ = opened()
    first = core.alert(AlertSignal(event_id=10, status="problem", received_at=at(0),
                                   opening=True))
    assert LinkEvent(10) in first
    assert actions(first) == []
    # the router's later signal-with-start says "opening" too: the open case counts it
    again = core.alert(AlertSignal(event_id=11, status="problem", received_at=at(2),
                                   opening=True))
    assert actions(again) == ["repeat"]
    assert core.view().repeat_count == 1


# --- the technician's day (issue 10) ---------------------------------------------------------


def test_the_first_person_to_act_on_an_unassigned_case_becomes_its_assignee() -> None:
    core, _ = opened()
    intents = act(core, "add_note", text="je regarde")
    assert actions(intents) == ["assign", "note"]
    claim = audits(intents)[0]
    assert (claim.actor, claim.data) == (TECH, {"assignee": TECH})
    assert "première personne" in claim.reason
    assert core.view().assignee == TECH
    assert [i.assignee for i in intents if isinstance(i, SaveSnapshot)] == [TECH]
    # the next person to act does not take it over; reassigning stays possible
    assert actions(act(core, "classify", actor="bob", criticality=Criticality.MINOR)) == [
        "classify"]
    assert core.view().assignee == TECH
    act(core, "assign", actor="bob", assignee="bob")
    assert core.view().assignee == "bob"


def test_a_reopening_assigns_the_person_who_reopens_after_the_reopen_line() -> None:
    core, _ = opened()
    core.act("resolve", ActionInput(actor=TECH), MONDAY_10, auto_assign=False)  # unclaimed
    intents = act(core, "reopen", actor="bob")
    assert actions(intents)[:2] == ["reopen", "assign"]
    assert core.view().assignee == "bob"


def test_auto_assignment_can_be_turned_off_for_old_histories() -> None:
    core, _ = opened()
    intents = core.act("add_note", ActionInput(actor=TECH, text="vu"), MONDAY_10,
                       auto_assign=False)
    assert actions(intents) == ["note"]
    assert core.view().assignee is None


def test_the_call_report_typed_by_the_technician_is_kept_in_the_ledger() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.MINOR)
    intents = act(core, "record_contact", channel=Channel.PHONE, outcome=ContactOutcome.REACHED,
                  text="  M. Petit redémarre le spouleur ce soir  ")
    (line,) = audits(intents)
    assert line.data == {"channel": "phone", "outcome": "reached",
                         "text": "M. Petit redémarre le spouleur ce soir"}
    assert core.view().timeline[-1].data["text"] == "M. Petit redémarre le spouleur ce soir"


def test_a_major_case_whose_calls_reached_nobody_still_asks_for_a_call() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.MAJOR)
    register(core)
    assert core.view().contact_active == "l1_call"
    core.communication(CommunicationSignal(
        55, Channel.EMAIL, "sent", at(20), "aucun contact joint par téléphone ; mail de repli",
        step="l1_call_fallback", contact_run=1, final=True))
    # the fallback mail is recorded, and the case still waits for a person on the phone
    assert core.state == CaseState.DEMANDE_REGISTERED
    assert core.view().timeline[-1].data["channel"] == "email"
    (step,) = core.next_steps()
    assert step.action == "record_contact" and "Personne n'a été joint" in step.label
    act(core, "record_contact", at(30), channel=Channel.PHONE, outcome=ContactOutcome.REACHED)
    assert core.state == CaseState.CLIENT_CALLED


def test_cases_share_one_machine_and_nothing_else() -> None:
    """The flow is built once per process (issue 24): every core drives the same machine,
    each with its own state, and the machine keeps no case alive once its core is gone."""
    from workflows.case_machine import MACHINE

    first, _ = opened()
    second, _ = opened(preset_criticality=Criticality.MAJOR)
    assert first.machine is second.machine is MACHINE
    assert (first.state, second.state) == (CaseState.NEW, CaseState.CLASSIFIED)
    first.act("classify", ActionInput(actor=TECH, criticality=Criticality.MINOR), MONDAY_10)
    assert (first.state, second.state) == (CaseState.CLASSIFIED, CaseState.CLASSIFIED)
    assert first.criticality == Criticality.MINOR and second.criticality == Criticality.MAJOR
    second.act("resolve", ActionInput(actor=TECH), MONDAY_10)
    assert (first.state, second.state) == (CaseState.CLASSIFIED, CaseState.RESOLVED)
    assert MACHINE.models == []
