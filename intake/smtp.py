"""A thin aiosmtpd handler over ``intake.store.accept``, and the server's resource limits.

Refuses mailboxes the desk does not own at RCPT (no open relay), lets aiosmtpd answer ``552``
over the size limit, and answers ``250`` only after the message is durably stored; a storage
failure is a temporary ``451`` so the sending server keeps the message and retries.

What one sender can take is bounded (:class:`SmtpLimits`, each a ``VIGIE_SMTP_*`` setting),
and every refusal is temporary, so a real mail server keeps the message and comes back:

* connections at once, in total and per peer address: the one over is greeted ``421`` and
  closed (memory is then at most connections x ``VIGIE_MAX_MESSAGE_BYTES``);
* an idle timeout: a connection silent that long (between commands or inside DATA) gets
  ``421`` and is closed; a slow sender that keeps sending is not cut off by it;
* but a trickle (one byte every few seconds, each restarting the idle timer) is: a command
  line must arrive whole within ``VIGIE_SMTP_COMMAND_TIMEOUT`` of the previous answer, the
  commands before each message (greeting to DATA, NOOPs and RSETs included) within
  ``VIGIE_SMTP_ENVELOPE_TIMEOUT`` all together, and the DATA phase must end within
  ``VIGIE_SMTP_DATA_TIMEOUT`` plus one second per ``VIGIE_SMTP_DATA_MIN_RATE`` bytes
  received (:class:`PhaseDeadline`); otherwise ``421`` and closed, so a slot is held at most
  that long by a sender that gives nearly nothing;
* lines: RFC 5321 caps them at 1,000 bytes, but real alert mail (HTML on one line) exceeds
  it, so longer lines are accepted as they are, up to ``VIGIE_SMTP_MAX_LINE_BYTES``; beyond,
  ``451`` instead of aiosmtpd's permanent ``500`` (nothing is bounced for it).

Behind a TCP load balancer every connection comes from the balancer, so the source check
(``records/sources.py``) and the per-peer limit would only ever see its address. With
``VIGIE_SMTP_PROXY_PROTOCOL`` on (:class:`ProxyTrust`), aiosmtpd reads the PROXY header (v1 or
v2, with its own parser) before the greeting, and the client it names becomes the
connection's peer: stored with the message, logged, counted per peer. The header is believed
only from the balancers of ``VIGIE_SMTP_PROXY_FROM``: any other peer is refused ``421`` at
once, and a connection whose header is missing, garbled or late is closed before the
greeting (nothing of it is stored).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, AnyStr

from aiosmtpd.proxy_protocol import AF, PROTO, V2_CMD, ProxyData
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import Engine

from base.metrics import MESSAGES_ACCEPTED, MESSAGES_REFUSED
from intake.store import Accepted, GroupCommit, Incoming
from records.sources import IpNet, normalize_ip, parse_network

log = logging.getLogger(__name__)

REFUSED_RCPT = "550 5.1.1 Destinataire inconnu : cette adresse n'est pas servie ici"
RETRY_LATER = "451 4.3.0 Stockage momentanément indisponible, réessayez plus tard"
TOO_MANY = "421 4.7.0 Trop de connexions simultanées{whom}, réessayez plus tard"
IDLE = "421 4.4.2 Délai d'inactivité dépassé, connexion fermée"
COMMAND_TOO_SLOW = "421 4.4.2 Commande non reçue entière à temps, connexion fermée"
ENVELOPE_TOO_SLOW = "421 4.4.2 Aucun message transmis à temps, connexion fermée"
DATA_TOO_SLOW = (
    "421 4.4.2 Message reçu trop lentement (moins de {rate} octets/s), connexion fermée"
)
LINE_TOO_LONG = "451 4.5.3 Ligne de plus de {limit} octets, réessayez plus tard"
AIOSMTPD_LINE_TOO_LONG = "500 Line too long"
NOT_THE_BALANCER = (
    "421 4.7.0 Connexion directe refusée : passez par le répartiteur de charge, "
    "réessayez plus tard"
)
BAD_PROXY_HEADER = "421 4.7.0 En-tête PROXY non pris en charge, connexion fermée"
PROXY_TIMEOUT = "421 4.4.2 En-tête PROXY non reçu à temps, connexion fermée"


class IntakeHandler:
    """``on_accepted`` runs on the loop after each commit that queued new messages, once per
    batch with its results (the router's nudge: one datagram per commit, not per message),
    before any sender of that batch hears its ``250``."""

    def __init__(
        self,
        engine: Engine,
        mailboxes: frozenset[str],
        on_accepted: Callable[[list[Accepted]], None] | None = None,
    ) -> None:
        self.store = GroupCommit(engine, on_commit=on_accepted)
        self.mailboxes = mailboxes

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.strip().lower() not in self.mailboxes:
            MESSAGES_REFUSED.labels("smtp", "unknown_mailbox").inc()
            return REFUSED_RCPT
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_PROXY(
        self, server: SMTP, session: Session, envelope: Envelope, proxy_data: ProxyData
    ) -> bool:
        """aiosmtpd's hook once it has read a valid PROXY header (the protocol is on).

        The server judges it (:meth:`IntakeSMTP.judge_proxy`): it holds the trusted balancers
        and the connection counter. A false answer makes aiosmtpd close the connection; a
        server of any other kind believes no header."""
        if not isinstance(server, IntakeSMTP):
            return False
        return await server.judge_proxy(proxy_data)

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        # The TCP peer as the kernel saw it (aiosmtpd takes it from the transport) or, with
        # the PROXY protocol on, the client the load balancer's header named: believed only
        # from the balancers of VIGIE_SMTP_PROXY_FROM (IntakeSMTP.judge_proxy), and XCLIENT is
        # not enabled, so no client can claim another address. It is stored with the
        # message: source verification (records/sources.py) judges it.
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        try:
            result = await self.store.accept(
                Incoming(
                    data,
                    mail_from=envelope.mail_from or "",
                    rcpt_to=",".join(envelope.rcpt_tos),
                    peer_ip=peer,
                    helo=str(session.host_name or ""),
                )
            )
        except Exception:  # any storage failure must be retryable by the sender
            log.exception("intake: could not store message from %s", envelope.mail_from)
            MESSAGES_REFUSED.labels("smtp", "storage").inc()
            return RETRY_LATER
        MESSAGES_ACCEPTED.labels("smtp").inc()
        log.info(
            "intake: message #%s %s de %s (%s, %d octets)",
            result.raw_message_id,
            "déjà reçu" if result.duplicate else "accepté",
            envelope.mail_from or "<>", peer, len(data),
        )
        return f"250 2.0.0 OK reçu #{result.raw_message_id}"


@dataclass(frozen=True)
class SmtpLimits:
    """The server's resource limits; the defaults are the settings' defaults."""

    max_connections: int = 100
    max_per_peer: int = 10
    idle_timeout: float = 60.0
    max_line_bytes: int = 1024 * 1024
    command_timeout: float = 60.0
    data_timeout: float = 60.0
    data_min_rate: int = 1024
    envelope_timeout: float = 300.0

    # MTAs that relay many senders' mail (Postfix in front of the desk): one address holding
    # many connections is their normal way, so they get a limit of their own
    relay_peers: tuple[IpNet, ...] = ()
    relay_max_per_peer: int = 30

    def __post_init__(self) -> None:
        if min(self.command_timeout, self.data_timeout, self.data_min_rate,
               self.envelope_timeout) <= 0:
            raise ValueError("the SMTP command and DATA deadlines must be positive")

    @classmethod
    def from_settings(cls, settings: Any) -> SmtpLimits:
        relays: list[IpNet] = []
        for part in settings.smtp_relay_peers.split(","):
            if not part.strip():
                continue
            net = parse_network(part)
            if net is None:
                raise ValueError(f"VIGIE_SMTP_RELAY_PEERS: {part.strip()!r} is not an address")
            relays.append(net)
        return cls(
            max_connections=settings.smtp_max_connections,
            max_per_peer=settings.smtp_max_per_peer,
            idle_timeout=settings.smtp_idle_timeout,
            max_line_bytes=settings.smtp_max_line_bytes,
            command_timeout=settings.smtp_command_timeout,
            data_timeout=settings.smtp_data_timeout,
            data_min_rate=settings.smtp_data_min_rate,
            envelope_timeout=settings.smtp_envelope_timeout,
            relay_peers=tuple(relays),
            relay_max_per_peer=settings.smtp_relay_peer_max,
        )

    def per_peer_limit(self, peer: str) -> int:
        """A registered relay's own limit, everyone else's the per-peer one."""
        addr = normalize_ip(peer)
        if addr is not None and any(
            addr.version == net.version and addr in net for net in self.relay_peers
        ):
            return self.relay_max_per_peer
        return self.max_per_peer


END_OF_DATA = b"\r\n.\r\n"


class PhaseDeadline:
    """When the sender must have finished what it is sending now: a command line, or DATA.

    The idle timer restarts on every byte, so alone it lets a trickle keep a connection (and
    its slot) forever. This one does not: it starts when the server answers, and stops when
    the sender's part is whole (a command's end of line, DATA's lone dot), so the server's
    own work (storing a message) never counts against the sender. A command gets a fixed
    time, and the commands before a message share a budget (so a loop of NOOPs, each on time,
    still ends); DATA gets a grace time, extended by ``1/min_rate`` s per byte received, so a
    big message on a slow but honest link goes through and a trickle does not. One timer per
    connection, re-armed only when it fires early or a new phase starts."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limits: SmtpLimits,
                 expire: Callable[[str], None]) -> None:
        self.loop = loop
        self.limits = limits
        self.expire = expire  # called with the 421 answer once the sender is too late
        self.phase: str | None = None  # "command", "data", or None: the server's turn
        self.ends = 0.0  # loop time
        self._tail = b""  # DATA's last bytes: its end may straddle two reads
        self._timer: asyncio.TimerHandle | None = None
        self._started = 0.0  # when the current command phase began
        self._spent = 0.0  # command time since the greeting or the last message's end
        self._message_done = False  # DATA ended: the next answer starts a new envelope
        self._budget_bound = False  # the current deadline is the envelope budget's

    def answered(self, status: str) -> None:
        """The server answers: the sender's turn starts (a 354 opens DATA); a closing answer
        (221, 421) gives it none."""
        if status.startswith(("221", "421")):
            self.stop()
            return
        now = self.loop.time()
        if self._message_done:  # the answer to a message: a new envelope starts
            self._message_done, self._spent = False, 0.0
        if status.startswith("354"):
            self.phase, self._tail = "data", b"\r\n"  # DATA's command line ended the line
            self.ends = now + self.limits.data_timeout
        else:
            self.phase, self._started = "command", now
            left = max(0.0, self.limits.envelope_timeout - self._spent)
            self._budget_bound = left <= self.limits.command_timeout
            self.ends = now + min(left, self.limits.command_timeout)
        self._arm()

    def received(self, data: bytes) -> None:
        if self.phase == "command":
            if b"\n" in data:
                self.phase = None  # the command is whole (pipelined ones too): our turn
                self._spent += self.loop.time() - self._started
        elif self.phase == "data":
            self.ends += len(data) / self.limits.data_min_rate
            window = self._tail + data
            if END_OF_DATA in window:
                self.phase, self._message_done = None, True
            else:
                self._tail = window[-len(END_OF_DATA) + 1:]

    def stop(self) -> None:
        self.phase = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(self.ends, self._check)

    def _check(self) -> None:
        self._timer = None
        if self.phase is None:
            return
        if self.loop.time() < self.ends:  # DATA bytes came since: its deadline moved on
            self._arm()
            return
        phase, self.phase = self.phase, None
        if phase == "data":
            self.expire(DATA_TOO_SLOW.format(rate=self.limits.data_min_rate))
        else:
            self.expire(ENVELOPE_TOO_SLOW if self._budget_bound else COMMAND_TOO_SLOW)


