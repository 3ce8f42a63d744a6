"""Is the source of a message allowed to speak for the client it names? (issue 11)

A mail only *claims* its client: the ``From:`` header, the envelope sender and the host named
in the body are all written by whoever sends it. What the desk can check is what the sender
cannot choose: the TCP peer the intake saw (stored with the raw message), the webhook token,
and, where a client's relay signs its mail or publishes SPF, a DKIM signature or an SPF
record checked by ``dkimpy`` and ``pyspf`` (never by hand).

Verdicts, recorded on every event (``AlertEventRow.source_check``):

* ``token``: a webhook source token (its client, or a token bound to no client);
* ``ip``: the peer is one of the client's own addresses (``Client.fixed_ips``, ``ip`` rules);
* ``relay``: the peer is a relay registered for the client and, when the client lists
  envelope senders, the envelope sender is one of them (a shared relay needs both);
* ``dkim``: a valid DKIM signature of a domain registered for the client;
* ``spf``: the envelope sender's domain is registered for SPF and its record passes the peer;
* ``sender``: the client has no IP, relay, DKIM or SPF rule, and the envelope sender is one
  it lists (weak: informative only);
* ``unchecked``: the client has no rule at all (checking is off for it);
* ``unverified``: the client has rules and none held, or (strict mode) it has none.

When mail comes through a relay that is not registered for a client (a relaying MTA in front
of the intake: the PROXY header rightly names the relay, not the client), its fixed-IP check
fails. The unverified detail then says so (:data:`UNREGISTERED_RELAY`) when the message's own
``Received`` headers name one of the client's addresses: only a hint for the operator (any
sender can write such headers), never a verification; ``records/relays.py`` lists them per
client for the console, where the relay is registered in one click (issue 21, finding 16).

Checking is on for a client as soon as it has a registered IP, relay, DKIM or SPF domain
(``auto``); ``strict`` (``VIGIE_CHECK_SOURCE_IP=true``) treats a client with no rule as
unverified too. An unverified message still opens a case (flagged, never auto-classified), but
never resolves, closes or mutes anything (``intake/router.py``, ``workflows/case_machine.py``).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any

from sqlmodel import Session, select

from models.tables import Client, RawMessage
from models.trust import SourceRule

log = logging.getLogger(__name__)

IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network
VERIFIED = frozenset({"token", "ip", "relay", "dkim", "spf", "sender", "unchecked"})
UNVERIFIED = "unverified"
DNS_TIMEOUT = 5  # seconds per DKIM/SPF lookup: a dead resolver must not hold the router long
DkimDns = Callable[..., Any]
UNREGISTERED_RELAY = "relais non enregistré"  # how an unverified detail starts (relays.py)
RECEIVED_HOPS = 5  # Received headers read, newest first: the hops nearest to the desk
_BRACKETED_IP = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]")


@dataclass(frozen=True)
class Verdict:
    """How a message's source was verified (``method``) and the evidence, in French."""

    method: str
    detail: str = ""

    @property
    def verified(self) -> bool:
        """May this source change a case's state (resolve, close, mute)?"""
        return self.method in VERIFIED


