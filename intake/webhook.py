"""Webhook intake beside SMTP: normalized events and Prometheus Alertmanager payloads.

Same promise as the SMTP intake: the body is validated, then stored with its outbox row
before the ``202`` answer, and routed by the same router. Every request is bounded before it
costs anything: its size (read as a stream, ``413`` at the limit), its JSON nesting and its
number of events (``422``/``413``, the whole request refused, nothing stored). Each source
authenticates with its own token (stored hashed), which also tells which client the events
belong to.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import secrets
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from base.metrics import MESSAGES_ACCEPTED, MESSAGES_REFUSED
from domain import sensors
from intake.store import accept
from models.db import session_scope
from models.tables import Client, SourceToken
from models.types import utcnow
from parsers import AlertEvent

router = APIRouter(prefix="/api")


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


def alertmanager_events(payload: dict[str, Any],
                        received_at: datetime | None = None) -> list[dict[str, Any]]:
    """Alertmanager webhook (version 4) -> normalized event dicts.

    Labels ``vigie_family``, ``vigie_check`` and ``vigie_target`` map an alert exactly (the
    contract's sensor rules, ``deploy/preventcare/``, set them; their alert names alone also
    map, through ``domain/sensors.py``); else the alert name is matched against a small table,
    and what matches nothing is an ``unknown`` event for triage rather than a guess.

    A heartbeat is news each time it arrives: Alertmanager re-sends the always-firing alert
    unchanged, so its event carries ``received_at`` (else the re-send would be stored as a
    duplicate and the heartbeat watch would see one beat only). A *resolved* heartbeat or
    event-log alert is not an event: the beat stopped (the absence watch says so) and an
    event-log entry has no recovery.

    Each event keeps its alert's identity (``extra["am_key"]``, :func:`alert_identity`):
    Alertmanager re-sends the whole group whenever one alert of it changes, so the router
    deduplicates per alert, not per payload (issue 21, finding 11).
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
        sensor = None if family else sensors.BY_ALERT.get(name)
        if sensor is not None:  # a sensor rule whose vigie_* labels were dropped
            family, check = sensor.family, sensor.check
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
        if not firing and family in _NO_RECOVERY:
            continue
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
                "value": _number(ann.get("value")) if firing else None,
                "threshold": _number(ann.get("threshold")) if firing else None,
                "occurred_at": alert.get("startsAt") if firing else alert.get("endsAt"),
                "summary": str(ann.get("summary") or ann.get("description") or name)[:500],
                "extra": {"alertname": name, "am_fingerprint": str(alert.get("fingerprint", "")),
                          "am_key": alert_identity(alert, firing)},
            }
        )
        if family == "heartbeat" and received_at is not None:
            out[-1]["occurred_at"] = None  # the beat is its receipt, as for a mail
            out[-1]["extra"]["received_at"] = received_at.isoformat()
            # every delivery of the always-firing heartbeat is a beat: no per-alert identity,
            # else the router would take a re-send for a duplicate and the watch would starve
            out[-1]["extra"].pop("am_key", None)
    return out


# families whose resolved notification is no event (see alertmanager_events)
_NO_RECOVERY = frozenset(s.family for s in sensors.SENSORS if not s.resolves)


def _number(text: Any) -> float | None:
    """An annotation's number (the sensor rules write ``value`` and ``threshold``)."""
    try:
        number = float(str(text).strip().replace(",", "."))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def alert_identity(alert: dict[str, Any], firing: bool) -> str:
    """What makes one Alertmanager notification of an alert the same as another: its
    fingerprint (a hash of its labels; the sorted labels when a sender gives none), its
    status, ``startsAt`` and ``endsAt``. Annotations are left out: they carry the latest
    value and change with every evaluation of a still-firing alert. Alertmanager zeroes a
    firing alert's ``endsAt``, so the key of an alert that keeps firing does not move."""
    fingerprint = str(alert.get("fingerprint") or "") or "labels:" + hashlib.sha256(
        json.dumps(alert.get("labels") or {}, sort_keys=True, default=str).encode()
    ).hexdigest()[:16]
    status = "firing" if firing else "resolved"
    return "|".join((fingerprint, status, str(alert.get("startsAt") or ""),
                     str(alert.get("endsAt") or "")))[:500]


# --- routes --------------------------------------------------------------------------------------


class _Limits:
    """The webhook's bounds, from the settings (``VIGIE_WEBHOOK_MAX_*``)."""

    def __init__(self, request: Request) -> None:
        settings = request.app.state.services.settings
        self.bytes: int = settings.webhook_max_bytes
        self.depth: int = settings.webhook_max_depth
        self.events: int = settings.webhook_max_events


async def _body(request: Request, limits: _Limits) -> Any:
    """The JSON body, read as a stream that stops at the limit: a declared length over it is
    refused before a byte is read, and a chunked or lying body as soon as it passes it, so a
    huge POST costs at most the limit in memory. Nesting is bounded too (the parser recurses:
    a deep body would otherwise end as a 500 ``RecursionError``)."""
    too_big = HTTPException(413, f"Corps trop volumineux (plus de {limits.bytes} octets)")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise HTTPException(400, "En-tête Content-Length invalide")
        if int(declared) > limits.bytes:
            raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.bytes:
            raise too_big
        chunks.append(chunk)
    try:
        data = json.loads(b"".join(chunks))
    except RecursionError as exc:
        raise HTTPException(422, f"JSON trop imbriqué (au plus {limits.depth} niveaux)") from exc
    except ValueError as exc:
        raise HTTPException(422, f"JSON invalide : {exc}") from exc
    if depth_of(data) > limits.depth:
        raise HTTPException(422, f"JSON trop imbriqué (au plus {limits.depth} niveaux)")
    return data


def depth_of(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
    return deepest


def _check_count(count: int, limits: _Limits) -> None:
    """Refuses the whole request over the cap, before anything is validated or stored."""
    if count > limits.events:
        raise HTTPException(
            413, f"Trop d'événements dans une requête ({count} > {limits.events}) : "
            "envoyez-les en plusieurs requêtes (Alertmanager : max_alerts)")


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
    limits = _Limits(request)
    body = await _body(request, limits)
    items = body if isinstance(body, list) else [body]
    _check_count(len(items), limits)
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
    limits = _Limits(request)
    body = await _body(request, limits)
    if not isinstance(body, dict):
        raise HTTPException(422, "Attendu : la charge utile du webhook Alertmanager")
    alerts = body.get("alerts")
    _check_count(len(alerts) if isinstance(alerts, list) else 0, limits)
    try:
        items = alertmanager_events(body, received_at=utcnow())
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    peer = request.client.host if request.client else ""
    raw_id = await asyncio.to_thread(_store, engine, items, source, "alertmanager", peer)
    return JSONResponse({"accepted": len(items), "message": raw_id}, 202)
