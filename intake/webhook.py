"""Webhook intake beside SMTP: normalized events and Prometheus Alertmanager payloads.

Same promise as the SMTP intake: the body is validated, then stored with its outbox row
before the ``202`` answer, and routed by the same router. Each source authenticates with its
own token (stored hashed), which also tells which client the events belong to.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from intake.store import accept
from models.db import session_scope
from models.tables import Client, SourceToken
from parsers import AlertEvent
from vigie.metrics import MESSAGES_ACCEPTED, MESSAGES_REFUSED

router = APIRouter(prefix="/api")

MAX_BODY = 1_000_000


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_source_token(
    engine: Engine, name: str, client_code: str | None = None, kind: str = "event"
) -> str:
    """Creates a token for one sending source; the clear value is shown only once."""
    token = "vgs_" + secrets.token_urlsafe(32)
    with session_scope(engine) as s:
        client_id = None
        if client_code:
            client = s.exec(select(Client).where(Client.code == client_code)).first()
            if client is None:
                raise ValueError(f"client inconnu : {client_code}")
            client_id = client.id
        s.add(SourceToken(name=name, token_sha256=token_digest(token), client_id=client_id,
                          kind=kind))
    return token


def source_for(engine: Engine, authorization: str | None, kind: str) -> SourceToken:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise HTTPException(401, "Jeton de source manquant", {"WWW-Authenticate": "Bearer"})
    digest = token_digest(authorization.split(" ", 1)[1].strip())
    with Session(engine) as s:
        found = s.exec(select(SourceToken).where(SourceToken.token_sha256 == digest)).first()
    if found is None or found.kind != kind:
        raise HTTPException(403, "Jeton de source refusé")
    return found


# --- Alertmanager ------------------------------------------------------------------------------

_HEURISTICS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"heartbeat|watchdog|deadman", re.I), "heartbeat", "heartbeat"),
    (re.compile(r"disk.*(space|free|full)|filesystem.*(space|full)", re.I), "disk_space",
     "disk_free"),
    (re.compile(r"cpu|processor", re.I), "performance", "cpu"),
    (re.compile(r"memory|committed", re.I), "performance", "committed_bytes"),
    (re.compile(r"swap|pagefile|paging", re.I), "performance", "pagefile"),
    (re.compile(r"latency|rtt", re.I), "link", "latency"),
    (re.compile(r"vpn|tunnel|link.?down", re.I), "link", "vpn"),
    (re.compile(r"backup", re.I), "backup", "backup_job"),
    (re.compile(r"service|systemd|unit", re.I), "service", "service"),
    (re.compile(r"raid|fan|power|psu|temperature|battery", re.I), "hardware", "other"),
)
_SEVERITY = {"critical": "critical", "page": "critical", "error": "major", "major": "major",
             "minor": "minor", "warning": "warning", "warn": "warning", "info": "info",
             "none": "info"}


def alertmanager_events(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Alertmanager webhook (version 4) -> normalized event dicts.

    Labels ``vigie_family``, ``vigie_check`` and ``vigie_target`` map an alert exactly; else
    the alert name is matched against a small table, and what matches nothing is an
    ``unknown`` event for triage rather than a guess.
    """
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise ValueError("champ 'alerts' manquant ou invalide")
    out: list[dict[str, Any]] = []
    for alert in alerts:
        if not isinstance(alert, dict):
            raise ValueError("alerte invalide")
        labels = alert.get("labels") or {}
        ann = alert.get("annotations") or {}
        name = str(labels.get("alertname", ""))
        family, check = labels.get("vigie_family"), labels.get("vigie_check")
        if not family:
            for pattern, fam, chk in _HEURISTICS:
                if pattern.search(name):
                    family, check = fam, chk
                    break
        if not family:
            family, check = "unknown", "unknown"
        host = labels.get("host") or labels.get("hostname") or labels.get("instance")
        if host:
            host = str(host).rsplit(":", 1)[0] if str(host).count(":") == 1 else str(host)
        firing = alert.get("status", payload.get("status")) == "firing"
        status = "problem" if firing else "recovery"
        if family == "unknown":
            status = "info"
        elif family == "heartbeat":
            status = "info"
        sev = _SEVERITY.get(str(labels.get("severity", "warning")).lower(), "warning")
        out.append(
            {
                "family": family,
                "status": status,
                "host": host,
                "check": check or "unknown",
                "target": labels.get("vigie_target") or labels.get("device")
                or labels.get("name") or None,
                "severity": sev if firing else "info",
                "backup_result": None,
                "product": "alertmanager",
                "occurred_at": alert.get("startsAt") if firing else alert.get("endsAt"),
                "summary": str(ann.get("summary") or ann.get("description") or name)[:500],
                "extra": {"alertname": name, "am_fingerprint": str(alert.get("fingerprint", ""))},
            }
        )
    return out


# --- routes --------------------------------------------------------------------------------------


async def _body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise HTTPException(413, "Corps trop volumineux")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise HTTPException(422, f"JSON invalide : {exc}") from exc


def _store(engine: Engine, items: list[dict[str, Any]], source: SourceToken, kind: str,
           peer: str) -> int:
    for i, item in enumerate(items):
        try:
            AlertEvent.from_dict(item)
        except (ValueError, TypeError, KeyError) as exc:
            MESSAGES_REFUSED.labels(kind, "invalid").inc()
            raise HTTPException(422, f"événement {i} invalide : {exc}") from exc
    data = json.dumps(items, sort_keys=True, ensure_ascii=False).encode()
    result = accept(engine, data, channel=kind, client_hint_id=source.client_id,
                    mail_from=f"source:{source.name}", peer_ip=peer)
    MESSAGES_ACCEPTED.labels(kind).inc()
    return result.raw_message_id


@router.post("/events", status_code=202)
async def post_events(request: Request) -> JSONResponse:
    engine: Engine = request.app.state.services.engine
    source = await asyncio.to_thread(
        source_for, engine, request.headers.get("authorization"), "event"
    )
    body = await _body(request)
    items = body if isinstance(body, list) else [body]
    if not items or not all(isinstance(i, dict) for i in items):
        raise HTTPException(422, "Attendu : un événement ou une liste d'événements")
    peer = request.client.host if request.client else ""
    raw_id = await asyncio.to_thread(_store, engine, items, source, "webhook", peer)
    return JSONResponse({"accepted": len(items), "message": raw_id}, 202)


@router.post("/alertmanager", status_code=202)
async def post_alertmanager(request: Request) -> JSONResponse:
    engine: Engine = request.app.state.services.engine
    source = await asyncio.to_thread(
        source_for, engine, request.headers.get("authorization"), "alertmanager"
    )
    body = await _body(request)
    if not isinstance(body, dict):
        raise HTTPException(422, "Attendu : la charge utile du webhook Alertmanager")
    try:
        items = alertmanager_events(body)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    peer = request.client.host if request.client else ""
    raw_id = await asyncio.to_thread(_store, engine, items, source, "alertmanager", peer)
    return JSONResponse({"accepted": len(items), "message": raw_id}, 202)
