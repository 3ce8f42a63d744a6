"""The intake behind the SMTP load balancer: the PROXY protocol (v1 and v2), read by aiosmtpd.

HAProxy in TCP mode (``deploy/haproxy.cfg``) opens every connection itself, so without the
protocol the source check and the per-peer limit only ever see the balancer. With
``VIGIE_SMTP_PROXY_PROTOCOL`` on, the balancer writes a PROXY header first and the client it
names becomes the peer; the header is believed from the balancers of
``VIGIE_SMTP_PROXY_FROM`` only. Each scenario runs the real intake server on loopback; the
test plays the balancer, writing the header by hand (v1 is a text line, v2 is packed below as
the protocol's specification lays it out) before speaking SMTP with smtplib. ``127.0.0.1``
is the balancer unless said otherwise; the clients are documentation addresses.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from base.settings import Settings
from intake.smtp import IntakeHandler, ProxyTrust, SmtpLimits, make_smtp_factory
from models.db import session_scope
from models.tables import Client, RawMessage
from records.sources import SourceVerifier
from tests.smtp_helpers import ServerThread
from tests.test_intake_smtp import MAILBOXES, PROBE
from vigie.services import smtp_proxy_trust

CLIENT = "203.0.113.7"  # the sending mail server, as the balancer saw it
BALANCER = "127.0.0.1"  # the test's own address: the TCP peer the intake sees
MAILBOX = "alerts@desk.example"
HEADER_TIMEOUT = 5.0  # aiosmtpd warns below 3 s; 5 s leaves a loaded machine room

# PROXY v2: a 12-byte signature, version 2 and a command, family and protocol, the length of
# what follows, then the addresses and ports (IPv4 over TCP: 4 + 4 + 2 + 2 bytes)
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_PROXY, V2_LOCAL = 0x21, 0x20
TCP_OVER_IPV4 = 0x11


def v1(source: str, port: int = 40000) -> bytes:
    family = "TCP6" if ":" in source else "TCP4"
    destination = "::1" if family == "TCP6" else "127.0.0.1"
    return f"PROXY {family} {source} {destination} {port} 2525\r\n".encode()


def v2(source: str, port: int = 40000) -> bytes:
    addresses = socket.inet_aton(source) + socket.inet_aton("127.0.0.1")
    tail = addresses + struct.pack("!HH", port, 2525)
    return V2_SIGNATURE + struct.pack("!BBH", V2_PROXY, TCP_OVER_IPV4, len(tail)) + tail


V2_HEALTH_CHECK = V2_SIGNATURE + struct.pack("!BBH", V2_LOCAL, 0x00, 0)  # HAProxy's checks
V1_UNKNOWN = b"PROXY UNKNOWN\r\n"  # v1's way of naming no client


class BalancedSMTP(smtplib.SMTP):
    """smtplib's client behind the balancer: the PROXY header goes out right after the TCP
    connect, before the greeting is read, as HAProxy's ``send-proxy-v2`` does."""

    def __init__(self, port: int, header: bytes, balancer: str = BALANCER) -> None:
        self.header = header
        super().__init__("127.0.0.1", port, timeout=10, source_address=(balancer, 0))

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = super()._get_socket(host, port, timeout)
        sock.sendall(self.header)
        return sock


@contextmanager
def serve(engine: Engine, trust: str | None = BALANCER, **limits: Any) -> Iterator[int]:
    """The intake's SMTP server on loopback; ``trust=None``: the protocol off (the default)."""
    proxy = ProxyTrust.parse(trust, HEADER_TIMEOUT) if trust is not None else None
    handler = IntakeHandler(engine, MAILBOXES)
    factory = make_smtp_factory(handler, max_bytes=1_000_000, limits=SmtpLimits(**limits),
                                proxy=proxy)
    with ServerThread(factory) as srv:
        yield srv.port


