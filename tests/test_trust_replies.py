"""Issue 11, finding 2: anyone could add a "client reply" to any client's case.

A mail from ``attacker@evil.example`` with subject ``Re: [VIG-000001] c est repare, fermez``
became a ``client_reply`` on the case; a signed SMS from an unknown number naming the case got
"votre message est joint au cas". Now a reply is attached only when it provably comes from
the client; a stranger's reply lands in the triage queue, marked unverified. Mails go through
the real intake over SMTP on loopback; SMS are Twilio-signed requests.
"""

from __future__ import annotations

import smtplib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from base.refkey import reference_key
from base.settings import Settings
from console import twilio_hooks
from console.deps import Services
from domain.refs import client_ref, ref_tag, refs_in, tag_ok
from intake.router import Router
from intake.smtp import IntakeHandler, make_smtp_factory
from models.db import session_scope
from models.tables import AlertEventRow, Communication
from records import triage
from tests.comms_fixtures import Seeded, seed_case
from tests.fake_twilio import AUTH_TOKEN, FROM_NUMBER, signed
from tests.smtp_helpers import ServerThread

KEY = b"reference-key-of-these-tests"
MAILBOX = "alerts@desk.example"
BASE = "https://desk.example.com"


def mail(subject: str, *, sender: str, in_reply_to: str = "", n: int = 1) -> bytes:
    head = [f"From: {sender}", f"To: {MAILBOX}", f"Message-ID: <r{n}@elsewhere.example>",
            f"Subject: {subject}"]
    if in_reply_to:
        head.append(f"In-Reply-To: {in_reply_to}")
    return ("\r\n".join(head) + "\r\n\r\nc'est repare, fermez le cas\r\n").encode()


@pytest.fixture
def intake(sqlite_engine: Engine) -> Iterator[int]:
    handler = IntakeHandler(sqlite_engine, frozenset({MAILBOX}))
    with ServerThread(make_smtp_factory(handler, max_bytes=1_000_000)) as server:
        yield server.port