@dataclass(frozen=True)
class ProxyTrust:
    """The PROXY protocol is on: the load balancers allowed to send the header, and how long
    it may take to come.

    A PROXY header says which address a connection comes from. Believed from anyone, it
    would let any client claim a client's registered address; so it is believed only from
    these networks (the TCP peer as the kernel saw it), and any other peer is refused."""

    networks: tuple[IpNet, ...]
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if not self.networks:
            raise ValueError("no trusted load balancer: every header would be believed")
        if self.timeout <= 0:
            raise ValueError("the PROXY header timeout must be positive")

    @classmethod
    def parse(cls, trusted: str, timeout: float = 5.0) -> ProxyTrust:
        """``172.30.25.10, 10.0.0.0/8``; a ValueError names an entry that is neither an
        address nor a network (a host name is not what the kernel sees, so it cannot be)."""
        networks: list[IpNet] = []
        for part in trusted.split(","):
            if not part.strip():
                continue
            net = parse_network(part)
            if net is None:
                raise ValueError(part.strip())
            networks.append(net)
        return cls(tuple(networks), timeout)

    def trusts(self, peer: str) -> bool:
        """Is this TCP peer one of the balancers (an IPv4-mapped IPv6 peer is IPv4)?"""
        addr = normalize_ip(peer)
        return addr is not None and any(
            addr.version == net.version and addr in net for net in self.networks
        )


