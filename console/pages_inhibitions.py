"""The administrators' inhibition rules page: list, create, extend or rename, revoke, and the
rules' audit log. The rules themselves live in ``records.inhibitions``; this only calls it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.auth import Principal, require, set_flash
from console.deps import Services
from console.web import redirect, render
from models.types import utcnow
from records import inhibitions

router = APIRouter(prefix="/admin/inhibitions", dependencies=[Depends(require("admin"))])
BACK = "/admin/inhibitions"


def _svc(request: Request) -> Services:
    return request.app.state.services


async def _form(request: Request) -> dict[str, str]:
    return {k: v.strip() for k, v in (await request.form()).items() if isinstance(v, str)}


def _local(raw: str, tz: str) -> datetime:
    """A ``datetime-local`` value, read in the team's time zone."""
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=ZoneInfo(tz))
    except ValueError:
        raise ValueError(f"Date et heure invalides : {raw}") from None


def _call(request: Request, principal: Principal, work: Callable[[], str]) -> Response:
    """One change; its result or the reason it was refused, flashed (never a 500)."""
    try:
        message = "ok:" + work()
    except (ValueError, LookupError) as exc:
        message = f"err:{exc}"
    set_flash(_svc(request), principal, message)
    return redirect(BACK)


@router.get("")
def inhibitions_page(request: Request,
                     principal: Principal = Depends(require("admin"))) -> Response:
    engine = _svc(request).engine
    now = utcnow()
    rules = inhibitions.list_rules(engine)
    status = {r.id: ("révoquée" if r.revoked_at else "échue" if r.expires_at <= now
                     else "en vigueur") for r in rules}
    return render(request, principal, "admin/inhibitions.html", rules=rules, status=status,
                  audit=inhibitions.audit_of(engine)[:200], equals=inhibitions.EQUALS)


@router.post("")
async def inhibition_create(request: Request,
                            principal: Principal = Depends(require("admin"))) -> Response:
    form = await _form(request)
    svc = _svc(request)

    def work() -> str:
        rule = inhibitions.create_rule(svc.engine, inhibitions.RuleRequest(
            name=form.get("name", ""),
            expires_at=_local(form.get("expires", ""), svc.settings.timezone),
            created_by=principal.username,
            source_family=form.get("source_family", ""),
            source_check=form.get("source_check", ""),
            target_family=form.get("target_family", ""),
            target_check=form.get("target_check", ""),
            equal=form.get("equal", "client"),
            client_code=form.get("client_code", ""),
        ))
        return f"Règle d'inhibition n° {rule.id} enregistrée."

    return _call(request, principal, work)


@router.post("/{rule_id:int}/edit")
async def inhibition_edit(request: Request, rule_id: int,
                          principal: Principal = Depends(require("admin"))) -> Response:
    form = await _form(request)
    svc = _svc(request)

    def work() -> str:
        expires = form.get("expires", "")
        inhibitions.edit_rule(svc.engine, rule_id, principal.username,
                              name=form.get("name") or None,
                              expires_at=_local(expires, svc.settings.timezone)
                              if expires else None)
        return f"Règle d'inhibition n° {rule_id} modifiée."

    return _call(request, principal, work)


@router.post("/{rule_id:int}/revoke")
def inhibition_revoke(request: Request, rule_id: int,
                      principal: Principal = Depends(require("admin"))) -> Response:
    engine = _svc(request).engine

    def work() -> str:
        inhibitions.revoke_rule(engine, rule_id, principal.username)
        return f"Règle d'inhibition n° {rule_id} révoquée."

    return _call(request, principal, work)
