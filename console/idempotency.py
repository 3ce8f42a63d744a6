"""Idempotent actions: a repeated POST gets the first answer, the action is not done twice
(issue 21, finding 10: a note posted while its worker died, the answer lost, retried by the
technician, made two notes).

How a request carries its key:
* every form the console renders has a hidden ``idempotency_key``, written by the same
  ``{{ csrf_field }}`` that writes the CSRF token (``console.web``), fresh for each form of
  each page: no template names it;
* an API call sends an ``Idempotency-Key`` header (8 to 80 letters, digits, ``-_.:``).
A POST without a key runs as before (automation written before keys existed keeps working).

What the console does with it (per caller: a key is the caller's own):
1. :func:`idempotency_guard`, a dependency of the whole application after the CSRF check,
   claims the key in ``idempotent_request`` (``pending``, with a lease) before the route runs;
2. :class:`IdempotencyRecorder`, an ASGI middleware, holds the route's answer back until it
   is written on that row (``done``), then sends it. A 5xx, or an answer the route marks
   :func:`not_final` (Temporal was down), releases the key instead: a retry runs again;
3. a repeat with the same key and the same request is answered from the row (a redirect to
   the same place, or the same JSON), marked ``Idempotent-Replayed: true``; while the first
   is still running the repeat waits for it; the same key with another request is a 422.
4. If the process dies between the action and the answer, the row stays ``pending``: once
   its lease (``VIGIE_IDEMPOTENCY_LEASE_SECONDS``) is over a repeat takes it over and runs
   the route again, and the route asks the case workflow for the update with the same id
   (:func:`update_id`), which Temporal answers with the first update's outcome instead of
   running it twice. That is what makes a note, a recorded contact or instructions happen
   once even then.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.access import MACHINE, PUBLIC, policy_for
from console.auth import get_principal
from models.idempotency import IdempotentRequest
from models.types import utcnow

log = logging.getLogger("vigie.console")

KEY_FIELD = "idempotency_key"
KEY_HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_RE = re.compile(r"[A-Za-z0-9_.:-]{8,80}")
SLOT = "vigie.idempotency"  # the scope entry the guard and the recorder share
MAX_STORED_BODY = 1_000_000  # bytes of an answer kept for a repeat
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
PURGE_EVERY_S = 300.0
_last_purge = 0.0


def new_key() -> str:
    return secrets.token_urlsafe(18)


def key_field() -> str:
    """The hidden input of one form (a fresh key each time it is written)."""
    return f'<input type="hidden" name="{KEY_FIELD}" value="{new_key()}">'


@dataclass(frozen=True)
class Claim:
    row_id: int
    update_id: str


class Replayed(Exception):
    """The key was answered before: the application's handler sends that answer again."""

    def __init__(self, row: IdempotentRequest) -> None:
        super().__init__(row.key)
        self.row = row


def update_id(request: Request, action: str) -> str | None:
    """The workflow update id for ``action`` under this request's key (None without a key):
    the same key asks Temporal for the same update, which it runs once."""
    slot = request.scope.get(SLOT)
    claim = slot.get("claim") if isinstance(slot, dict) else None
    return f"{action}-{claim.update_id}" if claim is not None else None


def not_final(request: Request) -> None:
    """The answer is not the action's outcome (Temporal down, no answer in time): the key is
    released rather than kept, so the same form sent again really retries."""
    slot = request.scope.get(SLOT)
    if isinstance(slot, dict):
        slot["final"] = False


# --- the guard: claim before the route runs ---------------------------------------------------


async def _key_of(request: Request) -> str | None:
    key = request.headers.get(KEY_HEADER)
    if key is None and request.headers.get("content-type", "").startswith(FORM_TYPES):
        try:
            await request.body()  # kept: a route that reads the raw body still finds it
        except RuntimeError:
            pass  # already parsed by FastAPI for the route's Form() parameters
        value = (await request.form()).get(KEY_FIELD)
        key = value if isinstance(value, str) else None
    if key is None:
        return None
    if not KEY_RE.fullmatch(key):
        raise HTTPException(422, "Clé d'idempotence invalide (8 à 80 lettres, chiffres, - _ . :)")
    return key


