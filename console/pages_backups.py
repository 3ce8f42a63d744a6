"""The daily backup report in the console: client x job x last 7 days (3.2.2).

The same matrix the backup audit mails to the team each business morning, read through
``records.absence.backup_report``; the cell labels are the audit's own (French), and the
page is for staff only.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from console.api import svc_of
from console.auth import Principal, require
from console.web import render
from models.types import utcnow
from records.absence import backup_report

router = APIRouter()


@router.get("/backups")
async def backups_page(
    request: Request,
    day: date | None = None,
    days: int = 7,
    principal: Principal = Depends(require("queue")),
) -> Response:
    if not 1 <= days <= 31:
        raise HTTPException(422, "days : de 1 à 31")
    svc = svc_of(request)
    if day is None:  # yesterday in the team's time zone: the last day the audit judged
        day = utcnow().astimezone(ZoneInfo(svc.settings.timezone)).date() - timedelta(days=1)
    report = await run_in_threadpool(backup_report, svc.engine, day, days)
    return render(
        request,
        principal,
        "backups.html",
        report=report.as_dict(),
        day=day,
        previous=day - timedelta(days=days),
        following=day + timedelta(days=days),
    )