def parse_network(value: str) -> IpNet | None:
    """``192.0.2.7`` or ``192.0.2.0/28``; None for anything else (kept out of the rules)."""
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def normalize_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The peer as an address; an IPv4-mapped IPv6 peer (``::ffff:192.0.2.7``) is IPv4."""
    try:
        addr = ipaddress.ip_address(value.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def relayed_from(data: bytes, nets: tuple[IpNet, ...]) -> str | None:
    """The first of ``nets``' addresses named by the message's newest ``Received`` headers
    (``from host (host [203.0.113.7]) by relay ...``): the client a relay received it from."""
    try:
        head = BytesHeaderParser(policy=default_policy).parsebytes(data)
        hops = [str(h) for h in (head.get_all("Received") or [])[:RECEIVED_HOPS]]
    except Exception:  # headers too broken to read: no hint
        return None
    for hop in hops:
        for found in _BRACKETED_IP.findall(hop):
            addr = normalize_ip(found)
            if _in(addr, nets) is not None:
                return str(addr)
    return None


def _in(addr: Any, nets: tuple[IpNet, ...]) -> IpNet | None:
    for net in nets:
        if addr is not None and addr.version == net.version and addr in net:
            return net
    return None


def _domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip().lower().rstrip(".") if "@" in address else ""


def _domain_matches(domain: str, allowed: frozenset[str]) -> str | None:
    """``mail.client-a.example`` is covered by ``client-a.example``."""
    parts = domain.split(".")
    for i in range(len(parts) - 1):
        candidate = ".".join(parts[i:])
        if candidate in allowed:
            return candidate
    return None


@dataclass(frozen=True)
class ClientRules:
    """One client's trust rules, as loaded for a routing batch."""

    ips: tuple[IpNet, ...] = ()
    relays: tuple[IpNet, ...] = ()
    senders: frozenset[str] = frozenset()  # full addresses, or "@domain"
    dkim: frozenset[str] = frozenset()
    spf: frozenset[str] = frozenset()

    @property
    def enforced(self) -> bool:
        """Checking is on once the client has anything stronger than a sender name."""
        return bool(self.ips or self.relays or self.dkim or self.spf)

    def sender_allowed(self, envelope: str) -> bool:
        env = envelope.strip().lower()
        if not env:
            return False
        return env in self.senders or f"@{_domain_of(env)}" in self.senders