async def _fingerprint(request: Request) -> str:
    """What the request asks: method, path, query and body (a form by its fields, since a
    browser draws a new multipart boundary each time it sends the same form)."""
    digest = hashlib.sha256(f"{request.method}\0{request.url.path}\0{request.url.query}\0"
                            .encode())
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        for name, value in (await request.form()).multi_items():
            if isinstance(value, str):
                digest.update(f"{name}={value}\0".encode())
            else:  # an uploaded file: its name and content
                content = await value.read()
                await value.seek(0)
                digest.update(f"{name}@{value.filename}\0".encode())
                digest.update(hashlib.sha256(content).digest())
    else:
        digest.update(await request.body())
    return digest.hexdigest()


async def idempotency_guard(request: Request) -> None:
    """Global dependency: claims a keyed POST of a signed-in caller, or answers a repeat."""
    slot = request.scope.get(SLOT)
    if request.method != "POST" or not isinstance(slot, dict):
        return
    route = request.scope.get("route")
    policy = policy_for("POST", getattr(route, "path", "") or "")
    if policy is None or policy == PUBLIC or policy in MACHINE:
        return  # sign-in, Twilio, webhooks, signed links: their own deduplication
    key = await _key_of(request)
    principal = await get_principal(request)
    if key is None or principal is None:
        return
    actor = f"user:{principal.user_id}" if principal.user_id is not None else principal.username
    fingerprint = await _fingerprint(request)
    svc = request.app.state.services
    lease = timedelta(seconds=svc.settings.idempotency_lease_seconds)
    deadline = time.monotonic() + lease.total_seconds() + 5
    while True:
        outcome, found = await asyncio.to_thread(
            claim, svc.engine, actor, key, request.url.path, fingerprint, lease,
            timedelta(hours=svc.settings.idempotency_keep_hours))
        if outcome == "run":
            assert isinstance(found, int)
            token = hashlib.sha256(f"{actor}\0{key}".encode()).hexdigest()[:40]
            slot["claim"] = Claim(found, token)
            return
        if outcome == "replay":
            assert isinstance(found, IdempotentRequest)
            raise Replayed(found)
        if outcome == "conflict":
            raise HTTPException(422, "Clé d'idempotence déjà employée pour une autre requête :"
                                     " rechargez la page")
        if time.monotonic() > deadline:
            raise HTTPException(409, "Cette action est encore en cours : réessayez sous peu")
        await asyncio.sleep(0.2)


def claim(engine: Engine, actor: str, key: str, path: str, fingerprint: str,
          lease: timedelta, keep: timedelta) -> tuple[str, IdempotentRequest | int | None]:
    """One try at the key: ``run`` (ours now: the row id), ``replay`` (the done row),
    ``conflict`` (another request's key), or ``wait`` (another request holds it)."""
    now = utcnow()
    _purge(engine, now - keep)
    with Session(engine, expire_on_commit=False) as s:
        row = IdempotentRequest(actor=actor, key=key, method="POST", path=path[:400],
                                fingerprint=fingerprint, lease_until=now + lease)
        s.add(row)
        try:
            s.commit()
            return "run", row.id
        except IntegrityError:
            s.rollback()
        found = s.exec(select(IdempotentRequest).where(
            IdempotentRequest.actor == actor, IdempotentRequest.key == key)).first()
        if found is None:
            return "wait", None  # released just now: the next try inserts it
        if found.fingerprint != fingerprint:
            return "conflict", None
        if found.state == "done":
            return "replay", found
        if found.lease_until > now:
            return "wait", None
        # its process died between the action and the answer: take it over
        taken = s.exec(update(IdempotentRequest).where(  # type: ignore[call-overload]
            col(IdempotentRequest.id) == found.id, col(IdempotentRequest.state) == "pending",
            col(IdempotentRequest.lease_until) == found.lease_until,
        ).values(lease_until=now + lease))
        s.commit()
        if taken.rowcount:
            log.warning("idempotence : clé %s reprise après un bail expiré (%s)", key, path)
            return "run", found.id
        return "wait", None


