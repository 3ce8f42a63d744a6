"""Issue 21, finding 16: the console tells when a client's fixed-IP check fails because its
mail comes through a relay that is not registered for it.

Behind a relaying MTA the connection's peer is the relay, so a client verified by its fixed IP
turned "unverified" without a word to the operator. The mail here goes through the real SMTP
intake on loopback from 127.0.0.5 (the relay), with the ``Received`` line the relay wrote
naming the client's fixed address; the administration pages then show it, and registering
the relay from there makes the next mail verified and the warning go away.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from intake.smtp import IntakeHandler, make_smtp_factory
from models.db import session_scope
from models.tables import Client
from tests.browser.support import make_desk
from tests.smtp_helpers import ServerThread
from tests.test_routing import drain_db_step

RELAY, CLIENT_IP = "127.0.0.5", "203.0.113.7"
MAILBOX = "alerts@desk.example"


def relayed(n: int, hop_ip: str = CLIENT_IP) -> bytes:
    return (
        f"Received: from srv-app.client-b.example (srv-app.client-b.example [{hop_ip}])\r\n"
        f"\tby mx.msp.example (Postfix) with ESMTP id 4F{n}; Mon, 7 Dec 2026 10:0{n}:00 +0100\r\n"
        "From: vigie-probe@client-b.example\r\nTo: alerts@desk.example\r\n"
        f"Message-ID: <relayed-{n}@client-b.example>\r\n"
        "Subject: [VIGIE] SRV-APP PROBLEM cpu\r\n\r\n"
        "Host: SRV-APP\r\nCheck: cpu\r\nStatus: PROBLEM\r\n"
    ).encode()


@pytest.fixture
def intake(engine: Engine) -> Iterator[int]:
    handler = IntakeHandler(engine, frozenset({MAILBOX}))
    with ServerThread(make_smtp_factory(handler, max_bytes=1_000_000)) as server:
        yield server.port


def send(port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10, source_address=(RELAY, 0)) as smtp:
        smtp.sendmail("vigie-probe@client-b.example", [MAILBOX], raw)


def test_a_client_whose_mail_comes_through_an_unregistered_relay_is_shown(
    engine: Engine, intake: int, tmp_path: Path
) -> None:
    desk = make_desk(engine, tmp_path)
    b = desk.clients["client-b"]
    with session_scope(engine) as s:
        client = s.get(Client, b)
        assert client is not None
        client.fixed_ips = CLIENT_IP
    send(intake, relayed(1))
    send(intake, relayed(2))
    send(intake, relayed(3, hop_ip="198.51.100.99"))  # another sender: no hint
    rows = drain_db_step(engine)
    assert [r.source_check for r in rows] == ["unverified"] * 3
    assert rows[0].source_detail.startswith(f"relais non enregistré {RELAY}")
    assert "relais non enregistré" not in rows[2].source_detail

    http, token = desk.signed_in("admin")
    listing = http.get("/admin/clients").text
    assert f'href="/admin/clients/{b}#unregistered-relays"' in listing
    assert f"/admin/clients/{desk.clients['client-a']}#unregistered-relays" not in listing
    page = http.get(f"/admin/clients/{b}").text
    section = page.split('id="unregistered-relays"', 1)[1].split("</section>", 1)[0]
    assert RELAY in section and CLIENT_IP in section
    assert "<td>2</td>" in section  # the two relayed messages; the third named nobody
    english = http.get(f"/admin/clients/{b}?lang=en").text
    assert "Fixed-IP check failing: unregistered relay" in english

    # registered from the page: the warning goes, and the next mail through it is verified
    answer = http.post(f"/admin/clients/{b}/sources", data={
        "kind": "relay", "value": RELAY, "note": "relais du client", "csrf_token": token})
    assert answer.status_code in (302, 303)
    assert 'id="unregistered-relays"' not in http.get(f"/admin/clients/{b}").text
    assert "#unregistered-relays" not in http.get("/admin/clients").text
    send(intake, relayed(4))
    assert drain_db_step(engine)[-1].source_check == "relay"