@dataclass
class SourceVerifier:
    """The trust rules of every client, reloaded per routing batch (like the matcher).

    ``dkim_dns`` is dkimpy's own resolver hook (``dnsfunc``): tests hand it their answers;
    in service it is dkimpy's default (dnspython). SPF goes through pyspf, whose resolver hook
    is its module-level ``spf.DNSLookup``.
    """

    rules: dict[int, ClientRules] = field(default_factory=dict)
    strict: bool = False
    dkim_dns: DkimDns | None = None
    # DKIM key lookups of this batch: a flood of forged signatures costs one lookup per key
    _dns_cache: dict[bytes, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, s: Session, *, strict: bool = False,
             dkim_dns: DkimDns | None = None) -> SourceVerifier:
        found: dict[int, dict[str, set[Any]]] = {}

        def bucket(client_id: int) -> dict[str, set[Any]]:
            return found.setdefault(client_id, {k: set() for k in
                                                ("ip", "relay", "sender", "dkim", "spf")})

        for c in s.exec(select(Client)).all():
            for part in c.fixed_ips.split(","):
                net = parse_network(part) if part.strip() else None
                if net is not None:
                    bucket(c.id or 0)["ip"].add(net)
        for r in s.exec(select(SourceRule)).all():
            b = bucket(r.client_id)
            value = r.value.strip().lower()
            if r.kind in ("ip", "relay"):
                net = parse_network(value)
                if net is not None:
                    b[r.kind].add(net)
            elif r.kind == "sender":
                b["sender"].add(value if "@" in value else f"@{value}")
            elif r.kind in ("dkim", "spf"):
                b[r.kind].add(value.lstrip("@").rstrip("."))
        rules = {
            cid: ClientRules(
                ips=tuple(b["ip"]), relays=tuple(b["relay"]), senders=frozenset(b["sender"]),
                dkim=frozenset(b["dkim"]), spf=frozenset(b["spf"]),
            )
            for cid, b in found.items()
        }
        return cls(rules=rules, strict=strict, dkim_dns=dkim_dns)

    def verify(self, raw: RawMessage, client_id: int | None) -> Verdict:
        """The verdict for ``raw`` speaking for ``client_id`` (None: no client matched)."""
        if raw.channel in ("webhook", "alertmanager"):
            if raw.client_hint_id is None or raw.client_hint_id == client_id:
                return Verdict("token", f"jeton de source {raw.mail_from.removeprefix('source:')}")
            return Verdict(UNVERIFIED, "le jeton de source appartient à un autre client")
        if client_id is None:
            return Verdict(UNVERIFIED, "aucun client reconnu")
        rules = self.rules.get(client_id, ClientRules())
        envelope = raw.mail_from or ""
        peer = normalize_ip(raw.peer_ip or "")
        net = _in(peer, rules.ips)
        if net is not None:
            return Verdict("ip", f"adresse {peer} ({net})")
        net = _in(peer, rules.relays)
        if net is not None:
            if not rules.senders:
                return Verdict("relay", f"relais {peer} ({net})")
            if rules.sender_allowed(envelope):
                return Verdict("relay", f"relais {peer}, expéditeur {envelope}")
        if rules.dkim:
            signed = self._dkim(raw.data, rules.dkim)
            if signed:
                return Verdict("dkim", f"signature DKIM valide de {signed}")
        if rules.spf:
            spf_domain = _domain_matches(_domain_of(envelope), rules.spf)
            if spf_domain and self._spf(raw, envelope):
                return Verdict("spf", f"SPF de {spf_domain} : pass pour {peer}")
        if rules.enforced:
            hop = relayed_from(raw.data, rules.ips) if rules.ips else None
            if hop is not None and _in(peer, rules.relays) is None:
                return Verdict(UNVERIFIED, f"{UNREGISTERED_RELAY} {peer or '?'} : le message "
                                           f"vient de {hop} d'après ses en-têtes Received")
            shown = envelope or "<>"
            return Verdict(UNVERIFIED, f"source {peer or '?'} (enveloppe {shown}) non "
                                       "enregistrée pour ce client")
        if rules.senders and rules.sender_allowed(envelope):
            if self.strict:
                return Verdict(UNVERIFIED, f"expéditeur {envelope} seul : aucune adresse "
                                           "enregistrée (mode strict)")
            return Verdict("sender", f"expéditeur d'enveloppe {envelope}")
        if self.strict:
            return Verdict(UNVERIFIED, "aucune source enregistrée pour ce client (mode strict)")
        return Verdict("unchecked", "aucune source enregistrée pour ce client")

    # --- the packages' checks ----------------------------------------------------------------

    def _dkim(self, data: bytes, domains: frozenset[str]) -> str | None:
        """The registered domain of the first valid DKIM signature, if any (dkimpy)."""
        import dkim

        try:
            d = dkim.DKIM(data, timeout=DNS_TIMEOUT)
            count = len([h for h in d.headers if h[0].lower() == b"dkim-signature"])
            for idx in range(count):
                ok = d.verify(idx=idx, dnsfunc=self._dkim_lookup)
                domain = (d.domain or b"").decode("ascii", "replace").lower()
                if ok and _domain_matches(domain, domains):
                    return domain
        except Exception as exc:  # a malformed signature or no DNS: simply not verified
            log.info("sources: DKIM check failed: %s", exc)
        return None

    def _dkim_lookup(self, name: bytes, timeout: int = DNS_TIMEOUT) -> Any:
        """dkimpy's resolver (or the one handed in), remembered for the batch."""
        if name not in self._dns_cache:
            if self.dkim_dns is not None:
                lookup = self.dkim_dns
            else:
                from dkim.dnsplug import get_txt as lookup
            self._dns_cache[name] = lookup(name, timeout=timeout)
        return self._dns_cache[name]

    def _spf(self, raw: RawMessage, envelope: str) -> bool:
        """pyspf's verdict for (peer, envelope sender, HELO); only ``pass`` counts."""
        import spf

        try:
            result, _explanation = spf.check2(i=raw.peer_ip, s=envelope, h=raw.helo or "unknown",
                                              timeout=DNS_TIMEOUT)
        except Exception as exc:
            log.info("sources: SPF check failed: %s", exc)
            return False
        return result == "pass"
