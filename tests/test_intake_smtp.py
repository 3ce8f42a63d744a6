"""The SMTP intake: stored before 250, refused at RCPT, 552 over size, 451 when storage fails."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from intake.smtp import IntakeHandler, make_smtp_factory
from intake.store import accept, message_id_of
from models.tables import Outbox, RawMessage
from tests.smtp_helpers import ServerThread

MAILBOXES = frozenset({"alerts@desk.example"})

PROBE = (
    b"From: vigie-probe@client-a.example\r\n"
    b"To: alerts@desk.example\r\n"
    b"Message-ID: <probe-1@client-a.example>\r\n"
    b"Subject: [VIGIE] SRV-DC01 PROBLEM cpu: processor time 97%\r\n"
    b"\r\n"
    b"Host: SRV-DC01\r\nCheck: cpu\r\nStatus: PROBLEM\r\n"
)


def serve(engine: Engine, max_bytes: int = 1_000_000) -> ServerThread:
    handler = IntakeHandler(engine, MAILBOXES)
    return ServerThread(make_smtp_factory(handler, max_bytes=max_bytes))


def stored(engine: Engine) -> list[RawMessage]:
    with Session(engine) as s:
        return list(s.exec(select(RawMessage)).all())


def test_a_message_is_stored_with_its_digest_and_outbox_row_before_250(engine: Engine) -> None:
    with serve(engine) as srv, smtplib.SMTP("127.0.0.1", srv.port) as smtp:
        refused = smtp.sendmail("probe@client-a.example", ["alerts@desk.example"], PROBE)
        assert refused == {}
        # the 250 has been answered: the row must already be there
        rows = stored(engine)
    assert len(rows) == 1
    assert rows[0].message_id == "<probe-1@client-a.example>"
    assert len(rows[0].sha256) == 64
    assert rows[0].data.replace(b"\r\n", b"\n") == PROBE.replace(b"\r\n", b"\n")
    with Session(engine) as s:
        assert len(s.exec(select(Outbox)).all()) == 1


def test_mail_for_a_mailbox_the_desk_does_not_own_is_refused_at_rcpt(engine: Engine) -> None:
    with serve(engine) as srv, smtplib.SMTP("127.0.0.1", srv.port) as smtp:
        smtp.ehlo()
        smtp.mail("spammer@else.example")
        code, msg = smtp.rcpt("victim@elsewhere.example")
        assert code == 550
        assert b"5.1.1" in msg
        smtp.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("a@b.example", ["relay@gmail.example"], PROBE)
    assert stored(engine) == []


def send_without_size_declaration(port: int, data: bytes, timeout: float = 60) -> int:
    """A client that does not announce SIZE, so the limit is met during DATA."""
    with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as smtp:
        smtp.ehlo()
        smtp.mail("a@client-a.example")
        smtp.rcpt("alerts@desk.example")
        code, _ = smtp.data(data)
        return code


def test_a_message_over_the_size_limit_is_answered_552_and_not_stored(engine: Engine) -> None:
    big = PROBE + (b"x" * 998 + b"\r\n") * 200
    with serve(engine, max_bytes=100_000) as srv:
        # a client that declares the size is refused at MAIL FROM
        with smtplib.SMTP("127.0.0.1", srv.port) as smtp:
            with pytest.raises(smtplib.SMTPSenderRefused) as err:
                smtp.sendmail("a@client-a.example", ["alerts@desk.example"], big)
            assert err.value.smtp_code == 552
        # one that does not is refused at the end of DATA
        assert send_without_size_declaration(srv.port, big) == 552
    assert stored(engine) == []


def test_a_50_mb_message_is_refused_cleanly_and_the_intake_keeps_serving(
    sqlite_engine: Engine,
) -> None:
    huge = PROBE + (b"A" * 998 + b"\r\n") * (50 * 1024)
    with serve(sqlite_engine, max_bytes=10 * 1024 * 1024) as srv:
        assert send_without_size_declaration(srv.port, huge, timeout=120) == 552
        with smtplib.SMTP("127.0.0.1", srv.port) as smtp:
            assert smtp.sendmail("a@client-a.example", ["alerts@desk.example"], PROBE) == {}
    assert len(stored(sqlite_engine)) == 1


def test_storage_failure_answers_451_so_the_sender_retries(sqlite_engine: Engine) -> None:
    with sqlite_engine.begin() as conn:
        conn.execute(text("DROP TABLE outbox"))
    with serve(sqlite_engine) as srv, smtplib.SMTP("127.0.0.1", srv.port) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as err:
            smtp.sendmail("a@client-a.example", ["alerts@desk.example"], PROBE)
        assert err.value.smtp_code == 451
    assert stored(sqlite_engine) == []  # the transaction rolled back whole


def test_a_redelivered_message_is_recognised_and_queued_once(engine: Engine) -> None:
    first = accept(engine, PROBE, mail_from="a@client-a.example")
    again = accept(engine, PROBE, mail_from="a@client-a.example")
    other = accept(engine, PROBE.replace(b"97%", b"98%"), mail_from="a@client-a.example")
    assert not first.duplicate and again.duplicate
    assert again.raw_message_id == first.raw_message_id
    assert not other.duplicate  # same Message-ID, different content: a different message
    with Session(engine) as s:
        assert len(s.exec(select(Outbox)).all()) == 2


def test_message_id_is_read_from_the_header_block_only() -> None:
    data = b"Subject: x\r\nMessage-Id:  <a@b>\r\n\r\nMessage-ID: <body@x>\r\n"
    assert message_id_of(data) == "<a@b>"
    assert message_id_of(b"") == ""
    assert message_id_of(b"\r\n\r\nMessage-ID: <x>") == ""


def test_starttls_is_offered_only_when_a_certificate_is_configured(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    import ssl
    import subprocess

    from intake.smtp import tls_context_from

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    handler = IntakeHandler(sqlite_engine, MAILBOXES)
    plain = make_smtp_factory(handler, max_bytes=1_000_000)
    with ServerThread(plain) as srv, smtplib.SMTP("127.0.0.1", srv.port) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("starttls")
    tls = make_smtp_factory(
        handler, max_bytes=1_000_000, tls_context=tls_context_from(str(cert), str(key))
    )
    client_ctx = ssl.create_default_context(cafile=str(cert))
    client_ctx.check_hostname = False
    with ServerThread(tls) as srv, smtplib.SMTP("127.0.0.1", srv.port) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        smtp.starttls(context=client_ctx)
        assert smtp.sock.version() is not None  # type: ignore[union-attr]
        assert smtp.sendmail("a@client-a.example", ["alerts@desk.example"], PROBE) == {}
    assert len(stored(sqlite_engine)) == 1
