"""The case's rules split into modules of one job each (issue 25): each imports on its own, the
names ``workflows.case_machine`` always offered still resolve there, and a continue-as-new
carries and restores the same fields from one list."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from messages.cases import CarriedState, Criticality
from messages.comms import Channel, ContactOutcome
from tests.test_case_machine import (
    CAL,
    act,
    at,
    case_input,
    opened,
    problem,
    recovery,
    register,
)
from workflows import case_machine
from workflows.case_core import CaseCore
from workflows.case_intents import policy_for
from workflows.case_view import CARRIED

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["case_machine", "case_intents", "case_model", "case_refusals", "case_view",
           "case_core"]
# What the workflow and the tests import from case_machine (the state and class labels moved
# to ``messages.cases`` with the other message types: issue 25's layers).
OFFERED = ["STATES", "TRANSITIONS", "PERSON_ACTIONS",
           "NEXT_STEPS", "CONFIRM_RECOVERY", "CALL_AFTER_FALLBACK", "COMM_LABELS", "CLAUSE",
           "CaseCore", "CaseModel", "CasePolicy", "Calendar", "policy_for", "Intent", "Audit",
           "SaveSnapshot", "LinkEvent", "RegisterDemande", "TransferToL2", "SendMessage",
           "StartContact", "CancelContact", "StartL1Timer", "CancelL1Timer",
           "StartAutoCloseTimer", "CancelAutoCloseTimer", "TIMER_L1", "TIMER_AUTO_CLOSE"]


@pytest.mark.parametrize("module", MODULES)
def test_each_case_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    """No import cycle: whichever module a process meets first, it loads."""
    code = f"import workflows.{module}; from workflows.case_machine import CaseCore; CaseCore"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", OFFERED)
def test_every_name_case_machine_offered_still_resolves_there(name: str) -> None:
    value = getattr(case_machine, name)
    assert value is not None
    module = getattr(value, "__module__", None)
    if isinstance(value, type) and module != "typing":
        assert module is not None and module.startswith("workflows.case_")


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        case_machine.NOT_A_NAME  # noqa: B018


def test_the_carried_fields_are_every_field_of_the_carried_state() -> None:
    """A field added to ``CarriedState`` but not to ``CARRIED`` would be silently dropped
    at each continue-as-new; ``client_code`` is the workflow's own (search attribute)."""
    names = {f.name for f in fields(CarriedState)}
    assert names - {"client_code"} == {*CARRIED, "state", "next_seq"}


def test_a_resumed_case_carries_exactly_what_it_was_handed() -> None:
    core, _ = opened()
    act(core, "classify", at(1), criticality=Criticality.MAJOR)
    register(core, at=at(2))
    core.alert(problem(3, 3))
    act(core, "record_contact", at(4), channel=Channel.PHONE, outcome=ContactOutcome.REACHED)
    act(core, "start_l1", at(5))
    core.alert(recovery(4, 6))
    carried = core.carry()
    assert carried.seen_event_ids and carried.comm_counts and carried.contact_runs
    assert carried.last_recovery_at and carried.recovered and carried.l1_deadline
    inp = case_input(carried_state=carried)
    resumed, _ = CaseCore.resume(inp, carried, policy_for(inp, CAL))
    assert resumed.carry() == carried and resumed.view() == core.view()
    # copies, not the same lists: the next run's events never write into the carried state
    assert resumed.model.timeline is not carried.timeline
    assert resumed.model.seen_event_ids is not carried.seen_event_ids
