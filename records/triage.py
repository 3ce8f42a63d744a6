"""The unmatched/unknown queue: a technician attaches an event to a server (and may teach an
alias), or dismisses it; an attached problem is then routed like any other event.

The queue itself is the event rows with ``triage == "pending"`` (listed by the console).
"""

from __future__ import annotations

import re

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.db import session_scope
from models.tables import (
    AlertEventRow,
    Client,
    Outbox,
    RawMessage,
    SenderDomain,
    Server,
    ServerAlias,
)
from parsers import AlertEvent
from records.matching import normalize_host
from records.sources import SourceVerifier

HOSTNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,254}")


def suggested_hostname(host: str | None) -> str:
    """The host name a message names, when it can be a server's (prefills "create")."""
    found = normalize_host(host)
    return found if found is not None and HOSTNAME.fullmatch(found) else ""


class TriageError(ValueError):
    """A refusal shown to the technician as is (French)."""


def attach(engine: Engine, event_id: int, server_id: int, teach_alias: bool, actor: str) -> None:
    """Attach an event to a server; the event's host name becomes an alias if asked.

    The event gets the server's client and a fresh fingerprint, and its message is queued
    again so the router sends it to its case (routing skips what was already routed).
    """
    with session_scope(engine) as s:
        ev = s.get(AlertEventRow, event_id)
        if ev is None:
            raise TriageError("Événement introuvable")
        if ev.triage != "pending":
            raise TriageError("Cet événement n'est plus en attente de tri")
        srv = s.get(Server, server_id)
        if srv is None:
            raise TriageError("Serveur introuvable")
        client = s.get(Client, srv.client_id)
        assert client is not None
        if teach_alias:
            alias = normalize_host(ev.host)
            if alias is None:
                raise TriageError("L'événement ne nomme aucun hôte : pas d'alias à apprendre")
            if alias != normalize_host(srv.hostname):
                exists = s.exec(
                    select(ServerAlias).where(
                        ServerAlias.client_id == srv.client_id, ServerAlias.alias == alias
                    )
                ).first()
                if exists is not None and exists.server_id != server_id:
                    raise TriageError(f"L'alias {alias} désigne déjà un autre serveur")
                if exists is None:
                    s.add(ServerAlias(client_id=srv.client_id, server_id=server_id, alias=alias))
        event = AlertEvent.from_dict(
            {
                "family": ev.family,
                "status": ev.status,
                "host": ev.host or srv.hostname,
                "check": ev.check,
                "target": ev.target,
                "severity": ev.severity,
                "backup_result": ev.backup_result,
                "product": ev.product or "unknown",
                "summary": ev.summary,
            }
        )
        ev.client_id = srv.client_id
        ev.server_id = server_id
        raw = s.get(RawMessage, ev.raw_message_id)
        if raw is not None:  # judged again as speaking for the client it is attached to
            verdict = SourceVerifier.load(s).verify(raw, srv.client_id)
            ev.source_check, ev.source_detail = verdict.method, verdict.detail[:300]
        ev.fingerprint = event.fingerprint(client.code)
        ev.triage = "attached"
        ev.extra = {**(ev.extra or {}), "attached_by": actor}
        s.add(ev)
        ob = s.exec(select(Outbox).where(Outbox.raw_message_id == ev.raw_message_id)).first()
        if ob is not None:
            ob.done_at = None
            ob.next_attempt_at = None
            ob.attempts = 0
            ob.claimed_by, ob.lease_until = "", None  # claimable by any router, now
            s.add(ob)


