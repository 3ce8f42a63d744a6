"""A trickle cannot keep the intake's slots (issue 21, finding 1), on real SMTP on loopback.

The idle timer restarts on every byte, so a sender giving one byte every few seconds was
never idle: 100 of them held every slot and honest senders heard 421 all along. Now a command
line must come whole within its deadline and DATA must keep a minimum rate; the settings are
scaled down here (deadlines of about a second, bytes every 0.3 s, never silent long enough for
the idle timeout)."""

from __future__ import annotations

import smtplib
import socket
import threading
import time

from sqlalchemy.engine import Engine

from tests.test_intake_smtp import PROBE, stored
from tests.test_trust_smtp import serve

DRIP = 0.3  # seconds between two bytes of a trickle: far under the idle timeout
SCALED = {"idle_timeout": 5.0, "command_timeout": 1.0, "data_timeout": 1.0,
          "data_min_rate": 50}


def expect(sock: socket.socket, code: bytes) -> bytes:
    answer = sock.recv(4096)
    assert answer.startswith(code), answer
    return answer


def drip(sock: socket.socket, payload: bytes, stop: threading.Event | None = None,
         bound: float = 20.0) -> bytes:
    """Sends ``payload`` one byte at a time, then keeps dripping filler, until the server
    answers (its answer) or closes (b""), or ``bound`` seconds pass (b"still open")."""
    sock.settimeout(DRIP)
    deadline = time.monotonic() + bound
    stream = iter(payload)
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        try:
            sock.send(bytes([next(stream, ord("x"))]))
        except OSError:
            return b""
        try:
            return sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            return b""
    return b"still open"


def open_data(port: int) -> socket.socket:
    """A connection that has reached DATA at once, as any sender does."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    expect(sock, b"220 ")
    for command, code in ((b"HELO trickle.example", b"250"),
                          (b"MAIL FROM:<probe@client-a.example>", b"250"),
                          (b"RCPT TO:<alerts@desk.example>", b"250"),
                          (b"DATA", b"354")):
        sock.sendall(command + b"\r\n")
        expect(sock, code)
    return sock


def test_a_command_trickled_byte_by_byte_is_cut_with_421(engine: Engine) -> None:
    with serve(engine, **SCALED) as srv, socket.create_connection(
        ("127.0.0.1", srv.port), timeout=10
    ) as sock:
        expect(sock, b"220 ")
        started = time.monotonic()
        answer = drip(sock, b"HELO " + b"a" * 200)
        assert answer.startswith(b"421 4.4.2 Commande"), answer
        assert time.monotonic() - started < SCALED["idle_timeout"]  # not the idle timer
        sock.settimeout(5)
        assert sock.recv(1024) == b""  # and closed


def test_commands_each_on_time_but_delivering_nothing_are_cut_too(engine: Engine) -> None:
    """A NOOP every 0.3 s meets every command deadline; the envelope budget still ends it,
    while a sender that delivers messages starts a new budget with each."""
    with serve(engine, **{**SCALED, "envelope_timeout": 1.5}) as srv:
        with connect_raw(srv.port) as sock:
            started = time.monotonic()
            answer = b""
            while not answer.startswith(b"421") and time.monotonic() - started < 20:
                time.sleep(DRIP)
                sock.sendall(b"NOOP\r\n")
                answer = sock.recv(1024)
            assert answer.startswith(b"421 4.4.2 Aucun message"), answer
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as smtp:
            for n in range(3):  # 3 x 0.6 s of commands on one connection: each message resets
                time.sleep(DRIP)
                smtp.noop()
                time.sleep(DRIP)
                assert smtp.sendmail("probe@client-a.example", ["alerts@desk.example"],
                                     PROBE.replace(b"probe-1@", f"probe-{n}@".encode())) == {}
    assert len(stored(engine)) == 3


def connect_raw(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    expect(sock, b"220 ")
    return sock


def test_a_message_trickled_under_the_minimum_rate_is_cut_and_not_stored(
    engine: Engine,
) -> None:
    with serve(engine, **SCALED) as srv, open_data(srv.port) as sock:
        answer = drip(sock, PROBE)
        assert answer.startswith(b"421 4.4.2 Message"), answer
        assert b"50 octets/s" in answer
    assert stored(engine) == []


def test_a_slow_but_honest_message_above_the_rate_goes_through(engine: Engine) -> None:
    """Longer than the DATA grace time, but each line buys more time than it takes."""
    with serve(engine, **SCALED) as srv, open_data(srv.port) as sock:
        for line in PROBE.split(b"\r\n"):
            sock.sendall(line + b"\r\n")
            time.sleep(DRIP)  # 7 lines: about 2.1 s, twice the grace time
        sock.sendall(b".\r\n")
        expect(sock, b"250 ")
    assert len(stored(engine)) == 1


def test_tricklers_holding_every_slot_do_not_keep_a_normal_sender_out(engine: Engine) -> None:
    """Two tricklers take both slots and come back each time they are cut; a normal sender
    retrying meanwhile (as a mail server does after 421) is served while the attack goes on."""
    stop = threading.Event()
    cuts: list[bytes] = []

    def trickler(at_data: bool) -> None:
        while not stop.is_set():
            try:
                sock = open_data(srv.port) if at_data else socket.create_connection(
                    ("127.0.0.1", srv.port), timeout=10)
                if not at_data:
                    expect(sock, b"220 ")
            except (OSError, AssertionError):  # full: 421 at the greeting
                time.sleep(0.05)
                continue
            with sock:
                answer = drip(sock, b"NOOP" + b"x" * 500, stop)
            if not stop.is_set():
                cuts.append(answer)
            time.sleep(0.5)  # then comes back for the slot

    with serve(engine, max_connections=2, **SCALED) as srv:
        attackers = [threading.Thread(target=trickler, args=(at_data,), daemon=True)
                     for at_data in (False, True)]
        for attacker in attackers:
            attacker.start()
        time.sleep(0.5)  # both slots taken
        served_at = None
        deadline = time.monotonic() + 30
        try:
            while served_at is None:
                assert time.monotonic() < deadline, f"never served; tricklers got {cuts}"
                try:
                    with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as smtp:
                        assert smtp.sendmail("probe@client-a.example",
                                             ["alerts@desk.example"], PROBE) == {}
                        served_at = time.monotonic()
                except smtplib.SMTPConnectError as refused:
                    assert refused.smtp_code == 421
                    time.sleep(0.1)
                except smtplib.SMTPServerDisconnected:
                    time.sleep(0.1)
            assert all(attacker.is_alive() for attacker in attackers)  # still attacking
        finally:
            stop.set()
            for attacker in attackers:
                attacker.join(10)
    assert len(stored(engine)) == 1
    assert cuts and all(cut.startswith(b"421 4.4.2") for cut in cuts), cuts