def _purge(engine: Engine, before: Any) -> None:
    """Old answers go (every few minutes per process): a key is for retries, not forever."""
    global _last_purge
    if time.monotonic() - _last_purge < PURGE_EVERY_S:
        return
    _last_purge = time.monotonic()
    with Session(engine) as s:
        s.exec(delete(IdempotentRequest).where(  # type: ignore[call-overload]
            col(IdempotentRequest.created_at) < before))
        s.commit()


def record_done(engine: Engine, row_id: int, status: int, content_type: str, location: str,
                body: bytes | None) -> None:
    with Session(engine) as s:
        row = s.get(IdempotentRequest, row_id)
        if row is None:
            return
        row.state, row.status = "done", status
        row.content_type, row.location, row.body = content_type[:200], location[:2000], body
        s.add(row)
        s.commit()


def release(engine: Engine, row_id: int) -> None:
    with Session(engine) as s:
        s.exec(delete(IdempotentRequest).where(  # type: ignore[call-overload]
            col(IdempotentRequest.id) == row_id, col(IdempotentRequest.state) == "pending"))
        s.commit()


def replay(row: IdempotentRequest) -> Response:
    """The first answer again (a redirect to the same place, the same JSON or page)."""
    headers = {REPLAYED_HEADER: "true"}
    if row.location:
        headers["location"] = row.location
    if row.body is None and not row.location and row.status and row.status < 400:
        return Response(b'{"detail": "Action d\\u00e9j\\u00e0 faite"}', 409, headers=headers,
                        media_type="application/json")
    return Response(row.body or b"", row.status or 200, headers=headers,
                    media_type=row.content_type or None)


# --- the recorder: the answer is written before it is sent -----------------------------------


class IdempotencyRecorder:
    """Pure ASGI middleware around the application: for a POST it opens the slot the guard
    fills; when the guard claimed a key, the answer is stored (or the key released) before
    it goes out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        slot: dict[str, Any] = {}
        scope[SLOT] = slot
        start: Message | None = None
        chunks: list[bytes] = []

        async def held(message: Message) -> None:
            nonlocal start
            claimed = slot.get("claim")
            if claimed is None or slot.get("sent"):
                await send(message)
                return
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            slot["sent"] = True
            await self._finish(scope, slot, claimed, start, b"".join(chunks))
            await send(start)
            await send({"type": "http.response.body", "body": b"".join(chunks)})

        try:
            await self.app(scope, receive, held)
        except BaseException:
            claimed = slot.get("claim")
            if claimed is not None and not slot.get("sent"):
                await asyncio.to_thread(release, _engine(scope), claimed.row_id)
            raise

    async def _finish(self, scope: Scope, slot: dict[str, Any], claimed: Claim,
                      start: Message, body: bytes) -> None:
        status = int(start["status"])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in start.get("headers", [])}
        engine = _engine(scope)
        try:
            content_type, location = headers.get("content-type", ""), headers.get("location", "")
            kept: bytes | None = body if len(body) <= MAX_STORED_BODY else None
            if status < 300 and content_type.startswith("text/html"):
                # a page drawn for this answer may hold what is shown once (a new API
                # token): never kept; a repeat is sent to the same place, read afresh
                status, location, kept = 303, str(scope.get("path", "/")), None
            if status >= 500 or slot.get("final") is False:
                await asyncio.to_thread(release, engine, claimed.row_id)
            else:
                await asyncio.to_thread(record_done, engine, claimed.row_id, status,
                                        content_type, location, kept)
        except Exception:  # the answer still goes out; the lease lets a retry take over
            log.exception("idempotence : réponse non enregistrée (%s)", scope.get("path"))


def _engine(scope: Scope) -> Engine:
    return scope["app"].state.services.engine  # type: ignore[no-any-return]
