"""The absence checks as workflows: the sweep (heartbeats, disk reports, stopped repeats) and
the business-morning backup audit. Temporal Schedules fire them (``vigie.schedules``).

Both are thin: all reading and writing is in ``records.absence``, and the instant they
judge is ``workflow.now()`` handed to the activities, so a time-skipping test and a Schedule
see the same behaviour. The flow, as data:

=====================  ===============================================================
workflow               steps
=====================  ===============================================================
AbsenceSweepWorkflow   sweep_absences(now) -> watch_repeats(now); once per Schedule
                       firing, or in a loop every ``every_seconds`` when given (tests,
                       a deployment without Schedules), continuing as new when long
BackupAuditWorkflow    not a business day (team calendar) -> skipped, unless forced;
                       audit_backups(days since the previous business day, now)
                       -> send_backup_report(yesterday, now)
=====================  ===============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.absence import days_to_audit
    from domain.calendar import default_calendar

SWEEP_WORKFLOW = "AbsenceSweepWorkflow"
AUDIT_WORKFLOW = "BackupAuditWorkflow"

# Activity names (the workflows never import the activities' module).
SWEEP_ABSENCES = "sweep_absences"  # SweepRequest -> SweepSummary
WATCH_REPEATS = "watch_repeats"  # SweepRequest -> SweepSummary
AUDIT_BACKUPS = "audit_backups"  # AuditRequest -> AuditSummary
SEND_BACKUP_REPORT = "send_backup_report"  # ReportRequest -> str (what happened)

ACTIVITY_TIMEOUT = timedelta(minutes=2)
# Every absence activity is idempotent (dedup keys, upserts): retrying is always safe.
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
MAX_LOOPS_PER_RUN = 200  # a looping sweep continues as new well before its history is long


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


async def _run(name: str, arg: object, result_type: type) -> object:
    return await workflow.execute_activity(
        name, arg, result_type=result_type,
        start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY,
    )


@workflow.defn(name=SWEEP_WORKFLOW)
class AbsenceSweepWorkflow:
    """Finds the late sources and the stopped repeats, and acts on them (via activities)."""

    @workflow.run
    async def run(self, inp: SweepInput) -> SweepSummary:
        total = SweepSummary()
        loops = 0
        while True:
            req = SweepRequest(at=workflow.now())
            swept = await _run(SWEEP_ABSENCES, req, SweepSummary)
            watched = await _run(WATCH_REPEATS, req, SweepSummary)
            assert isinstance(swept, SweepSummary) and isinstance(watched, SweepSummary)
            total = total + swept + watched
            loops += 1
            if inp.every_seconds <= 0 or (inp.iterations and loops >= inp.iterations):
                return total
            if loops >= MAX_LOOPS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                left = inp.iterations - loops if inp.iterations else 0
                workflow.continue_as_new(SweepInput(inp.every_seconds, left))
            await workflow.sleep(timedelta(seconds=inp.every_seconds))


@workflow.defn(name=AUDIT_WORKFLOW)
class BackupAuditWorkflow:
    """Each business morning: the day's verdict of every expected job, cases, the report."""

    @workflow.run
    async def run(self, inp: BackupAuditInput) -> BackupAuditResult:
        calendar = default_calendar()
        now = workflow.now()
        today = calendar.to_local(now).date()
        if not inp.force and not calendar.is_business_day(today):
            return BackupAuditResult(skipped=True, reason=f"{today} n'est pas un jour ouvré")
        days = list(inp.days) or [
            d.isoformat() for d in days_to_audit(today, calendar.is_business_day)
        ]
        audit = await _run(AUDIT_BACKUPS, AuditRequest(days=days, at=now), AuditSummary)
        assert isinstance(audit, AuditSummary)
        report = ""
        if inp.send_report:
            last = max(date.fromisoformat(d) for d in days) if days else today
            sent = await _run(SEND_BACKUP_REPORT,
                              ReportRequest(last_day=last.isoformat(), at=now, focus=days), str)
            report = str(sent)
        return BackupAuditResult(skipped=False, audit=audit, report=report)
