"""Nudges between an intake and routers in other processes: one UDP datagram per stored
message, so a ``vigie router`` takes it at once instead of at its next look.

A nudge carries nothing and is never needed for correctness: a router that misses one (lost
datagram, router restarting, a router on another machine nobody nudges) still finds the
message at its next poll (``VIGIE_ROUTER_POLL_SECONDS``). So the listener believes nothing a
datagram says; whatever arrives only wakes the router early, which costs one claim query.
It listens on loopback by default (``VIGIE_ROUTER_HOST``).
"""

from __future__ import annotations

import asyncio
import logging
import socket

log = logging.getLogger(__name__)

NUDGE = b"v"


def parse_addresses(spec: str) -> list[tuple[str, int]]:
    """``"host:port,host:port"`` -> addresses; an entry without a valid port is an error
    said at start-up, not a nudge silently sent nowhere."""
    out: list[tuple[str, int]] = []
    for item in (p.strip() for p in spec.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"adresse de réveil du routeur invalide : {item!r} (hôte:port)")
        out.append((host, int(port)))
    return out


RESOLVE_EVERY = 30.0  # seconds: routers scaled up (or moved) are nudged within this


class Nudger:
    """The intake's side: a datagram to every router address after each stored message.

    A name stands for every address it resolves to (Docker's DNS answers a scaled service's
    name with each replica's), looked up at start and again every ``RESOLVE_EVERY`` seconds
    in a thread (``keep_resolving``), never on the intake's loop per message. Sending never
    blocks nor fails the intake: the socket is non-blocking and any error (no router
    listening, buffer full, name not resolving) is dropped, the poll covers it."""

    def __init__(self, addresses: list[tuple[str, int]]) -> None:
        self.names = addresses
        self._by_name: dict[tuple[str, int], list[tuple[str, int]]] = {}
        self._failing: set[tuple[str, int]] = set()  # said once, until it resolves again
        self.addresses: list[tuple[str, int]] = []
        self.refresh()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sent = 0

    def refresh(self) -> None:
        """Looks the names up again; a name that no longer resolves keeps its last
        addresses (a DNS hiccup should not silence the nudges)."""
        for name in self.names:
            now = _resolved(*name, quiet=name in self._failing)
            if now is None:
                self._failing.add(name)
            else:
                self._failing.discard(name)
                self._by_name[name] = now
        found: list[tuple[str, int]] = []
        for name in self.names:
            found.extend(a for a in self._by_name.get(name, []) if a not in found)
        self.addresses = found  # one assignment: the loop's sends see the old or the new

    def __call__(self, _accepted: object = None) -> None:
        for address in self.addresses:
            try:
                self.sock.sendto(NUDGE, address)
                self.sent += 1
            except OSError as exc:
                log.debug("router nudge to %s:%s not sent: %s", *address, exc)

    def close(self) -> None:
        self.sock.close()


async def keep_resolving(nudger: Nudger, every: float = RESOLVE_EVERY) -> None:
    """Runs ``nudger.refresh`` every ``every`` seconds, off the loop, until cancelled."""
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(nudger.refresh)
        except Exception:
            log.exception("réveil du routeur : nouvelle résolution impossible")


def _resolved(host: str, port: int, *, quiet: bool = False
              ) -> list[tuple[str, int]] | None:
    """Every IPv4 address of ``host`` (one for an address, all replicas for a scaled
    service's name); None when the name does not resolve, said as a warning unless
    ``quiet`` (the same name failing again, 30 s later)."""
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as exc:
        log.log(logging.DEBUG if quiet else logging.WARNING,
                "réveil du routeur %s:%s impossible (%s) : il relèvera seul", host, port, exc)
        return None
    out: list[tuple[str, int]] = []
    for info in infos:
        address = (str(info[4][0]), port)
        if address not in out:
            out.append(address)
    return out


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, wake: asyncio.Event) -> None:
        self.wake = wake

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.wake.set()


async def listen(host: str, port: int, wake: asyncio.Event) -> asyncio.DatagramTransport:
    """The router's side: every datagram on ``host:port`` sets ``wake``."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Listener(wake), local_addr=(host, port))
    return transport  # type: ignore[return-value]
