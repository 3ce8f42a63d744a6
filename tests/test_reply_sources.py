"""Issue 21, finding 2: a reply passes the same source verification as an alert.

A mail sent from client A's address, with ``From:`` a client B contact and B's tagged
reference, was attached to B's case as that contact's reply: the headers are the sender's to
write. Now the reply's source is checked against B's rules (fixed IPs here) like any alert of
B's: from A's address it waits in triage, flagged; from B's own address it is attached. Real
SMTP on loopback, each client sending from its own 127.0.0.x address.
"""

from __future__ import annotations

import smtplib

from sqlalchemy.engine import Engine

from domain.refs import client_ref
from models.db import session_scope
from models.tables import Client
from tests.comms_fixtures import seed_case, seed_client
from tests.test_trust_replies import KEY, MAILBOX, intake, mail, routed

__all__ = ["intake"]  # the SMTP intake fixture, on the SQLite engine

CLIENT_A_IP, CLIENT_B_IP = "127.0.0.2", "127.0.0.3"
B_CONTACTS = (("Inès Robert", "ines@client-b.example", "+33450000021", "primary", 1),)


def send_from(port: int, source: str, raw: bytes, envelope: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10, source_address=(source, 0)) as smtp:
        smtp.sendmail(envelope, [MAILBOX], raw)


def fixed_ip(engine: Engine, client_id: int, ip: str) -> None:
    with session_scope(engine) as s:
        client = s.get(Client, client_id)
        assert client is not None
        client.fixed_ips = ip
        s.add(client)


def test_a_reply_from_another_clients_address_goes_to_triage_flagged(
    sqlite_engine: Engine, intake: int
) -> None:
    a_id, _ = seed_client(sqlite_engine)
    fixed_ip(sqlite_engine, a_id, CLIENT_A_IP)
    b_case = seed_case(sqlite_engine, B_CONTACTS)
    fixed_ip(sqlite_engine, b_case.client_id, CLIENT_B_IP)
    subject = f"Re: [{client_ref(b_case.ref, KEY)}] c'est réparé, fermez"
    forged = mail(subject, sender="Inès Robert <ines@client-b.example>")
    send_from(intake, CLIENT_A_IP, forged, "ines@client-b.example")

    (row,), routes = routed(sqlite_engine)
    assert routes == []  # nothing reaches B's case
    assert (row.family, row.triage, row.case_id, row.client_id, row.source_check) == (
        "client_reply", "pending", None, None, "unverified")
    assert row.extra["case_ref"] == b_case.ref  # shown in triage with the case it names
    assert "source non vérifiée" in row.source_detail and CLIENT_A_IP in row.source_detail
    assert row.extra["reason"] == row.source_detail


def test_the_same_reply_from_the_clients_own_address_is_attached(
    sqlite_engine: Engine, intake: int
) -> None:
    b_case = seed_case(sqlite_engine, B_CONTACTS)
    fixed_ip(sqlite_engine, b_case.client_id, CLIENT_B_IP)
    subject = f"Re: [{client_ref(b_case.ref, KEY)}] c'est réparé, fermez"
    send_from(intake, CLIENT_B_IP, mail(subject, sender="ines@client-b.example"),
              "ines@client-b.example")

    (row,), routes = routed(sqlite_engine)
    assert (row.triage, row.case_id, row.source_check) == ("none", b_case.case_id, "contact")
    assert [(r.workflow_id, r.signal_name) for r in routes] == [
        (b_case.workflow_id, "client_reply")]
