"""A thin aiosmtpd handler over ``intake.store.accept``.

Refuses mailboxes the desk does not own at RCPT (no open relay), lets aiosmtpd answer ``552``
over the size limit, and answers ``250`` only after the message is durably stored; a storage
failure is a temporary ``451`` so the sending server keeps the message and retries.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import Engine

from intake.store import Accepted, GroupCommit, Incoming
from vigie.metrics import MESSAGES_ACCEPTED, MESSAGES_REFUSED

log = logging.getLogger(__name__)

REFUSED_RCPT = "550 5.1.1 Destinataire inconnu : cette adresse n'est pas servie ici"
RETRY_LATER = "451 4.3.0 Stockage momentanément indisponible, réessayez plus tard"


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
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        try:
            result = await self.store.accept(
                Incoming(
                    data,
                    mail_from=envelope.mail_from or "",
                    rcpt_to=",".join(envelope.rcpt_tos),
                    peer_ip=peer,
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


def make_smtp_factory(
    handler: IntakeHandler,
    *,
    max_bytes: int,
    hostname: str = "vigie",
    tls_context: ssl.SSLContext | None = None,
) -> Callable[[], SMTP]:
    """The protocol factory for ``loop.create_server``."""

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
        return SMTP(handler, **kwargs)

    return factory


def tls_context_from(cert: str, key: str) -> ssl.SSLContext | None:
    if not cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key or None)
    return ctx
