"""A thin aiosmtpd handler over ``intake.store.accept``, and the server's resource limits.

Refuses mailboxes the desk does not own at RCPT (no open relay), lets aiosmtpd answer ``552``
over the size limit, and answers ``250`` only after the message is durably stored; a storage
failure is a temporary ``451`` so the sending server keeps the message and retries.

What one sender can take is bounded (:class:`SmtpLimits`, each a ``VIGIE_SMTP_*`` setting),
and every refusal is temporary, so a real mail server keeps the message and comes back:

* connections at once, in total and per peer address: the one over is greeted ``421`` and
  closed (memory is then at most connections x ``VIGIE_MAX_MESSAGE_BYTES``);
* an idle timeout: a connection silent that long (between commands or inside DATA) gets
  ``421`` and is closed; a slow sender that keeps sending is not cut off;
* lines: RFC 5321 caps them at 1,000 bytes, but real alert mail (HTML on one line) exceeds
  it, so longer lines are accepted as they are, up to ``VIGIE_SMTP_MAX_LINE_BYTES``; beyond,
  ``451`` instead of aiosmtpd's permanent ``500`` (nothing is bounced for it).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import Engine

from intake.store import Accepted, GroupCommit, Incoming
from vigie.metrics import MESSAGES_ACCEPTED, MESSAGES_REFUSED

log = logging.getLogger(__name__)

REFUSED_RCPT = "550 5.1.1 Destinataire inconnu : cette adresse n'est pas servie ici"
RETRY_LATER = "451 4.3.0 Stockage momentanément indisponible, réessayez plus tard"
TOO_MANY = "421 4.7.0 Trop de connexions simultanées{whom}, réessayez plus tard"
IDLE = "421 4.4.2 Délai d'inactivité dépassé, connexion fermée"
LINE_TOO_LONG = "451 4.5.3 Ligne de plus de {limit} octets, réessayez plus tard"
AIOSMTPD_LINE_TOO_LONG = "500 Line too long"


class IntakeHandler:
    def __init__(
        self,
        engine: Engine,
        mailboxes: frozenset[str],
        on_accepted: Callable[[Accepted], None] | None = None,
    ) -> None:
        self.store = GroupCommit(engine)
        self.mailboxes = mailboxes
        self.on_accepted = on_accepted

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.strip().lower() not in self.mailboxes:
            MESSAGES_REFUSED.labels("smtp", "unknown_mailbox").inc()
            return REFUSED_RCPT
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        # The TCP peer as the kernel saw it (aiosmtpd takes it from the transport; no PROXY
        # protocol or XCLIENT is enabled, so no client can claim another address). It is
        # stored with the message: source verification (intake/sources.py) judges it.
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
        if self.on_accepted is not None:
            self.on_accepted(result)
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

    @classmethod
    def from_settings(cls, settings: Any) -> SmtpLimits:
        return cls(
            max_connections=settings.smtp_max_connections,
            max_per_peer=settings.smtp_max_per_peer,
            idle_timeout=settings.smtp_idle_timeout,
            max_line_bytes=settings.smtp_max_line_bytes,
        )


class ConnectionCounter:
    """Connections open now, in total and per peer; used from the server's loop only."""

    def __init__(self, limits: SmtpLimits) -> None:
        self.limits = limits
        self.total = 0
        self.per_peer: Counter[str] = Counter()

    def admit(self, peer: str) -> str | None:
        """Counts the connection in, or returns the 421 answer that refuses it."""
        if self.total >= self.limits.max_connections:
            return TOO_MANY.format(whom="")
        if self.per_peer[peer] >= self.limits.max_per_peer:
            return TOO_MANY.format(whom=f" depuis {peer}")
        self.total += 1
        self.per_peer[peer] += 1
        return None

    def release(self, peer: str) -> None:
        self.total -= 1
        self.per_peer[peer] -= 1
        if self.per_peer[peer] <= 0:
            del self.per_peer[peer]


def _host(peername: Any) -> str:
    return str(peername[0]) if isinstance(peername, tuple) else str(peername or "")


class IntakeSMTP(SMTP):
    """aiosmtpd's server with the limits above; everything else is aiosmtpd's own."""

    def __init__(self, handler: Any, *, counter: ConnectionCounter, **kwargs: Any) -> None:
        # before aiosmtpd's __init__: it sizes its stream reader from this attribute
        self.line_length_limit = counter.limits.max_line_bytes
        super().__init__(handler, timeout=counter.limits.idle_timeout, **kwargs)
        self._counter = counter
        self._counted: str | None = None  # the peer this connection is counted for
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._counted is None and not self._refused:  # not the STARTTLS re-entry
            peer = _host(transport.get_extra_info("peername"))
            refusal = self._counter.admit(peer)
            if refusal is not None:
                self._refused = True
                log.warning("intake: connexion de %s refusée (%s)", peer, refusal)
                transport.write(refusal.encode() + b"\r\n")  # type: ignore[attr-defined]
                transport.close()
                return
            self._counted = peer
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return  # never started: nothing of aiosmtpd's to tear down
        try:
            super().connection_lost(error)
        finally:
            if self._counted is not None:
                self._counter.release(self._counted)
                self._counted = None

    def data_received(self, data: bytes) -> None:
        # idle means silent: every byte restarts the timer, also inside DATA (aiosmtpd only
        # restarts it between commands, which would cut off a slow but steady sender)
        self._reset_timeout()
        super().data_received(data)

    def _timeout_cb(self) -> None:
        if self.transport is not None:
            self.transport.write(IDLE.encode() + b"\r\n")  # type: ignore[attr-defined]
        super()._timeout_cb()

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str) and status.startswith(AIOSMTPD_LINE_TOO_LONG):
            status = LINE_TOO_LONG.format(limit=self.line_length_limit)  # type: ignore[assignment]
        await super().push(status)


def make_smtp_factory(
    handler: Any,
    *,
    max_bytes: int,
    hostname: str = "vigie",
    tls_context: ssl.SSLContext | None = None,
    limits: SmtpLimits | None = None,
) -> Callable[[], SMTP]:
    """The protocol factory for ``loop.create_server`` (one connection counter per server)."""
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
        return IntakeSMTP(handler, counter=counter, **kwargs)

    return factory


def tls_context_from(cert: str, key: str) -> ssl.SSLContext | None:
    if not cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key or None)
    return ctx
