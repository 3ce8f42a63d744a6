"""The Temporal Schedules that fire the absence checks, created or updated at worker start.

Three schedules, declared here as data and applied idempotently by :func:`ensure_schedules`
(every worker may call it: the first creates, the others update to the same definition, and
a schedule a person paused stays paused):

* ``vigie-absence-sweep``: every ``VIGIE_ABSENCE_SWEEP_SECONDS`` (60 s), one
  ``AbsenceSweepWorkflow`` (heartbeats, disk reports, stopped repeats). Overlaps are skipped:
  a slow sweep is never doubled.
* ``vigie-erasure`` (issue 20): every ``VIGIE_ERASURE_SCHEDULE_HOURS`` (24), one
  ``ErasureSweepWorkflow`` erasing the terminated clients past the retention.
* ``vigie-backup-audit``: Monday to Friday at ``VIGIE_BACKUP_AUDIT_AT`` (08:30) in
  ``VIGIE_TIMEZONE``; the workflow itself skips public holidays (team calendar) and audits
  every day since the previous business day. A worker down at 08:30 still audits when it
  comes back within six hours (catch-up window).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from base.settings import Settings
from messages.absence import AUDIT_WORKFLOW, SWEEP_WORKFLOW, BackupAuditInput, SweepInput
from messages.erasure import ERASURE_WORKFLOW, ErasureSweepInput

log = logging.getLogger(__name__)

SWEEP_SCHEDULE_ID = "vigie-absence-sweep"
AUDIT_SCHEDULE_ID = "vigie-backup-audit"
ERASURE_SCHEDULE_ID = "vigie-erasure"


def _hour_minute(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d{1,2})[:h](\d{2})\s*", text)
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise ValueError(f"VIGIE_BACKUP_AUDIT_AT invalide : {text!r} (HH:MM)")
    return int(m[1]), int(m[2])


def desired_schedules(settings: Settings) -> dict[str, Schedule]:
    """The schedules this deployment wants, by id (pure: testable without Temporal)."""
    if settings.absence_sweep_seconds < 10:
        raise ValueError("VIGIE_ABSENCE_SWEEP_SECONDS : 10 secondes au moins")
    hour, minute = _hour_minute(settings.backup_audit_at)
    sweep = Schedule(
        action=ScheduleActionStartWorkflow(
            SWEEP_WORKFLOW,
            SweepInput(),
            id=f"{SWEEP_SCHEDULE_ID}-run",
            task_queue=settings.task_queue,
            execution_timeout=timedelta(minutes=10),
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.absence_sweep_seconds))]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP,
                              catchup_window=timedelta(minutes=5)),
    )
    audit = Schedule(
        action=ScheduleActionStartWorkflow(
            AUDIT_WORKFLOW,
            BackupAuditInput(),
            id=f"{AUDIT_SCHEDULE_ID}-run",
            task_queue=settings.task_queue,
            execution_timeout=timedelta(hours=2),
        ),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(
                hour=[ScheduleRange(hour)],
                minute=[ScheduleRange(minute)],
                day_of_week=[ScheduleRange(1, 5)],  # Monday-Friday; holidays: the workflow
                comment="matin ouvré : audit des sauvegardes",
            )],
            time_zone_name=settings.timezone,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP,
                              catchup_window=timedelta(hours=6)),
    )
    if settings.erasure_schedule_hours < 1:
        raise ValueError("VIGIE_ERASURE_SCHEDULE_HOURS : 1 heure au moins")
    erasure = Schedule(  # issue 20: expired personal data erased by itself
        action=ScheduleActionStartWorkflow(
            ERASURE_WORKFLOW,
            ErasureSweepInput(),
            id=f"{ERASURE_SCHEDULE_ID}-run",
            task_queue=settings.task_queue,
            execution_timeout=timedelta(hours=2),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(
            every=timedelta(hours=settings.erasure_schedule_hours))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP,
                              catchup_window=timedelta(hours=settings.erasure_schedule_hours)),
    )
    return {SWEEP_SCHEDULE_ID: sweep, AUDIT_SCHEDULE_ID: audit, ERASURE_SCHEDULE_ID: erasure}


async def ensure_schedules(client: Client, settings: Settings) -> list[str]:
    """Creates the missing schedules and brings the others to the desired definition."""
    done = []
    for schedule_id, wanted in desired_schedules(settings).items():
        try:
            await client.create_schedule(schedule_id, wanted)
            log.info("schedules: %s créé", schedule_id)
        except ScheduleAlreadyRunningError:
            def keep_state(inp: ScheduleUpdateInput, wanted: Schedule = wanted) -> ScheduleUpdate:
                # a schedule paused by a person (with its note) stays paused
                return ScheduleUpdate(
                    schedule=dataclasses.replace(wanted, state=inp.description.schedule.state)
                )

            await client.get_schedule_handle(schedule_id).update(keep_state)
            log.info("schedules: %s mis à jour", schedule_id)
        done.append(schedule_id)
    return done