def proxied_source(data: ProxyData) -> tuple[str, int] | None:
    """The client a PROXY header names, or None when it names none and the TCP peer is kept:
    ``LOCAL`` (v2: the balancer's own health check), ``UNKNOWN`` (v1) and ``UNSPEC`` (v2: a
    family the balancer cannot tell). A ValueError for an invalid header, and for what no
    SMTP client comes over (UDP, a unix socket)."""
    if not data.valid:
        raise ValueError(data.error or "invalid")
    if (
        data.command == V2_CMD.LOCAL
        or data.family == AF.UNSPEC
        or data.protocol == PROTO.UNSPEC
    ):
        return None
    if (
        data.protocol == PROTO.STREAM
        and data.family in (AF.INET, AF.INET6)
        and isinstance(data.src_addr, ipaddress.IPv4Address | ipaddress.IPv6Address)
    ):
        return str(data.src_addr), int(data.src_port or 0)
    raise ValueError(f"family {data.family!r}, protocol {data.protocol!r}")


class ConnectionCounter:
    """Connections open now, in total and per peer; used from the server's loop only."""

    def __init__(self, limits: SmtpLimits) -> None:
        self.limits = limits
        self.total = 0
        self.per_peer: Counter[str] = Counter()

    def admit(self, peer: str | None) -> str | None:
        """Counts the connection in, or returns the 421 answer that refuses it.

        ``None``: in the total only. Behind the load balancer every connection has the
        balancer's address; its client is known once the PROXY header is read, and counted
        then (:meth:`admit_peer`)."""
        if self.total >= self.limits.max_connections:
            return TOO_MANY.format(whom="")
        if peer is not None and self.per_peer[peer] >= self.limits.per_peer_limit(peer):
            return TOO_MANY.format(whom=f" depuis {peer}")
        self.total += 1
        if peer is not None:
            self.per_peer[peer] += 1
        return None

    def admit_peer(self, peer: str) -> str | None:
        """Counts a connection already in the total for its peer, or returns the 421 answer
        (the connection is then closed, and released with no peer)."""
        if self.per_peer[peer] >= self.limits.per_peer_limit(peer):
            return TOO_MANY.format(whom=f" depuis {peer}")
        self.per_peer[peer] += 1
        return None

    def release(self, peer: str | None) -> None:
        self.total -= 1
        if peer is None:
            return
        self.per_peer[peer] -= 1
        if self.per_peer[peer] <= 0:
            del self.per_peer[peer]


