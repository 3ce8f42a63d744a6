"""The SMTP intake bounds what one sender can take (issue 11, finding 9), with a real SMTP
client on loopback: connections at once (in total and per peer, from distinct 127.0.0.x
addresses), an idle timeout, and lines over 1,000 bytes kept rather than bounced. Every
refusal is a temporary 4xx, so a real mail server retries and nothing is lost."""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
from sqlalchemy.engine import Engine

from intake.smtp import IntakeHandler, SmtpLimits, make_smtp_factory
from tests.smtp_helpers import ServerThread
from tests.test_intake_smtp import MAILBOXES, PROBE, stored


@contextmanager
def serve(engine: Engine, **limits: object) -> Iterator[ServerThread]:
    handler = IntakeHandler(engine, MAILBOXES)
    factory = make_smtp_factory(handler, max_bytes=1_000_000,
                                limits=SmtpLimits(**limits))  # type: ignore[arg-type]
    with ServerThread(factory) as srv:
        yield srv


def connect(port: int, source: str = "127.0.0.1") -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", port, timeout=10, source_address=(source, 0))


def test_connections_over_the_limits_are_told_to_come_back(engine: Engine) -> None:
    with serve(engine, max_connections=3, max_per_peer=2) as srv, ExitStack() as open_:
        first = open_.enter_context(connect(srv.port))
        open_.enter_context(connect(srv.port))
        with pytest.raises(smtplib.SMTPConnectError) as per_peer:
            connect(srv.port)  # a third from the same address
        assert per_peer.value.smtp_code == 421 and b"127.0.0.1" in per_peer.value.smtp_error
        open_.enter_context(connect(srv.port, "127.0.0.2"))  # another peer still gets in
        with pytest.raises(smtplib.SMTPConnectError) as total:
            connect(srv.port, "127.0.0.3")  # but not a fourth in all
        assert total.value.smtp_code == 421
        # the connections at work are unaffected, and a place freed is a place again
        assert first.sendmail("probe@client-a.example", ["alerts@desk.example"], PROBE) == {}
        first.quit()
        deadline = time.monotonic() + 5
        while True:
            try:
                again = connect(srv.port, "127.0.0.3")
                break
            except smtplib.SMTPConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        again.quit()
    assert len(stored(engine)) == 1


def test_a_silent_connection_is_closed_with_421(engine: Engine) -> None:
    with serve(engine, idle_timeout=0.5) as srv, socket.create_connection(
        ("127.0.0.1", srv.port), timeout=5
    ) as sock:
        assert sock.recv(1024).startswith(b"220 ")
        time.sleep(1.0)
        answer = sock.recv(1024)
        assert answer.startswith(b"421 4.4.2"), answer
        assert sock.recv(1024) == b""  # and closed


def test_a_slow_sender_that_keeps_sending_is_not_cut_off(engine: Engine) -> None:
    """Idle means silent: a DATA longer than the timeout goes through if bytes keep coming."""
    with serve(engine, idle_timeout=1.2) as srv, connect(srv.port) as smtp:
        smtp.ehlo()
        smtp.mail("probe@client-a.example")
        smtp.rcpt("alerts@desk.example")
        code, _ = smtp.docmd("DATA")
        assert code == 354
        for line in PROBE.split(b"\r\n"):
            smtp.send(line + b"\r\n")
            time.sleep(0.3)  # 7 lines: about 2.1 s in DATA, longer than the timeout
        smtp.send(b".\r\n")
        code, msg = smtp.getreply()
        assert code == 250, msg
    assert len(stored(engine)) == 1


def test_a_line_over_1000_bytes_is_kept_not_bounced(engine: Engine) -> None:
    long_line = b"<p>" + b"x" * 5000 + b"</p>"
    message = PROBE + long_line + b"\r\n"
    with serve(engine) as srv, connect(srv.port) as smtp:
        assert smtp.sendmail("probe@client-a.example", ["alerts@desk.example"], message) == {}
    (row,) = stored(engine)
    assert long_line in row.data


def test_a_line_over_the_configured_limit_is_a_temporary_451(engine: Engine) -> None:
    message = PROBE + b"y" * 5000 + b"\r\n"
    with serve(engine, max_line_bytes=2000) as srv, connect(srv.port) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail("probe@client-a.example", ["alerts@desk.example"], message)
        assert refused.value.smtp_code == 451 and b"2000" in refused.value.smtp_error
        # the session goes on: the next message is accepted
        assert smtp.sendmail("probe@client-a.example", ["alerts@desk.example"], PROBE) == {}
    assert len(stored(engine)) == 1


def test_the_limits_come_from_the_settings() -> None:
    from base.settings import Settings

    limits = SmtpLimits.from_settings(Settings(
        smtp_max_connections=7, smtp_max_per_peer=3, smtp_idle_timeout=12.5,
        smtp_max_line_bytes=4096))
    assert limits == SmtpLimits(7, 3, 12.5, 4096)
    assert SmtpLimits.from_settings(Settings()) == SmtpLimits()  # one set of defaults
