"""Silences (maintenance windows): create, end, list, and find the one covering an event.

A silenced event is still recorded (triage ``silenced``, one ``silence_hit`` line naming the
silence): it opens no case and pages nobody. Only problems are silenced: a heartbeat, a
successful backup or a recovery during the window still counts, so a case opened before the
window can still end. The absence checks ask the same question through :func:`covering`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from domain.absence import SilenceScope, silence_covers
from models.db import session_scope
from models.expectations import Silence, SilenceHit
from models.tables import AlertEventRow, Server, Site
from models.types import utcnow

SILENCED = "silenced"


@dataclass(frozen=True)
class SilenceRequest:
    """What the console or the API asks for; at least one of client, site, server."""

    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    client_id: int | None = None
    site_id: int | None = None
    server_id: int | None = None
    check: str | None = None


def _scope(sil: Silence) -> SilenceScope:
    return SilenceScope(sil.id or 0, sil.client_id, sil.site_id, sil.server_id, sil.check,
                        sil.starts_at, sil.ends_at)


def create_silence(engine: Engine, req: SilenceRequest) -> Silence:
    """Validates and stores a silence; the client is filled in from the site or server, so
    that the router's lookup (by client and end time) always finds it."""
    for at in (req.starts_at, req.ends_at):
        if at.tzinfo is None:
            raise ValueError("Les dates d'un silence doivent avoir un fuseau horaire")
    if req.ends_at <= req.starts_at:
        raise ValueError("La fin du silence doit suivre son début")
    if not req.reason.strip():
        raise ValueError("Indiquez la raison du silence (maintenance, intervention…)")
    if not req.created_by.strip():
        raise ValueError("L'auteur du silence doit être indiqué")
    with session_scope(engine) as s:
        client_id, site_id = req.client_id, req.site_id
        if req.server_id is not None:
            srv = s.get(Server, req.server_id)
            if srv is None:
                raise ValueError(f"Serveur {req.server_id} inconnu")
            client_id = _same(client_id, srv.client_id, "serveur")
        if site_id is not None:
            site = s.get(Site, site_id)
            if site is None:
                raise ValueError(f"Site {site_id} inconnu")
            client_id = _same(client_id, site.client_id, "site")
        if client_id is None:
            raise ValueError("Un silence porte sur un client, un site ou un serveur")
        sil = Silence(
            client_id=client_id,
            site_id=site_id,
            server_id=req.server_id,
            check=(req.check or "").strip().lower() or None,
            starts_at=req.starts_at,
            ends_at=req.ends_at,
            reason=req.reason.strip()[:2000],
            created_by=req.created_by,
        )
        s.add(sil)
        s.flush()
        return sil


def _same(current: int | None, found: int, what: str) -> int:
    if current is not None and current != found:
        raise ValueError(f"Le {what} n'appartient pas au client indiqué")
    return found


def end_silence(engine: Engine, silence_id: int, by: str, at: datetime | None = None) -> Silence:
    """Ends a silence now (or at ``at``); the row is kept for the audit."""
    at = at or utcnow()
    with session_scope(engine) as s:
        sil = s.get(Silence, silence_id)
        if sil is None:
            raise LookupError(f"Silence {silence_id} introuvable")
        if sil.revoked_at is None:
            sil.revoked_at = at
            sil.revoked_by = by
            if sil.ends_at > at:
                sil.ends_at = max(at, sil.starts_at)
            s.add(sil)
        return sil


def list_silences(engine: Engine, *, client_id: int | None = None,
                  active_at: datetime | None = None) -> list[Silence]:
    with Session(engine) as s:
        q = select(Silence).order_by(col(Silence.starts_at).desc())
        if client_id is not None:
            q = q.where(Silence.client_id == client_id)
        if active_at is not None:
            q = q.where(Silence.starts_at <= active_at, Silence.ends_at > active_at)
        return list(s.exec(q).all())


def silence_hits(engine: Engine, silence_id: int) -> list[SilenceHit]:
    with Session(engine) as s:
        return list(s.exec(select(SilenceHit).where(SilenceHit.silence_id == silence_id)
                           .order_by(col(SilenceHit.at))).all())


