"""Recorded case histories replay with the current code: a change that would break running
cases (a new command in the middle of the sequence, a reordered activity) fails here."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from messages.cases import CASE_PATH
from workflows.case import CaseWorkflow
from workflows.contact import ContactWorkflow
from workflows.onboarding import OnboardingWorkflow
from workflows.termination import TerminationWorkflow
from workflows.visit import VisitWorkflow

HISTORIES = sorted((Path(__file__).resolve().parent / "histories").glob("*.json"))


def test_there_are_recorded_histories_for_every_path() -> None:
    names = {p.stem for p in HISTORIES}
    assert {"minor_closed_by_itself", "major_escalated_by_timer", "reopened_by_new_alert",
            "continued_as_new", "significant_mailed", "major_confirmed_on_the_phone",
            "major_confirmed_on_the_phone.contact-1",
            # with the search attributes and the first-actor assignment (issue 10)
            "minor_instructed_from_vigie", "major_nobody_reached_by_phone",
            "major_nobody_reached_by_phone.contact-1", "continued_as_new_searchable",
            # a source that failed verification (issue 11)
            "unverified_source",
            # opened in one step with the search attributes, the first-actor assignment and
            # the source flag (issues 10, 11 and 13 together)
            "minor_instructed_from_vigie.one_step_searchable",
            "unverified_source.one_step_searchable",
            "major_nobody_reached_by_phone.one_step_searchable.contact-1",
            # one incident per site outage: preset major, the link's return (issue 22)
            "site_incident_link_back", "site_incident_link_back.contact-1",
            # occurrence order: a problem older than the last recovery arrives late (issue 21)
            "late_problem_after_recovery",
            # the opening path: no patch markers, search attributes at start (issue 24)
            *(f"{scenario}.opening_path" for scenario in (
                "minor_closed_by_itself", "major_escalated_by_timer", "reopened_by_new_alert",
                "continued_as_new", "significant_mailed", "major_confirmed_on_the_phone",
                "minor_instructed_from_vigie", "major_nobody_reached_by_phone",
                "unverified_source", "site_incident_link_back",
                "late_problem_after_recovery")),
            "major_escalated_by_timer.opening_path.contact-1",
            "site_incident_link_back.opening_path.contact-1"} <= names
    assert {"visit_confirmed_reported_and_sent",
            "visit_unanswered_rescheduled_cancelled",
            # a late visit answered once, its dropped date mailed, a phone date (issue 19)
            "visit_late_answered_once_rescheduled_by_phone",
            "visit_continued_as_new", "visit_continued_as_new.carried",
            # a proposal carrying the desk's window and site days (issue 19 part C)
            "visit_proposed_with_the_desk_s_rules"} <= names
    assert {"contract_onboarding_activated", "contract_onboarding_planner_decision",
            "contract_notice_terminated", "contract_notice_remedied",
            "contract_immediate_termination"} <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_recorded_case_replays_with_the_current_code(path: Path) -> None:
    text = await asyncio.to_thread(path.read_text)
    history = WorkflowHistory.from_json(f"replay-{path.stem}", text)
    replayer = Replayer(workflows=[CaseWorkflow, ContactWorkflow, VisitWorkflow,
                                   OnboardingWorkflow, TerminationWorkflow])
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None


def _events(name: str) -> list[dict]:
    path = Path(__file__).resolve().parent / "histories" / f"{name}.json"
    return json.loads(path.read_text())["events"]


def _event_types(name: str) -> list[str]:
    return [e["eventType"] for e in _events(name)]


def _first_task(name: str) -> list[str]:
    """The events of a case up to its first workflow task's commands included: its start,
    the opening alert, the task, and what that task did. Types shortened, markers named,
    upserts with the attributes they set."""
    out: list[str] = []
    completed = False
    for event in _events(name):
        kind = event["eventType"].removeprefix("EVENT_TYPE_")
        if completed and kind.startswith("WORKFLOW_TASK_"):
            break
        completed = completed or kind == "WORKFLOW_TASK_COMPLETED"
        if kind == "MARKER_RECORDED":
            kind += ":" + event["markerRecordedEventAttributes"]["markerName"]
        if kind == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES":
            fields = event["upsertWorkflowSearchAttributesEventAttributes"]
            kind += ":" + ",".join(sorted(fields["searchAttributes"]["indexedFields"]))
        out.append(kind)
    return out


def _started_with(name: str) -> dict:
    """The case input a recorded run was started with (plain JSON: recorded without codec)."""
    started = _events(name)[0]["workflowExecutionStartedEventAttributes"]
    return json.loads(base64.b64decode(started["input"]["payloads"][0]["data"]))


OPENING_PATH = sorted(p.stem for p in HISTORIES if ".opening_path" in p.stem
                      and ".contact-" not in p.stem)


def test_a_new_path_case_opens_in_one_workflow_task_with_one_upsert() -> None:
    """The same preset-major case (a site's link down, opened by its alert) before and
    after the opening path: the first task no longer records patch markers nor the SDK's
    ``TemporalChangeVersion`` upserts; the class and state came with the start, so it
    upserts the reference alone."""
    before = _first_task("site_incident_link_back")
    after = _first_task("site_incident_link_back.opening_path")
    assert before == [
        "WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED",
        "MARKER_RECORDED:core_patch", "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:TemporalChangeVersion",
        "MARKER_RECORDED:core_local_activity",
        "MARKER_RECORDED:core_patch", "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:TemporalChangeVersion",
        "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:CaseRef,CaseState,ClientCode,Criticality"]
    assert after == [
        "WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED",
        "MARKER_RECORDED:core_local_activity", "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:CaseRef"]
    started = _events("site_incident_link_back.opening_path")[0]
    given = started["workflowExecutionStartedEventAttributes"]["searchAttributes"]
    assert sorted(given["indexedFields"]) == ["CaseState", "Criticality"]


@pytest.mark.parametrize("name", OPENING_PATH)
def test_no_new_path_case_asks_for_a_patch(name: str) -> None:
    """Over a case's whole life (actions, timers, continue-as-new, late arrivals): not one
    patch marker nor change-version upsert, and a first task of at most seven events."""
    assert _started_with(name)["path"] == CASE_PATH
    events = json.dumps(_events(name))
    assert "core_patch" not in events and "TemporalChangeVersion" not in events
    assert len(_first_task(name)) <= 7


def test_recorded_runs_without_the_path_still_ask_for_their_patches() -> None:
    """Histories recorded before the field have no ``path`` in their input: they keep the
    patched branches, markers included, and replay (the parametrized replay above)."""
    old = [p.stem for p in HISTORIES if p.stem.endswith(("one_step_searchable",
                                                         "open_at_once"))]
    assert old
    for name in old:
        assert "path" not in _started_with(name)
        assert "core_patch" in json.dumps(_events(name))


def test_a_new_case_runs_its_database_steps_without_a_round_trip_each() -> None:
    """The same scenario (a minor case, instructed, closed by itself), recorded before and
    after the opening became one local activity and the short steps local ones: the
    database steps no longer go through the task queue, and the workflow tasks fall."""
    before = _event_types("minor_closed_by_itself")
    after = _event_types("minor_closed_by_itself.open_at_once")
    scheduled = "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
    tasks = "EVENT_TYPE_WORKFLOW_TASK_COMPLETED"
    assert before.count(scheduled) == 20  # open, ledger lines, projections, link, the mail
    assert after.count(scheduled) == 1  # the resolution mail only (communications stay)
    assert after.count(tasks) * 2 < before.count(tasks)
    assert "EVENT_TYPE_MARKER_RECORDED" in after and "EVENT_TYPE_MARKER_RECORDED" not in before
