"""What every console route needs: settings, the database engine, a Temporal client, the key.

The Temporal client is made on first use so the console starts (and serves the queue, the
SLA view, the administration) while Temporal is down or not configured at all; after a failed
connection it is not retried for a few seconds, so that a page that only *decorates* itself
with the workflow's view never waits on a dead server at every request.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from temporalio.client import Client

from base.settings import Settings
from contracts.codec import data_converter

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE_S = 3.0


class TemporalUnavailable(RuntimeError):
    """Temporal is not configured, or did not answer recently."""


@dataclass
class Services:
    settings: Settings
    engine: Engine
    secret: str = ""
    _client: Client | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _down_until: float = 0.0

    def __post_init__(self) -> None:
        if not self.secret:
            self.secret = self.settings.secret_key or _ephemeral_secret()

    @property
    def temporal_configured(self) -> bool:
        return bool(self.settings.temporal_address.strip())

    async def temporal(self) -> Client:
        """A connected client; raises :class:`TemporalUnavailable` quickly when there is none."""
        if not self.temporal_configured:
            raise TemporalUnavailable("Temporal non configuré")
        async with self._lock:
            if self._client is None:
                if time.monotonic() < self._down_until:
                    raise TemporalUnavailable("Temporal injoignable (nouvel essai sous peu)")
                try:
                    self._client = await asyncio.wait_for(
                        Client.connect(
                            self.settings.temporal_address,
                            namespace=self.settings.temporal_namespace,
                            data_converter=data_converter(self.engine),
                        ),
                        timeout=5,
                    )
                except Exception as exc:
                    self._down_until = time.monotonic() + RETRY_AFTER_FAILURE_S
                    raise TemporalUnavailable(f"Temporal injoignable : {exc}") from exc
            return self._client


def _ephemeral_secret() -> str:
    """A per-process key for a development console started without ``VIGIE_SECRET_KEY``.

    Sessions then die with the process, which is acceptable on a developer's machine and
    loudly wrong in production, hence the warning.
    """
    log.warning(
        "VIGIE_SECRET_KEY est vide : clé de session aléatoire pour ce processus "
        "(les sessions ne survivront pas à un redémarrage ; à définir en production)"
    )
    return secrets.token_urlsafe(48)
