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

from datetime import date, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.absence import days_to_audit
    from domain.calendar import default_calendar

from messages.absence import (
    AUDIT_BACKUPS,
    AUDIT_WORKFLOW,
    SEND_BACKUP_REPORT,
    SWEEP_ABSENCES,
    SWEEP_WORKFLOW,
    WATCH_REPEATS,
    AuditRequest,
    AuditSummary,
    BackupAuditInput,
    BackupAuditResult,
    ReportRequest,
    SweepInput,
    SweepRequest,
    SweepSummary,
)

ACTIVITY_TIMEOUT = timedelta(minutes=2)
# Every absence activity is idempotent (dedup keys, upserts): retrying is always safe.
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
MAX_LOOPS_PER_RUN = 200  # a looping sweep continues as new well before its history is long


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
