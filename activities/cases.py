"""The case's database steps as Temporal activities: thin wrappers over :mod:`records.cases`.

Every one is idempotent there: a retry after a crash (worker killed after the commit but
before Temporal heard of it) finds its own earlier write and returns the same answer.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from temporalio import activity

from base.metrics import CASES_OPENED
from messages.cases import (
    ActivityName,
    AuditInput,
    CaseSnapshot,
    DemandeInput,
    DemandeResult,
    LinkEventInput,
    OpenCaseInput,
    OpenCaseResult,
    OpeningInput,
    TransferInput,
)
from records import cases
from records.cases import case_ref, demande_ref

__all__ = ["CaseActivities", "case_ref", "demande_ref"]


class CaseActivities:
    """Holds the engine so tests and the worker can point the same code at any database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def all(self) -> list:
        return [
            self.open_case_at_once,
            self.open_case,
            self.append_audit,
            self.save_case,
            self.link_event,
            self.register_demande,
            self.transfer_to_level2,
        ]

    @activity.defn(name=ActivityName.OPEN_CASE)
    def open_case(self, inp: OpenCaseInput) -> OpenCaseResult:
        """The opening step of case runs started before ``open_case_at_once`` (replayed
        histories, and ``VIGIE_CASE_OPENING=legacy`` for measurement)."""
        result, created = cases.open_case(self.engine, inp)
        if created:
            CASES_OPENED.inc()
        return result

    @activity.defn(name=ActivityName.APPEND_AUDIT)
    def append_audit(self, inp: AuditInput) -> None:
        cases.append_audit(self.engine, inp)

    @activity.defn(name=ActivityName.SAVE_CASE)
    def save_case(self, snap: CaseSnapshot) -> None:
        cases.save_case(self.engine, snap)

    @activity.defn(name=ActivityName.LINK_EVENT)
    def link_event(self, inp: LinkEventInput) -> None:
        cases.link_event(self.engine, inp)

    @activity.defn(name=ActivityName.REGISTER_DEMANDE)
    def register_demande(self, inp: DemandeInput) -> DemandeResult:
        return cases.register_demande(self.engine, inp)

    @activity.defn(name=ActivityName.TRANSFER_TO_LEVEL2)
    def transfer_to_level2(self, inp: TransferInput) -> None:
        cases.transfer_to_level2(self.engine, inp)

    @activity.defn(name=ActivityName.OPEN_CASE_AT_ONCE)
    def open_case_at_once(self, inp: OpeningInput) -> OpenCaseResult:
        """Run as a local activity by new case runs: the case is on the console when the
        first workflow task ends."""
        result, created = cases.open_case_at_once(self.engine, inp)
        if created:
            CASES_OPENED.inc()
        return result