def stored_peers(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return [r.peer_ip for r in s.exec(select(RawMessage).order_by(col(RawMessage.id)))]


def probe(n: int) -> bytes:
    return PROBE.replace(b"<probe-1@", f"<probe-{n}@".encode())


def send_through(port: int, header: bytes, n: int = 1, balancer: str = BALANCER) -> None:
    with BalancedSMTP(port, header, balancer) as smtp:
        assert smtp.sendmail("monitor@client.example", [MAILBOX], probe(n)) == {}


def warned(caplog: pytest.LogCaptureFixture, *words: str, within: float = 3.0) -> bool:
    """Some WARNING of the intake says all these words (logged from the server's thread)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for record in caplog.records:
            if record.name == "intake.smtp" and record.levelno == logging.WARNING and all(
                w in record.getMessage() for w in words
            ):
                return True
        time.sleep(0.05)
    return False


def closed_without_greeting(sock: socket.socket) -> bytes:
    """Everything the intake writes until it closes (nothing, or one 421 line)."""
    received = b""
    while chunk := sock.recv(1024):
        received += chunk
    assert not received.startswith(b"220"), received
    return received


# --- behind a trusted balancer, the client is the peer ------------------------------------


@pytest.mark.parametrize("header", [v1(CLIENT), v2(CLIENT), v1("2001:db8::7")],
                         ids=["v1", "v2", "v1-ipv6"])
def test_behind_the_trusted_balancer_the_stored_peer_is_the_client_the_header_names(
    sqlite_engine: Engine, header: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="intake.smtp")
    with serve(sqlite_engine) as port:
        send_through(port, header)
    client = "2001:db8::7" if b"TCP6" in header else CLIENT
    assert stored_peers(sqlite_engine) == [client]  # not the balancer's 127.0.0.1
    accepted = [r.getMessage() for r in caplog.records if "accepté" in r.getMessage()]
    assert len(accepted) == 1 and client in accepted[0]  # and logged as the peer


def test_the_source_check_judges_the_client_not_the_balancer(sqlite_engine: Engine) -> None:
    """Verification reads the stored peer: a client whose registered address is the one the
    balancer names is verified by it; a header naming another address is not."""
    with session_scope(sqlite_engine) as s:
        s.add(Client(code="client-p", name="Client P", fixed_ips=CLIENT))
    with serve(sqlite_engine) as port:
        send_through(port, v2(CLIENT), n=1)
        send_through(port, v1("198.51.100.9"), n=2)
    with Session(sqlite_engine) as s:
        client_id = s.exec(select(Client.id).where(Client.code == "client-p")).one()
        genuine, other = s.exec(select(RawMessage).order_by(col(RawMessage.id))).all()
        verifier = SourceVerifier.load(s)
    assert (genuine.peer_ip, other.peer_ip) == (CLIENT, "198.51.100.9")
    assert verifier.verify(genuine, client_id).method == "ip"
    assert CLIENT in verifier.verify(genuine, client_id).detail
    assert verifier.verify(other, client_id).method == "unverified"


def test_starttls_behind_the_balancer_keeps_the_client(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """aiosmtpd starts a new session over TLS, its peer read from the transport again: the
    client must stay the one the header named, not become the balancer."""
    import ssl
    import subprocess

    from intake.smtp import tls_context_from

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    factory = make_smtp_factory(
        IntakeHandler(sqlite_engine, MAILBOXES), max_bytes=1_000_000,
        tls_context=tls_context_from(str(cert), str(key)),
        proxy=ProxyTrust.parse(BALANCER, HEADER_TIMEOUT),
    )
    client_ctx = ssl.create_default_context(cafile=str(cert))
    client_ctx.check_hostname = False
    with ServerThread(factory) as srv, BalancedSMTP(srv.port, v2(CLIENT)) as smtp:
        smtp.starttls(context=client_ctx)
        assert smtp.sendmail("monitor@client.example", [MAILBOX], PROBE) == {}
    assert stored_peers(sqlite_engine) == [CLIENT]


# --- a header is believed from the balancer only, and only whole and in time -------------


def test_a_header_from_a_peer_that_is_not_the_balancer_is_refused(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone may connect to the intake's port and write a header: from any address but the
    balancers', the connection is refused 421 before a byte of it is read."""
    with serve(sqlite_engine, trust="10.9.9.9, 127.0.0.2") as port:
        for header in (v1(CLIENT), v2(CLIENT)):
            with pytest.raises(smtplib.SMTPConnectError) as refused:
                BalancedSMTP(port, header)  # from 127.0.0.1
            assert refused.value.smtp_code == 421
            assert "répartiteur" in refused.value.smtp_error.decode()
        assert warned(caplog, "127.0.0.1", "refusée")
        assert stored_peers(sqlite_engine) == []
        send_through(port, v1(CLIENT), balancer="127.0.0.2")  # the balancer is still served
    assert stored_peers(sqlite_engine) == [CLIENT]


def test_no_header_at_all_is_closed_after_the_header_timeout(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with serve(sqlite_engine, idle_timeout=30) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            started = time.monotonic()
            answer = closed_without_greeting(sock)
            waited = time.monotonic() - started
        assert answer.startswith(b"421 4.4.2") and b"PROXY" in answer, answer
        assert HEADER_TIMEOUT - 0.5 <= waited < HEADER_TIMEOUT + 3  # its own, not the idle 30 s
        assert warned(caplog, "PROXY", "127.0.0.1")
        send_through(port, v2(CLIENT))  # and the server serves on
    assert stored_peers(sqlite_engine) == [CLIENT]


def test_a_header_dripping_in_slower_than_the_timeout_is_cut_off(sqlite_engine: Engine) -> None:
    """Every byte restarts the idle timer, but not the header's: a peer writing one byte now
    and then cannot hold a connection open before it has said who it carries."""
    header = v1(CLIENT)
    with serve(sqlite_engine, idle_timeout=30) as port, socket.create_connection(
        ("127.0.0.1", port), timeout=15
    ) as sock:
        started = time.monotonic()
        sock.settimeout(0.4)
        answer = b""
        for i in range(len(header) - 2):  # all but the line's end, one byte at a time
            try:
                sock.sendall(header[i : i + 1])
                answer = sock.recv(1024)
            except TimeoutError:
                continue
            except OSError:
                break  # closed under our feet: that is the point
            break
        waited = time.monotonic() - started
    assert waited < HEADER_TIMEOUT + 2, f"still open after {waited:.1f} s"
    assert not answer.startswith(b"220"), answer
    assert stored_peers(sqlite_engine) == []


@pytest.mark.parametrize("garbage", [
    b"EHLO client.example\r\n",  # a client that talks straight to the intake
    b"PROXY TCP4 999.1.2.3 127.0.0.1 40000 2525\r\n",
    b"PROXY TCP4 203.0.113.7 127.0.0.1 40000\r\n",
    V2_SIGNATURE + struct.pack("!BBH", 0x31, TCP_OVER_IPV4, 12) + b"\x00" * 12,  # version 3
], ids=["smtp", "v1-address", "v1-no-port", "v2-version"])
def test_a_garbled_header_is_closed_and_nothing_is_stored(
    sqlite_engine: Engine, garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with serve(sqlite_engine) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(garbage)
            assert closed_without_greeting(sock) == b""  # aiosmtpd closes it at once
            assert time.monotonic() - started < HEADER_TIMEOUT
        assert warned(caplog, "sans en-tête PROXY valide")
        send_through(port, v1(CLIENT))
    assert stored_peers(sqlite_engine) == [CLIENT]


def test_a_connection_gone_before_its_header_leaves_the_server_serving(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A peer that leaves half-way through its header can send no more of it: its place (one
    connection at most here) is given back at once, not at the header's timeout."""
    with serve(sqlite_engine, max_connections=1) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"PRO")
        assert warned(caplog, "sans en-tête PROXY valide", within=HEADER_TIMEOUT - 1)
        send_through(port, v2(CLIENT))
    assert stored_peers(sqlite_engine) == [CLIENT]


# --- the balancer's health check -----------------------------------------------------------


@pytest.mark.parametrize("header", [V2_HEALTH_CHECK, V1_UNKNOWN], ids=["v2-local", "v1-unknown"])
def test_a_header_naming_no_client_is_served_as_the_tcp_peer(
    sqlite_engine: Engine, header: bytes
) -> None:
    """HAProxy's health checks (``check-send-proxy``) send v2 ``LOCAL``, v1 ``UNKNOWN``: the
    check greets, says QUIT and goes; the peer stays the balancer itself."""
    with serve(sqlite_engine) as port:
        with BalancedSMTP(port, header) as check:
            assert check.noop()[0] == 250
            assert check.docmd("QUIT")[0] == 221
        send_through(port, header)
    assert stored_peers(sqlite_engine) == [BALANCER]


# --- the per-peer limit counts the client, the total limit every connection -------------


def wait_for(connect: Callable[[], smtplib.SMTP]) -> smtplib.SMTP:
    """The connection once a place freed by a closed one is given back (server side)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            return connect()
        except smtplib.SMTPConnectError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_the_per_peer_limit_counts_the_client_behind_the_balancer(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Every connection comes from the balancer's address: counted by it, one client would
    take the balancer's whole share. Counted by the client the header names, two clients
    get in at one connection each, and a second from the same client is told to retry."""
    a, b, c, d = "198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"
    with serve(sqlite_engine, max_per_peer=1, max_connections=3) as port, ExitStack() as open_:
        first = open_.enter_context(BalancedSMTP(port, v2(a)))
        open_.enter_context(BalancedSMTP(port, v1(b)))
        with pytest.raises(smtplib.SMTPConnectError) as same_client:
            BalancedSMTP(port, v1(a, port=40001))
        assert same_client.value.smtp_code == 421 and a.encode() in same_client.value.smtp_error
        assert warned(caplog, a, BALANCER, "refusée")
        # the total limit is still every connection's, the balancer's included
        open_.enter_context(wait_for(lambda: BalancedSMTP(port, v1(c))))
        with pytest.raises(smtplib.SMTPConnectError) as total:
            BalancedSMTP(port, v1(d))
        assert total.value.smtp_code == 421 and b"depuis" not in total.value.smtp_error
        # a place freed is the client's again
        assert first.sendmail("monitor@client.example", [MAILBOX], probe(1)) == {}
        first.quit()
        again = wait_for(lambda: BalancedSMTP(port, v2(a, port=40002)))
        assert again.sendmail("monitor@client.example", [MAILBOX], probe(2)) == {}
        again.quit()
    assert stored_peers(sqlite_engine) == [a, a]


def test_a_registered_relay_gets_its_own_limit_and_a_sender_keeps_the_per_peer_one(
    sqlite_engine: Engine,
) -> None:
    """A relaying MTA (Postfix in front of the desk) holds many connections from one
    address: counted at the per-sender limit, its burst is deferred by hundreds (issue 21,
    finding 13). Registered in ``VIGIE_SMTP_RELAY_PEERS``, it gets
    ``VIGIE_SMTP_RELAY_PEER_MAX``; any other sender still gets ``VIGIE_SMTP_MAX_PER_PEER``."""
    import ipaddress

    relay, sender = "198.51.100.25", "198.51.100.26"
    with serve(sqlite_engine, max_per_peer=1, relay_peers=(ipaddress.ip_network(relay),),
               relay_max_per_peer=3) as port, ExitStack() as open_:
        held = [open_.enter_context(BalancedSMTP(port, v2(relay, port=40000 + i)))
                for i in range(3)]
        with pytest.raises(smtplib.SMTPConnectError) as fourth:
            BalancedSMTP(port, v2(relay, port=40010))
        assert fourth.value.smtp_code == 421 and relay.encode() in fourth.value.smtp_error
        open_.enter_context(BalancedSMTP(port, v2(sender)))
        with pytest.raises(smtplib.SMTPConnectError) as second:
            BalancedSMTP(port, v2(sender, port=40011))
        assert second.value.smtp_code == 421
        for n, smtp in enumerate(held):
            assert smtp.sendmail("monitor@client.example", [MAILBOX], probe(n)) == {}
    assert stored_peers(sqlite_engine) == [relay] * 3


def test_the_relay_limit_comes_from_the_settings_and_a_bad_entry_stops_the_intake() -> None:
    limits = SmtpLimits.from_settings(Settings(smtp_relay_peers="192.0.2.25, 10.1.0.0/16",
                                               smtp_relay_peer_max=40))
    assert limits.per_peer_limit("192.0.2.25") == 40
    assert limits.per_peer_limit("10.1.2.3") == 40
    assert limits.per_peer_limit("::ffff:10.1.2.3") == 40  # IPv4-mapped is IPv4
    assert limits.per_peer_limit("192.0.2.26") == Settings().smtp_max_per_peer
    assert SmtpLimits.from_settings(Settings()).relay_peers == ()  # none unless registered
    with pytest.raises(ValueError, match="postfix"):
        SmtpLimits.from_settings(Settings(smtp_relay_peers="postfix"))


# --- off by default: no client can claim an address -------------------------------------


def test_with_the_protocol_off_a_proxy_line_is_a_bad_command_and_the_peer_the_tcp_peer(
    sqlite_engine: Engine,
) -> None:
    with serve(sqlite_engine, trust=None) as port, BalancedSMTP(port, v1(CLIENT)) as smtp:
        code, _ = smtp.getreply()  # the answer to the header line, read as a command
        assert code == 500
        assert smtp.sendmail("monitor@client.example", [MAILBOX], PROBE) == {}
    assert stored_peers(sqlite_engine) == [BALANCER]


def test_the_protocol_is_off_unless_asked() -> None:
    assert Settings().smtp_proxy_protocol is False
    assert smtp_proxy_trust(Settings()) is None


def test_the_intake_refuses_to_start_believing_a_header_from_anyone() -> None:
    with pytest.raises(SystemExit) as refused:
        smtp_proxy_trust(Settings(smtp_proxy_protocol=True, smtp_proxy_from=" "))
    assert "VIGIE_SMTP_PROXY_FROM" in str(refused.value)
    with pytest.raises(SystemExit) as by_name:  # a name is not what the kernel sees
        smtp_proxy_trust(Settings(smtp_proxy_protocol=True, smtp_proxy_from="smtp-lb"))
    assert "smtp-lb" in str(by_name.value)
    with pytest.raises(SystemExit) as no_time:
        smtp_proxy_trust(Settings(smtp_proxy_protocol=True, smtp_proxy_from=BALANCER,
                                  smtp_proxy_timeout=0))
    assert "VIGIE_SMTP_PROXY_TIMEOUT" in str(no_time.value)
    trust = smtp_proxy_trust(Settings(smtp_proxy_protocol=True,
                                      smtp_proxy_from="172.30.25.10, 10.0.0.0/8",
                                      smtp_proxy_timeout=4))
    assert trust is not None and trust.timeout == 4
    assert trust.trusts("172.30.25.10") and trust.trusts("::ffff:10.1.2.3")
    assert not trust.trusts("172.30.25.11") and not trust.trusts("")
