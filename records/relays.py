"""Which clients' fixed-IP verification fails because their mail comes through a relay that
is not registered for them (issue 21, finding 16).

Behind a relaying MTA the PROXY header rightly names the relay, not the client, so a client
verified by its fixed IP becomes "unverified": correct, but silent. The source verifier
(``records/sources.py``) words such a verdict ``relais non enregistré <relay> : ...`` when the
message's ``Received`` headers name one of the client's addresses; this module gathers those
verdicts per client and relay for the console (administration page of the client, the list
of clients). Registered relays are the per-client
source rules of kind ``relay`` (administration page, ``models.trust.SourceRule``): once the
relay is registered, its sightings drop out of the list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from models.tables import AlertEventRow, RawMessage
from models.types import utcnow
from records.sources import UNREGISTERED_RELAY, UNVERIFIED, SourceVerifier, normalize_ip

WINDOW = timedelta(days=30)  # sightings older than this are not shown
_NAMED = re.compile(r"vient de (\S+)")  # the client address in the verifier's words


@dataclass(frozen=True)
class RelaySighting:
    """Mail for one client that came through one relay not registered for it."""

    client_id: int
    relay: str
    messages: int
    last_at: datetime
    client_address: str  # the client's address the Received headers named


def unregistered_relays(s: Session, client_id: int | None = None,
                        since: datetime | None = None) -> list[RelaySighting]:
    """Sightings per (client, relay) since ``since`` (30 days by default), newest first;
    relays registered for the client since then are left out."""
    since = since or utcnow() - WINDOW
    q = (
        select(AlertEventRow.client_id, RawMessage.peer_ip,
               func.count(func.distinct(RawMessage.id)), func.max(AlertEventRow.received_at),
               func.max(AlertEventRow.source_detail))
        .join(RawMessage, col(RawMessage.id) == AlertEventRow.raw_message_id)
        .where(AlertEventRow.source_check == UNVERIFIED,
               col(AlertEventRow.source_detail).startswith(UNREGISTERED_RELAY),
               col(AlertEventRow.client_id).is_not(None),
               AlertEventRow.received_at >= since)
        .group_by(AlertEventRow.client_id, RawMessage.peer_ip)
    )
    if client_id is not None:
        q = q.where(AlertEventRow.client_id == client_id)
    rules = SourceVerifier.load(s).rules
    out: list[RelaySighting] = []
    for cid, peer, count, last_at, detail in s.exec(q).all():
        registered = rules[cid].relays if cid in rules else ()
        addr = normalize_ip(peer or "")
        if addr is not None and any(addr.version == n.version and addr in n
                                    for n in registered):
            continue  # registered since: the operator has dealt with it
        named = _NAMED.search(detail or "")
        out.append(RelaySighting(int(cid), peer or "?", int(count), last_at,
                                 named.group(1) if named else "?"))
    return sorted(out, key=lambda r: r.last_at, reverse=True)
