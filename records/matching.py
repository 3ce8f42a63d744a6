"""Which client and server an event is about.

Order of evidence: the sender's full address, then its domain and parent domains, then the
host named in the event (case-insensitive, domain suffix stripped) among servers and taught
aliases. A host unknown to every client, or a sender no client owns, leaves the event
unmatched for a technician to attach (and teach an alias) from the console.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, select

from models.tables import Client, SenderDomain, Server, ServerAlias


def normalize_host(host: str | None) -> str | None:
    """``SRV-APP.corp.local`` -> ``srv-app``; empty -> None."""
    if not host:
        return None
    h = host.strip().strip(".").lower()
    if not h:
        return None
    # an IP address keeps its dots
    if not h.replace(".", "").isdigit():
        h = h.split(".", 1)[0]
    return h or None


@dataclass(frozen=True)
class Match:
    client_id: int | None
    client_code: str | None
    server_id: int | None
    client_ips: frozenset[str] = frozenset()

    @property
    def matched(self) -> bool:
        return self.client_id is not None and self.server_id is not None


@dataclass
class Matcher:
    """An in-memory snapshot of the inventory, reloaded per routing batch."""

    senders: dict[str, int] = field(default_factory=dict)
    codes: dict[int, str] = field(default_factory=dict)
    ips: dict[int, frozenset[str]] = field(default_factory=dict)
    hosts: dict[tuple[int, str], int] = field(default_factory=dict)
    host_owners: dict[str, set[tuple[int, int]]] = field(default_factory=dict)

    @classmethod
    def load(cls, s: Session) -> Matcher:
        m = cls()
        for c in s.exec(select(Client)).all():
            m.codes[c.id or 0] = c.code
            m.ips[c.id or 0] = frozenset(i.strip() for i in c.fixed_ips.split(",") if i.strip())
        for d in s.exec(select(SenderDomain)).all():
            m.senders[d.domain.lower()] = d.client_id
        for srv in s.exec(select(Server)).all():
            m._add_host(srv.client_id, srv.hostname, srv.id or 0)
        for a in s.exec(select(ServerAlias)).all():
            m._add_host(a.client_id, a.alias, a.server_id)
        return m

    def _add_host(self, client_id: int, name: str, server_id: int) -> None:
        key = normalize_host(name)
        if key is None:
            return
        self.hosts[(client_id, key)] = server_id
        self.host_owners.setdefault(key, set()).add((client_id, server_id))

    def client_for_sender(self, sender: str | None) -> int | None:
        if not sender:
            return None
        sender = sender.strip().lower()
        if sender in self.senders:
            return self.senders[sender]
        domain = sender.rsplit("@", 1)[-1] if "@" in sender else ""
        parts = domain.split(".")
        for i in range(len(parts) - 1):
            found = self.senders.get(".".join(parts[i:]))
            if found is not None:
                return found
        return None

    def match(self, sender: str | None, host: str | None, client_hint: int | None = None) -> Match:
        """``client_hint``: the client a webhook token belongs to, which outranks the sender."""
        client_id = client_hint if client_hint is not None else self.client_for_sender(sender)
        key = normalize_host(host)
        if key is None and sender and "@" in sender:
            # cron mails: root@srv-file01 names the host in the address itself
            local_host = sender.rsplit("@", 1)[1]
            if "." not in local_host:
                key = normalize_host(local_host)
        server_id = None
        if client_id is not None and key is not None:
            server_id = self.hosts.get((client_id, key))
        elif client_id is None and key is not None:
            owners = self.host_owners.get(key, set())
            if len(owners) == 1:
                client_id, server_id = next(iter(owners))
        return Match(
            client_id=client_id,
            client_code=self.codes.get(client_id) if client_id is not None else None,
            server_id=server_id,
            client_ips=self.ips.get(client_id, frozenset())
            if client_id is not None
            else frozenset(),
        )
