"""What the absence sweep and the backup audit (``workflows.absence``), their activities, the
data layer (``records.absence``), the schedules and the console agree on: workflow and activity
names, inputs and summaries.

Standard library only, so the workflow sandbox loads it as is; the JSON shapes are those of the
recorded histories (``tests/histories/``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

SWEEP_WORKFLOW = "AbsenceSweepWorkflow"
AUDIT_WORKFLOW = "BackupAuditWorkflow"

# Activity names (the workflows never import the activities' module).
SWEEP_ABSENCES = "sweep_absences"  # SweepRequest -> SweepSummary
WATCH_REPEATS = "watch_repeats"  # SweepRequest -> SweepSummary
AUDIT_BACKUPS = "audit_backups"  # AuditRequest -> AuditSummary
SEND_BACKUP_REPORT = "send_backup_report"  # ReportRequest -> str (what happened)


@dataclass(frozen=True)
class SweepInput:
    """``every_seconds`` 0: one sweep (a Schedule fires each one); otherwise loop, sleeping
    that long between sweeps, ``iterations`` times (0: until cancelled)."""

    every_seconds: int = 0
    iterations: int = 0


@dataclass(frozen=True)
class SweepRequest:
    at: datetime


@dataclass(frozen=True)
class SweepSummary:
    opened: int = 0  # absence cases opened (or retried until Temporal acknowledged)
    resolved: int = 0  # absence cases resolved by a return
    muted: int = 0  # absences linked to a link case instead of paging
    silenced: int = 0  # absences inside a maintenance window
    back: int = 0  # sources back to normal
    notes: int = 0  # notes written on cases (muting, repeats stopped)

    def __add__(self, other: SweepSummary) -> SweepSummary:
        return SweepSummary(*(a + b for a, b in zip(_fields(self), _fields(other), strict=True)))


def _fields(s: SweepSummary) -> tuple[int, ...]:
    return (s.opened, s.resolved, s.muted, s.silenced, s.back, s.notes)


@dataclass(frozen=True)
class BackupAuditInput:
    """``days`` (ISO dates) forces which days to audit; ``force`` audits on a closed day."""

    force: bool = False
    days: list[str] = field(default_factory=list)
    send_report: bool = True


@dataclass(frozen=True)
class AuditRequest:
    days: list[str]  # ISO dates, local days of each job's time zone
    at: datetime


@dataclass(frozen=True)
class AuditSummary:
    days: list[str] = field(default_factory=list)
    audited: int = 0  # (job, day) verdicts written
    statuses: dict[str, int] = field(default_factory=dict)
    cases_opened: int = 0
    cases_linked: int = 0  # a case the router had already opened for that result
    silenced: int = 0


@dataclass(frozen=True)
class ReportRequest:
    last_day: str  # ISO date: the report covers the 7 days ending there
    at: datetime
    focus: list[str] = field(default_factory=list)  # ISO dates whose problems are listed


@dataclass(frozen=True)
class BackupAuditResult:
    skipped: bool
    reason: str = ""
    audit: AuditSummary | None = None
    report: str = ""
