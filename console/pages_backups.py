"""The daily backup report in the console: client x job x last 7 days (3.2.2).

The same matrix the backup audit mails to the team each business morning, read through
``records.absence.backup_report``. Each cell says what was received (result and time) and
links to its case, or to the result's message; a day due before the job was known is blank.
The last column is today (the audit judges up to yesterday; today's results show as they
come). Staff only.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from console.api import svc_of
from console.auth import Principal, require
from console.web import lang_of, local_time, render
from models.types import utcnow
from records.absence import backup_report

router = APIRouter()
WEEKDAYS = {
    "fr": ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}


def _day_label(iso: str, lang: str) -> str:
    d = date.fromisoformat(iso)
    return f"{WEEKDAYS.get(lang, WEEKDAYS['fr'])[d.weekday()]} {d:%d/%m}"


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
    if day is None:  # today in the team's time zone: what came in today is in the matrix
        day = utcnow().astimezone(ZoneInfo(svc.settings.timezone)).date()
    report = await run_in_threadpool(backup_report, svc.engine, day, days)
    tz = svc.settings.timezone
    return render(
        request,
        principal,
        "backups.html",
        report=report.as_dict(),
        day_label=lambda iso: _day_label(iso, lang_of(request)),
        at_local=lambda iso: local_time(datetime.fromisoformat(iso), tz, "day_time",
                                        lang_of(request)),
        day=day,
        previous=day - timedelta(days=days),
        following=day + timedelta(days=days),
    )
