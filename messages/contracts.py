"""What the contract workflows, their activities and the console agree on.

Frozen dataclasses across the Temporal boundary, standard library only (the sandbox loads it
as is), like ``messages.cases`` for cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from messages.words import N_

ONBOARDING_WORKFLOW = "OnboardingWorkflow"
TERMINATION_WORKFLOW = "TerminationWorkflow"
VISIT_WORKFLOW = "VisitWorkflow"
INVALID = "InvalidContractAction"
SYSTEM = "system"


class ContractActivity(StrEnum):
    """Activity names, so that workflows call activities without importing their modules."""

    FACTS = "contract_facts"  # int -> ContractFacts
    EVENT = "contract_event"  # EventInput -> None
    SAVE_SIZING = "contract_save_sizing"  # SizingDecision -> None
    BLOCKERS = "contract_blockers"  # int -> list[str]
    SCHEDULE_ONBOARDING = "contract_schedule_onboarding"  # ScheduleInput -> int (visit id)
    PLAN_SENSORS = "contract_plan_sensors"  # int -> int
    TECHNICAL_DOCUMENT = "contract_technical_document"  # DocumentInput -> str
    EXPECTATIONS = "contract_expectations"  # ExpectationsInput -> int
    SET_STATUS = "contract_set_status"  # StatusInput -> None
    STOP_MONITORING = "contract_stop_monitoring"  # StopInput -> int
    CANCEL_VISITS = "contract_cancel_visits"  # CancelVisitsInput -> list[int]
    ERASE = "contract_erase"  # EraseInput -> str
    CLOSE_CASES = "contract_close_cases"  # CancelVisitsInput -> list[str] (closed refs)
    ENTITLEMENT = "contract_entitlement"  # ExpectationsInput -> int (visits owed)


@dataclass(frozen=True)
class ContractFacts:
    contract_id: int
    client_id: int
    users: int
    servers: int
    contracted_days: int | None
    status: str


# --- onboarding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnboardingInput:
    contract_id: int
    client_id: int
    actor: str = SYSTEM


@dataclass(frozen=True)
class DecideDuration:
    """A planner's decision on a size the contract does not cover."""

    actor: str
    days: int
    reason: str = ""


@dataclass(frozen=True)
class Activate:
    actor: str
    role: str = ""


@dataclass(frozen=True)
class ActionDone:
    accepted: bool
    state: str
    message: str = ""


@dataclass(frozen=True)
class TimelineLine:
    at: datetime
    action: str
    actor: str
    state: str
    reason: str = ""


@dataclass(frozen=True)
class OnboardingView:
    state: str
    days: int | None
    rule: str
    decided_by: str
    visit_id: int | None
    timeline: list[TimelineLine] = field(default_factory=list)


@dataclass(frozen=True)
class SizingDecision:
    contract_id: int
    days: int | None
    rule: str
    decided_by: str


@dataclass(frozen=True)
class ScheduleInput:
    contract_id: int
    client_id: int
    days: int


@dataclass(frozen=True)
class DocumentInput:
    contract_id: int
    client_id: int
    actor: str


@dataclass(frozen=True)
class ExpectationsInput:
    contract_id: int
    client_id: int
    actor: str


@dataclass(frozen=True)
class EventInput:
    contract_id: int
    key: str
    at: datetime
    action: str
    actor: str
    reason: str = ""
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusInput:
    contract_id: int
    status: str
    key: str
    at: datetime
    actor: str
    reason: str = ""
    activated: bool = False
    terminated: bool = False
    notice_received_on: str | None = None  # ISO date
    notice_effective_at: datetime | None = None
    notice_workflow_id: str = ""


# --- termination ------------------------------------------------------------------------------


class TerminationKind(StrEnum):
    NOTICE = "notice"  # formal notice for a serious breach: 20 calendar days to remedy
    IMMEDIATE = "immediate"  # unsupported software version: terminated at once


@dataclass(frozen=True)
class TerminationInput:
    contract_id: int
    client_id: int
    kind: str
    actor: str
    reason: str  # the breach described, or the unsupported version
    received_on: str | None = None  # ISO date the formal notice was received
    notice_days: int = 20
    receipt_day_counts: bool = False
    timezone: str = "Europe/Paris"
    retention_days: int = 365  # personal data kept this long after termination


@dataclass(frozen=True)
class Remedied:
    actor: str
    reason: str = ""


@dataclass(frozen=True)
class TerminationView:
    state: str
    kind: str
    effective_at: datetime | None
    erase_at: datetime | None
    timeline: list[TimelineLine] = field(default_factory=list)


@dataclass(frozen=True)
class StopInput:
    contract_id: int
    client_id: int
    actor: str
    at: datetime


@dataclass(frozen=True)
class CancelVisitsInput:
    contract_id: int
    client_id: int
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class EraseInput:
    contract_id: int
    client_id: int
    actor: str
    at: datetime


@dataclass(frozen=True)
class CancelOnboarding:
    actor: str
    reason: str = ""


# What people read for a contract process state, in French; the console shows it in the
# page's language from its catalog.
ONBOARDING_STATE_LABELS: dict[str, str] = {
    "sizing": N_("calcul de la durée"),
    "awaiting_decision": N_("décision du planificateur attendue"),
    "scheduling": N_("planification de l'installation"),
    "installing": N_("installation des sondes"),
    "active": N_("en service"),
    "cancelled": N_("annulée"),
}