def send(port: int, raw: bytes, envelope: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail(envelope, [MAILBOX], raw)


def routed(engine: Engine) -> tuple[list[AlertEventRow], list[Any]]:
    """The router's database step: the reply rows, and what it would tell Temporal."""
    router = Router(engine, client=None, task_queue="unused", ref_key=KEY)  # type: ignore[arg-type]
    routes = [r for _, rs in router._materialize(router._claim()) for r in rs]
    with Session(engine) as s:
        rows = list(s.exec(select(AlertEventRow).order_by(col(AlertEventRow.id))).all())
    return rows, routes


def test_references_carry_an_unguessable_tag() -> None:
    shown = client_ref("VIG-000011", KEY)
    assert shown.startswith("VIG-000011-") and len(shown) == len("VIG-000011-") + 6
    assert tag_ok("VIG-000011", ref_tag("VIG-000011", KEY), KEY)
    assert not tag_ok("VIG-000011", ref_tag("VIG-000011", b"other key"), KEY)
    assert not tag_ok("VIG-000012", ref_tag("VIG-000011", KEY), KEY)
    assert refs_in(f"Re: [{shown}] merci") == [("VIG-000011", shown.rsplit("-", 1)[1])]
    assert refs_in("Re: [VIG-000011] c est repare") == [("VIG-000011", None)]
    assert refs_in("<VIG-000011.instructions.1@desk.example>") == [("VIG-000011", None)]


def test_a_reply_from_a_stranger_lands_in_triage(sqlite_engine: Engine, intake: int) -> None:
    """The attack of finding 2, over real SMTP, and the ways around it that still fail."""
    seeded = seed_case(sqlite_engine)
    ref = seeded.ref
    tagged = client_ref(ref, KEY)
    elodie = "Élodie Martin <elodie@client-a.example>"
    send(intake, mail(f"Re: [{ref}] c est repare, fermez", sender="attacker@evil.example"),
         "attacker@evil.example")
    # a stranger who saw a tagged subject somewhere is still no contact
    send(intake, mail(f"Re: [{tagged}] fermez", sender="attacker@evil.example", n=2),
         "attacker@evil.example")
    # a forged contact address with the guessable reference, or a wrong tag
    send(intake, mail(f"Re: [{ref}] fermez", sender=elodie, n=3), "attacker@evil.example")
    send(intake, mail(f"Re: [{ref}-aaaaaa] fermez", sender=elodie, n=4), "attacker@evil.example")
    # a guessed Message-ID of the desk's old, sequential form
    send(intake, mail("Re: fermez", sender="attacker@evil.example", n=5,
                      in_reply_to=f"<{ref}.instructions.1@desk.example>"), "attacker@evil.example")
    rows, routes = routed(sqlite_engine)
    assert len(rows) == 5 and routes == []  # nothing reaches the case
    for row in rows:
        assert (row.family, row.triage, row.case_id, row.source_check) == (
            "client_reply", "pending", None, "unverified"), row.summary
        assert row.extra["case_ref"] == ref and row.extra["verification"] == "unverified"
    assert "pas un contact" in rows[0].source_detail
    assert "sans code" in rows[2].source_detail
    assert "faux" in rows[3].source_detail


def test_a_reply_from_the_client_is_attached(sqlite_engine: Engine, intake: int) -> None:
    seeded = seed_case(sqlite_engine)
    msgid = f"<{client_ref(seeded.ref, KEY)}.instructions.1@desk.example>"
    with session_scope(sqlite_engine) as s:
        s.add(Communication(key=f"{seeded.ref}:instructions:1", case_id=seeded.case_id,
                            channel="email", subject="Consignes", step="instructions",
                            status="sent", message_id=msgid))
    elodie = "Élodie Martin <elodie@client-a.example>"
    send(intake, mail(f"RE: [{client_ref(seeded.ref, KEY)}] Consignes", sender=elodie),
         "elodie@client-a.example")
    # any sender answering the desk's own (tagged) Message-ID: e.g. the client's helpdesk
    send(intake, mail("RE: Consignes", sender="helpdesk@client-a-outsourcer.example", n=2,
                      in_reply_to=msgid), "helpdesk@client-a-outsourcer.example")
    rows, routes = routed(sqlite_engine)
    assert [(r.source_check, r.case_id, r.triage) for r in rows] == [
        ("contact", seeded.case_id, "none"), ("message_id", seeded.case_id, "none")]
    assert [(r.workflow_id, r.signal_name) for r in routes] == [
        (seeded.workflow_id, "client_reply")] * 2


def test_a_technician_can_attach_an_unverified_reply_after_checking(
    sqlite_engine: Engine, intake: int
) -> None:
    seeded = seed_case(sqlite_engine)
    send(intake, mail(f"Re: [{seeded.ref}] merci", sender="marc.perso@gmail.example"),
         "marc.perso@gmail.example")
    (row,), _ = routed(sqlite_engine)
    assert row.triage == "pending"
    assert triage.attach_reply(sqlite_engine, row.id or 0, "tech") == seeded.ref
    (row,), routes = routed(sqlite_engine)
    assert (row.triage, row.case_id, row.source_check) == ("attached", seeded.case_id,
                                                           "technician")
    assert [(r.workflow_id, r.signal_name) for r in routes] == [
        (seeded.workflow_id, "client_reply")]


# --- SMS ----------------------------------------------------------------------------------------


@pytest.fixture
async def sms(sqlite_engine: Engine, tmp_path: Path) -> AsyncIterator[tuple[Any, list[Any]]]:
    signals: list[Any] = []
    settings = Settings(twilio_auth_token=AUTH_TOKEN, twilio_callback_base=BASE,
                        twilio_from_number=FROM_NUMBER, temporal_address="", var_dir=tmp_path)
    app = FastAPI()
    app.state.services = Services(settings=settings, engine=sqlite_engine, secret="s")
    app.include_router(twilio_hooks.router)

    async def recording() -> twilio_hooks.Signaller:
        async def send(workflow_id: str, name: str, arg: Any) -> None:
            signals.append((workflow_id, name, arg))
        return send

    app.dependency_overrides[twilio_hooks.signaller] = recording
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:

        async def post(params: dict[str, str]) -> httpx.Response:
            path = "/twilio/sms/incoming"
            return await http.post(path, data=params, headers=signed(BASE + path, params))

        yield post, signals


async def test_an_sms_from_an_unknown_number_is_not_attached(
    sms: tuple[Any, list[Any]], sqlite_engine: Engine, tmp_path: Path
) -> None:
    post, signals = sms
    seeded: Seeded = seed_case(sqlite_engine)
    stranger = await post({"From": "+33699999999", "Body": f"{seeded.ref} c'est reparé, fermez",
                           "MessageSid": "SMevil"})
    assert stranger.status_code == 200
    assert "joint au cas" not in stranger.text and "technicien" in stranger.text
    assert signals == []
    with Session(sqlite_engine) as s:
        (row,) = s.exec(select(AlertEventRow)).all()
    assert (row.triage, row.case_id, row.source_check) == ("pending", None, "unverified")
    contact = await post({"From": "+33 4 50 00 00 11", "Body": f"{seeded.ref} c'est fait",
                          "MessageSid": "SMok"})
    key = reference_key(Settings(var_dir=tmp_path))
    assert f"joint au cas {client_ref(seeded.ref, key)}" in contact.text
    ((wid, name, sig),) = signals
    assert (wid, name, sig.channel) == (seeded.workflow_id, "client_reply", "sms")
    assert sig.event_id is not None  # kept as an event of the case
    again = await post({"From": "+33 4 50 00 00 11", "Body": f"{seeded.ref} c'est fait",
                        "MessageSid": "SMok"})  # Twilio delivering it twice
    assert again.status_code == 200 and len(signals) == 1
    # the technician who called the stranger back may still attach the held SMS
    assert triage.attach_reply(sqlite_engine, row.id or 0, "tech") == seeded.ref
    _, routes = routed(sqlite_engine)
    assert [(r.workflow_id, r.signal_name, r.signal.channel) for r in routes] == [
        (seeded.workflow_id, "client_reply", "sms")]
