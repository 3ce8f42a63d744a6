"""JSON API of the absence checks: expectations, proposals, silences, the backup report.

Reads need a staff member (``queue``); changes need someone who acts on cases
(``case.act``), whose user name is recorded as the author. Every route calls the plain
functions of ``records.absence`` and ``records.silences``, which the console pages use too.
Mounted by the application with ``create_app(..., extra_routers=[router])``.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from sqlmodel import SQLModel

from console.auth import Principal, require
from console.deps import Services, TemporalUnavailable
from messages.absence import AUDIT_WORKFLOW, BackupAuditInput
from models.types import utcnow
from records.absence import backup_report as build_backup_report
from records.absence import (
    confirm_expectation,
    expect_defaults,
    import_expectations_csv,
    list_expectations,
    pending_proposals,
    set_expectation_enabled,
    update_backup_job,
    upsert_expectation,
)
from records.silences import (
    SilenceRequest,
    create_silence,
    end_silence,
    list_silences,
    silence_hits,
)

router = APIRouter(prefix="/api", dependencies=[Depends(require("queue"))])
ACT = "case.act"


def _svc(request: Request) -> Services:
    return request.app.state.services


def _row(row: SQLModel) -> dict[str, Any]:
    return row.model_dump(mode="json")


def _bad(exc: Exception) -> HTTPException:
    status = 404 if isinstance(exc, LookupError) else 422
    return HTTPException(status, str(exc).strip("'\""))


# --- expectations ----------------------------------------------------------------------------


class ExpectationBody(BaseModel):
    server_id: int
    kind: str = "heartbeat"  # heartbeat | disk_report
    period_minutes: int | None = None
    grace_minutes: int | None = None
    schedule: str | None = None  # cron, disk_report
    tz: str | None = None


class BackupJobBody(BaseModel):
    schedule: str | None = None  # cron; or days + at
    days: str | None = None  # "lun-ven", "mon-fri", "lun,mer,ven"
    at: str | None = None  # "22:00"
    tz: str | None = None
    grace_minutes: int | None = None
    multi_result: str | None = None  # worst | last
    confirm: bool = False


@router.get("/expectations")
def get_expectations(
    request: Request, client_id: int | None = None, state: str | None = None
) -> list[dict[str, Any]]:
    return [
        _row(e) for e in list_expectations(_svc(request).engine, client_id=client_id, state=state)
    ]


@router.post("/expectations")
def post_expectation(
    request: Request, body: ExpectationBody, who: Principal = Depends(require(ACT))
) -> dict[str, Any]:
    try:
        exp = upsert_expectation(
            _svc(request).engine,
            body.server_id,
            body.kind,
            by=who.username,
            period_minutes=body.period_minutes,
            grace_minutes=body.grace_minutes,
            schedule=body.schedule,
            tz=body.tz,
            source="api",
        )
    except (ValueError, LookupError) as exc:
        raise _bad(exc) from exc
    return _row(exp)


@router.get("/expectations/proposals")
def get_proposals(request: Request, client_id: int | None = None) -> dict[str, Any]:
    found = pending_proposals(_svc(request).engine, client_id)
    return {
        "expectations": [_row(e) for e in found.expectations],
        "backup_jobs": [_row(j) for j in found.backup_jobs],
    }


@router.post("/expectations/defaults/{client_id:int}")
def post_defaults(
    request: Request, client_id: int, who: Principal = Depends(require(ACT))
) -> list[dict[str, Any]]:
    return [_row(e) for e in expect_defaults(_svc(request).engine, client_id, who.username)]


@router.post("/expectations/import")
async def post_import(
    request: Request, dry_run: bool = False, who: Principal = Depends(require(ACT))
) -> dict[str, Any]:
    data = await request.body()
    if len(data) > 5 * 1024 * 1024:
        raise HTTPException(413, "Fichier trop volumineux (5 Mo au plus)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPException(422, "Le fichier doit être encodé en UTF-8") from exc
    out = await asyncio.to_thread(
        import_expectations_csv, _svc(request).engine, text, by=who.username, dry_run=dry_run
    )
    return {
        "dry_run": out.dry_run,
        "created": dict(out.created),
        "errors": [{"line": n, "message": m} for n, m in out.errors],
        "applied": not out.dry_run and not out.errors,
    }


@router.post("/expectations/{expectation_id:int}/{action}")
def post_expectation_action(
    request: Request, expectation_id: int, action: str, who: Principal = Depends(require(ACT))
) -> dict[str, Any]:
    engine = _svc(request).engine
    try:
        if action == "confirm":
            exp = confirm_expectation(engine, expectation_id, who.username)
        elif action in ("enable", "disable"):
            exp = set_expectation_enabled(engine, expectation_id, action == "enable", who.username)
        else:
            raise HTTPException(404, f"Action inconnue : {action}")
    except (ValueError, LookupError) as exc:
        raise _bad(exc) from exc
    return _row(exp)


@router.post("/expectations/backup-jobs/{job_id:int}")
def post_backup_job(
    request: Request, job_id: int, body: BackupJobBody, who: Principal = Depends(require(ACT))
) -> dict[str, Any]:
    try:
        job = update_backup_job(
            _svc(request).engine,
            job_id,
            schedule=body.schedule,
            days=body.days,
            at_time=body.at,
            tz=body.tz,
            grace_minutes=body.grace_minutes,
            multi_result=body.multi_result,
            confirm=body.confirm,
        )
    except (ValueError, LookupError) as exc:
        raise _bad(exc) from exc
    return _row(job)


# --- silences --------------------------------------------------------------------------------


class SilenceBody(BaseModel):
    starts_at: datetime | None = None  # default: now
    ends_at: datetime
    reason: str = Field(min_length=1)
    client_id: int | None = None
    site_id: int | None = None
    server_id: int | None = None
    check: str | None = None


@router.get("/silences")
def get_silences(
    request: Request, client_id: int | None = None, active: bool = False
) -> list[dict[str, Any]]:
    rows = list_silences(
        _svc(request).engine, client_id=client_id, active_at=utcnow() if active else None
    )
    return [_row(r) for r in rows]


@router.post("/silences")
def post_silence(
    request: Request, body: SilenceBody, who: Principal = Depends(require(ACT))
) -> dict[str, Any]:
    try:
        sil = create_silence(
            _svc(request).engine,
            SilenceRequest(
                starts_at=body.starts_at or utcnow(),
                ends_at=body.ends_at,
                reason=body.reason,
                created_by=who.username,
                client_id=body.client_id,
                site_id=body.site_id,
                server_id=body.server_id,
                check=body.check,
            ),
        )
    except (ValueError, LookupError) as exc:
        raise _bad(exc) from exc
    return _row(sil)


@router.post("/silences/{silence_id:int}/end")
def post_end_silence(
    request: Request, silence_id: int, who: Principal = Depends(require(ACT))
) -> dict[str, Any]:
    try:
        return _row(end_silence(_svc(request).engine, silence_id, who.username))
    except LookupError as exc:
        raise _bad(exc) from exc


@router.get("/silences/{silence_id:int}/hits")
def get_silence_hits(request: Request, silence_id: int) -> list[dict[str, Any]]:
    return [_row(h) for h in silence_hits(_svc(request).engine, silence_id)]


# --- backups ---------------------------------------------------------------------------------


@router.get("/backups/report")
def get_backup_report(request: Request, day: date | None = None, days: int = 7) -> dict[str, Any]:
    """The client x job x day matrix; ``day`` is the last column (default: yesterday)."""
    if not 1 <= days <= 31:
        raise HTTPException(422, "days : de 1 à 31")
    svc = _svc(request)
    if day is None:
        from zoneinfo import ZoneInfo

        day = utcnow().astimezone(ZoneInfo(svc.settings.timezone)).date() - timedelta(days=1)
    return build_backup_report(svc.engine, day, days).as_dict()


class AuditBody(BaseModel):
    days: list[date] = Field(default_factory=list)


@router.post("/backups/audit")
async def post_backup_audit(
    request: Request, body: AuditBody, who: Principal = Depends(require(ACT))
) -> dict[str, Any]:
    """Runs the backup audit now (e.g. after fixing a schedule), for the given days."""
    svc = _svc(request)
    try:
        client = await svc.temporal()
    except TemporalUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    wid = f"backup-audit-manual-{uuid.uuid4().hex[:12]}"
    await client.start_workflow(
        AUDIT_WORKFLOW,
        BackupAuditInput(force=True, days=[d.isoformat() for d in body.days], send_report=False),
        id=wid,
        task_queue=svc.settings.task_queue,
    )
    return {"workflow_id": wid, "started_by": who.username}