def covering(s: Session, *, client_id: int | None, server_id: int | None, family: str,
             check: str, at: datetime) -> Silence | None:
    """The silence that keeps quiet this scope at ``at``, if any (oldest first).

    One indexed lookup (``ix_silence_window``: client, end) returns the client's silences
    still running; the scope is then matched in Python on that handful of rows.
    """
    if client_id is None:
        return None
    site_id = None
    if server_id is not None:
        srv = s.get(Server, server_id)
        site_id = srv.site_id if srv is not None else None
    rows = s.exec(
        select(Silence)
        .where(Silence.client_id == client_id, Silence.ends_at > at)
        .where(or_(col(Silence.revoked_at).is_(None), col(Silence.revoked_at) > at))
        .order_by(col(Silence.id))
    ).all()
    return _first_covering(rows, client_id=client_id, site_id=site_id, server_id=server_id,
                           family=family, check=check, at=at)


def _first_covering(rows: Iterable[Silence], *, client_id: int, site_id: int | None,
                    server_id: int | None, family: str, check: str, at: datetime
                    ) -> Silence | None:
    for sil in rows:
        if sil.client_id != client_id or sil.ends_at <= at or (
                sil.revoked_at is not None and sil.revoked_at <= at):
            continue
        if silence_covers(_scope(sil), client_id=client_id, site_id=site_id,
                          server_id=server_id, family=family, check=check, at=at):
            return sil
    return None


@dataclass(frozen=True)
class KnownSilences:
    """Every silence that can cover an event received at ``since`` or later, read once and
    kept by the router with its reference data: silences move the reference generation
    (``models.refstamp``), so a silence created, ended or edited is seen by the next batch.
    ``sites``: each server's site (servers are reference data too). An event older than
    ``since`` (a message retried long after it came) is looked up in the database."""

    since: datetime
    rows: tuple[Silence, ...]
    sites: Mapping[int, int | None] = field(default_factory=dict)

    @classmethod
    def load(cls, s: Session, since: datetime) -> KnownSilences:
        rows = s.exec(
            select(Silence).where(Silence.ends_at > since)
            .where(or_(col(Silence.revoked_at).is_(None), col(Silence.revoked_at) > since))
            .order_by(col(Silence.id))
        ).all()
        sites = {sid: site for sid, site in s.exec(select(Server.id, Server.site_id)).all()}
        return cls(since, tuple(rows), sites)  # type: ignore[arg-type]

    def covering(self, s: Session, *, client_id: int | None, server_id: int | None,
                 family: str, check: str, at: datetime) -> Silence | None:
        """As :func:`covering`, without a statement when ``at`` is within what is kept."""
        if at < self.since or (server_id is not None and server_id not in self.sites):
            return covering(s, client_id=client_id, server_id=server_id, family=family,
                            check=check, at=at)
        if client_id is None:
            return None
        site_id = self.sites.get(server_id) if server_id is not None else None
        return _first_covering(self.rows, client_id=client_id, site_id=site_id,
                               server_id=server_id, family=family, check=check, at=at)


def silence_event(s: Session, row: AlertEventRow, known: KnownSilences | None = None
                  ) -> Silence | None:
    """The router's hook: a matched problem inside a silence is recorded as silenced.

    Called before the row is flushed; the hit itself is written by :func:`record_hit`.
    ``known``: the router's silences kept with its reference data (none: read here).
    """
    if row.status != "problem" or row.client_id is None or row.triage == "pending":
        return None
    look = partial(known.covering if known is not None else covering, s)
    sil = look(client_id=row.client_id, server_id=row.server_id, family=row.family,
               check=row.check, at=row.received_at)
    if sil is not None:
        row.triage = SILENCED
    return sil


def record_hit(s: Session, sil: Silence, *, event_id: int | None = None,
               absence_event_id: int | None = None, summary: str = "") -> None:
    s.add(SilenceHit(silence_id=sil.id or 0, event_id=event_id,
                     absence_event_id=absence_event_id, at=utcnow(), summary=summary[:500]))