def _host(peername: Any) -> str:
    return str(peername[0]) if isinstance(peername, tuple) else str(peername or "")


class IntakeSMTP(SMTP):
    """aiosmtpd's server with the limits above and, when on, the trust the PROXY protocol
    needs; everything else (the PROXY header's parser included) is aiosmtpd's own."""

    def __init__(
        self,
        handler: Any,
        *,
        counter: ConnectionCounter,
        proxy: ProxyTrust | None = None,
        **kwargs: Any,
    ) -> None:
        # before aiosmtpd's __init__: it sizes its stream reader from this attribute
        self.line_length_limit = counter.limits.max_line_bytes
        if proxy is not None:  # aiosmtpd then reads the header before its greeting
            kwargs["proxy_protocol_timeout"] = proxy.timeout
        super().__init__(handler, timeout=counter.limits.idle_timeout, **kwargs)
        self._counter = counter
        self._proxy = proxy
        self._admitted = False  # counted in the total, until the connection is lost
        self._counted: str | None = None  # the peer this connection is counted for
        self._refused = False
        self._awaiting_header = False  # PROXY on, and its header not judged yet
        self._deadline = PhaseDeadline(self.loop, counter.limits, self._too_slow)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        before_tls = self.session if self._admitted else None  # the STARTTLS re-entry
        if not self._admitted:
            peer = _host(transport.get_extra_info("peername"))
            refusal = self._admit(peer)
            if refusal is not None:
                self._refused = True
                log.warning("intake: connexion de %s refusée (%s)", peer, refusal)
                transport.write(refusal.encode() + b"\r\n")  # type: ignore[attr-defined]
                transport.close()
                return
        super().connection_made(transport)
        if before_tls is not None and before_tls.proxy_data is not None:
            # over TLS aiosmtpd starts a new session and reads its peer from the transport
            # again (the balancer's): the client stays the one the PROXY header named
            assert self.session is not None
            self.session.peer = before_tls.peer
            self.session.proxy_data = before_tls.proxy_data

    def _admit(self, peer: str) -> str | None:
        """Counts a new connection in, or returns the 421 answer that refuses it."""
        if self._proxy is None:
            refusal = self._counter.admit(peer)
            if refusal is None:
                self._counted = peer
        elif not self._proxy.trusts(peer):
            return NOT_THE_BALANCER  # before a byte is read: its header is never believed
        else:
            refusal = self._counter.admit(None)  # per peer once the header names the client
            self._awaiting_header = refusal is None
        self._admitted = refusal is None
        return refusal

    async def judge_proxy(self, data: ProxyData) -> bool:
        """May the connection go on after this PROXY header? If so, the client it names is
        the session's peer from now on (stored with each message, logged) and is counted per
        peer in the balancer's place; if not, 421 and aiosmtpd closes the connection."""
        self._awaiting_header = False
        assert self.session is not None
        balancer = _host(self.session.peer)
        client: Any = self.session.peer
        if self._proxy is None or not self._proxy.trusts(balancer):
            refusal = NOT_THE_BALANCER  # refused when it connected already: belt and braces
        else:
            try:
                client = proxied_source(data) or self.session.peer
            except ValueError as unsupported:
                log.warning("intake: en-tête PROXY de %s non pris en charge (%s)",
                            balancer, unsupported)
                refusal = BAD_PROXY_HEADER
            else:
                refusal = self._counter.admit_peer(_host(client))
        if refusal is None:
            self._counted = _host(client)
            self.session.peer = client
            log.debug("intake: connexion de %s via le répartiteur %s", self._counted, balancer)
            return True
        log.warning("intake: connexion de %s via %s refusée (%s)", _host(client), balancer,
                    refusal)
        try:
            await self.push(refusal)
        except ConnectionError:
            pass  # gone already: aiosmtpd closes it all the same
        return False

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return  # never started: nothing of aiosmtpd's to tear down
        if self._awaiting_header:  # garbled (aiosmtpd closed it), or closed before it came
            self._awaiting_header = False
            log.warning("intake: connexion de %s fermée sans en-tête PROXY valide",
                        _host(self.session.peer if self.session else None))
        self._deadline.stop()
        try:
            super().connection_lost(error)
        finally:
            if self._admitted:
                self._counter.release(self._counted)
                self._admitted = False
                self._counted = None

    def eof_received(self) -> bool | None:
        if self._awaiting_header and self.transport is not None:
            # the header can no longer come: its place is given back now, not at the timeout
            self.transport.close()
        return super().eof_received()

    def data_received(self, data: bytes) -> None:
        # idle means silent: every byte restarts the timer, also inside DATA (aiosmtpd only
        # restarts it between commands, which would cut off a slow but steady sender); but
        # the PROXY header must come whole within its own timeout, however slowly it drips
        if not self._awaiting_header:
            self._reset_timeout()
            self._deadline.received(data)
        super().data_received(data)

    def _too_slow(self, answer: str) -> None:
        """A trickle: the command or the message did not come whole in time."""
        log.warning("intake: connexion de %s fermée (%s)",
                    _host(self.session.peer if self.session else None), answer)
        if self.transport is not None:
            self.transport.write(answer.encode() + b"\r\n")  # type: ignore[attr-defined]
            self.transport.close()

    def _timeout_cb(self) -> None:
        answer = IDLE
        if self._awaiting_header:
            self._awaiting_header = False
            answer = PROXY_TIMEOUT
            log.warning("intake: pas d'en-tête PROXY de %s en %s s, connexion fermée",
                        _host(self.session.peer if self.session else None),
                        self._proxy.timeout if self._proxy else "?")
        if self.transport is not None:
            self.transport.write(answer.encode() + b"\r\n")  # type: ignore[attr-defined]
        super()._timeout_cb()

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str) and status.startswith(AIOSMTPD_LINE_TOO_LONG):
            status = LINE_TOO_LONG.format(limit=self.line_length_limit)  # type: ignore[assignment]
        # the sender's turn starts as the answer leaves: one that does not read it is late too
        self._deadline.answered(
            status if isinstance(status, str) else status.decode("utf-8", "replace"))
        await super().push(status)


def make_smtp_factory(
    handler: Any,
    *,
    max_bytes: int,
    hostname: str = "vigie",
    tls_context: ssl.SSLContext | None = None,
    limits: SmtpLimits | None = None,
    proxy: ProxyTrust | None = None,
) -> Callable[[], SMTP]:
    """The protocol factory for ``loop.create_server`` (one connection counter per server);
    with ``proxy``, every connection starts with a PROXY header from one of its balancers."""
    counter = ConnectionCounter(limits or SmtpLimits())

    def factory() -> SMTP:
        kwargs: dict[str, Any] = {
            "data_size_limit": max_bytes,
            "enable_SMTPUTF8": True,
            "decode_data": False,
            "hostname": hostname,
            "ident": "Vigie intake",
        }
        if tls_context is not None:
            kwargs["tls_context"] = tls_context
        return IntakeSMTP(handler, counter=counter, proxy=proxy, **kwargs)

    return factory


def tls_context_from(cert: str, key: str) -> ssl.SSLContext | None:
    if not cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key or None)
    return ctx