def attach_reply(engine: Engine, event_id: int, actor: str) -> str:
    """A technician vouches for a client reply held in triage (unverified sender): it joins
    the case it names, and the router tells the case as for any verified reply. Returns the
    case reference."""
    from models.tables import Case

    with session_scope(engine) as s:
        ev = s.get(AlertEventRow, event_id)
        if ev is None or ev.family != "client_reply":
            raise TriageError("Réponse introuvable")
        if ev.triage != "pending":
            raise TriageError("Cette réponse n'est plus en attente de tri")
        extra = dict(ev.extra or {})
        case = s.exec(select(Case).where(Case.ref == str(extra.get("case_ref", "")))).first()
        if case is None:
            raise TriageError("Le cas nommé par cette réponse n'existe pas")
        ev.case_id, ev.client_id, ev.server_id = case.id, case.client_id, case.server_id
        ev.fingerprint = case.fingerprint
        ev.triage = "attached"
        ev.source_check = "technician"
        ev.source_detail = f"rattachée par {actor} (expéditeur non vérifié)"[:300]
        extra.update(workflow_id=case.workflow_id, attached_by=actor)
        ev.extra = extra
        s.add(ev)
        if not case.closed:  # the router tells the case (a closed case hears nothing more)
            ev.routed_at = None
            ob = s.exec(select(Outbox).where(Outbox.raw_message_id == ev.raw_message_id)).first()
            if ob is None:  # an SMS reply: stored by the console, never queued before
                ob = Outbox(raw_message_id=ev.raw_message_id)
            ob.done_at, ob.next_attempt_at, ob.attempts = None, None, 0
            ob.claimed_by, ob.lease_until = "", None  # claimable by any router, now
            s.add(ob)
        return case.ref


def dismiss(engine: Engine, event_id: int, actor: str) -> None:
    with session_scope(engine) as s:
        ev = s.get(AlertEventRow, event_id)
        if ev is None:
            raise TriageError("Événement introuvable")
        ev.triage = "dismissed"
        ev.extra = {**(ev.extra or {}), "dismissed_by": actor}
        s.add(ev)


def sender_client(s: Session, ev: AlertEventRow, mail_from: str, client_hint_id: int | None,
                  ) -> int | None:  # fmt: skip
    """The client the message's sender belongs to, when it is known: the event's own client
    (sender matched, host did not), the webhook token's client, or a taught sender."""
    if ev.client_id is not None:
        return ev.client_id
    if client_hint_id is not None:
        return client_hint_id
    address = (mail_from or "").strip().lower()
    keys = [address]
    if "@" in address:
        keys.insert(0, address.rsplit("@", 1)[1])
    for key in keys:
        known = s.get(SenderDomain, key) if key else None
        if known is not None:
            return known.client_id
    return None


def create_server(
    engine: Engine,
    event_id: int,
    client_id: int,
    hostname: str,
    *,
    display_name: str = "",
    kind: str = "physical",
    role: str = "",
    actor: str,
) -> int:
    """Creates the server an unmatched message names (in the chosen client's inventory) and
    attaches the message to it, so the case follows as for any matched event. Refuses a
    host name the client already has (attach to it instead). Returns the server's id."""
    host = normalize_host(hostname)
    if host is None:
        raise TriageError("Indiquez le nom d'hôte du serveur à créer")
    if not HOSTNAME.fullmatch(host):
        raise TriageError(f"Nom d'hôte invalide : {host[:80]} (lettres, chiffres, - et _)")
    if kind not in ("physical", "virtual"):
        raise TriageError("Type de serveur inconnu")
    with session_scope(engine) as s:
        ev = s.get(AlertEventRow, event_id)
        if ev is None:
            raise TriageError("Événement introuvable")
        if ev.triage != "pending":
            raise TriageError("Cet événement n'est plus en attente de tri")
        client = s.get(Client, client_id)
        if client is None:
            raise TriageError("Client introuvable")
        taken = s.exec(
            select(Server).where(Server.client_id == client_id, Server.hostname == host)
        ).first()
        if taken is not None:
            raise TriageError(f"{client.name} a déjà un serveur {host} : rattachez-y le message")
        srv = Server(client_id=client_id, hostname=host, display_name=display_name.strip()[:200],
                     kind=kind, role=role.strip()[:200])  # fmt: skip
        s.add(srv)
        s.flush()
        server_id = srv.id or 0
        ev.extra = {**(ev.extra or {}), "server_created_by": actor, "server_created": host}
        s.add(ev)
    attach(engine, event_id, server_id, teach_alias=False, actor=actor)
    return server_id
