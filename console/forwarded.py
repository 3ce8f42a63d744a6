"""``X-Forwarded-For`` from a trusted proxy, believed only when it names an address.

uvicorn's own proxy middleware takes the header's value as the client's host whatever it
says, so ``garbage<script>`` from a misconfigured or compromised proxy ended in the sign-in
log and the lock-out table (issue 21, finding 9). This wraps it: the value it picked must be
an IP address, else the request keeps the proxy's own address and the value is logged
(shortened, as ``repr``: nothing a log reader's terminal would interpret).
"""

from __future__ import annotations

import ipaddress
import logging

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

log = logging.getLogger("vigie.console")
_PEER = "vigie.peer"  # the connection's own address, kept in the scope across uvicorn's step


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class CheckedProxyHeaders:
    """uvicorn's ``ProxyHeadersMiddleware`` for ``trusted`` proxies, then the check."""

    def __init__(self, app: ASGIApp, trusted: list[str]) -> None:
        self.app = app
        self.proxy = ProxyHeadersMiddleware(self._checked, trusted)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope[_PEER] = scope.get("client")
        await self.proxy(scope, receive, send)  # type: ignore[arg-type]

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.pop(_PEER, None)
        client = scope.get("client")
        if client and client != peer and not is_address(str(client[0])):
            log.warning("X-Forwarded-For ignoré (pas une adresse IP) de %s : %r",
                        peer[0] if peer else "?", str(client[0])[:80])
            scope["client"] = peer
        await self.app(scope, receive, send)
