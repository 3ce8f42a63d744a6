"""Client replies quoting a case are attached to it by the intake, not parsed as alerts, when
they provably come from the client (a Message-ID the desk sent, or the tagged reference from
a contact); anything else naming a case waits in triage (issue 11)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.converter import DataConverter

from domain.refs import client_ref
from intake.router import Router
from intake.store import accept
from messages.cases import ClientReplySignal
from models.db import session_scope
from models.tables import AlertEventRow, Case, Communication, RawMessage
from records.replies import case_ref_of
from tests.comms_fixtures import Seeded, seed_case

KEY = b"reference-key-of-these-tests"


def sent_mail(engine: Engine, seeded: Seeded, step: str = "instructions") -> str:
    """A mail the desk sent for the case (as activities/mail.py records it); its Message-ID."""
    msgid = f"<{client_ref(seeded.ref, KEY)}.{step}.1@desk.example>"
    with session_scope(engine) as s:
        s.add(Communication(key=f"{seeded.ref}:{step}:1", case_id=seeded.case_id,
                            channel="email", recipient="elodie@client-a.example",
                            subject="Consignes", step=step, status="sent", message_id=msgid))
    return msgid


def reply(ref: str, *, subject: str | None = None, in_reply_to: str | None = None,
          references: str | None = None, n: int = 1,
          sender: str = "Élodie Martin <elodie@client-a.example>") -> bytes:
    head = [f"From: {sender}",
            "To: alerts@desk.example",
            f"Message-ID: <reponse-{n}-{ref}@client-a.example>",
            f"Subject: {subject if subject is not None else f'RE: [{ref}] Consignes'}"]
    if in_reply_to:
        head.append(f"In-Reply-To: {in_reply_to}")
    if references:
        head.append(f"References: {references}")
    body = ("C'est fait, la file d'impression est vide.\r\n\r\n"
            f"> Le {ref} : Voici les consignes...\r\n")
    return ("\r\n".join(head) + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            + body).encode()


class FakeTemporal:
    """Stands for the Temporal client the router signals through: its namespace, identity,
    data converter and the raw workflow service the router sends its requests to."""

    namespace = "default"
    identity = "test"
    data_converter = DataConverter.default

    def __init__(self) -> None:
        self.signals: list[tuple[str, str, Any]] = []
        self.workflow_service = self

    async def signal_workflow_execution(self, req: Any, **_: Any) -> None:
        (sig,) = await self.data_converter.decode(req.input.payloads, [ClientReplySignal])
        self.signals.append((req.workflow_execution.workflow_id, req.signal_name, sig))


def test_the_case_is_found_from_our_message_ids_first_then_the_subject() -> None:
    ours = "<VIG-000042.instructions.1@desk.example>"
    assert case_ref_of(reply("x", subject="Re: votre message", in_reply_to=ours)) == "VIG-000042"
    assert case_ref_of(reply("x", subject="Re:", references="<a@b> <VIG-000043@desk.example>")
                       ) == "VIG-000043"
    assert case_ref_of(reply("VIG-000044")) == "VIG-000044"
    assert case_ref_of(reply("x", subject="Panne RAID sur SRV-DC01")) is None


async def test_a_reply_is_attached_to_its_open_case_and_signalled(sqlite_engine: Engine) -> None:
    seeded = seed_case(sqlite_engine)
    accept(sqlite_engine, reply(seeded.ref, in_reply_to=sent_mail(sqlite_engine, seeded)))
    temporal = FakeTemporal()
    router = Router(sqlite_engine, temporal, "vigie", ref_key=KEY)  # type: ignore[arg-type]
    assert await router.drain_once() == 1
    with Session(sqlite_engine) as s:
        (row,) = s.exec(select(AlertEventRow)).all()
        raw = s.exec(select(RawMessage)).one()
    assert (row.family, row.case_id, row.triage, raw.parse_error, row.source_check) == (
        "client_reply", seeded.case_id, "none", "", "message_id")
    assert row.summary.startswith(f"RE: [{seeded.ref}] Consignes — C'est fait")
    assert row.routed_at is not None
    ((workflow_id, name, sig),) = temporal.signals
    assert (workflow_id, name) == (seeded.workflow_id, "client_reply")
    assert (sig.event_id, sig.sender) == (row.id, "Élodie Martin <elodie@client-a.example>")


async def test_a_reply_to_a_closed_case_stays_attached_unsignalled(sqlite_engine: Engine) -> None:
    seeded = seed_case(sqlite_engine)
    with session_scope(sqlite_engine) as s:
        case = s.get(Case, seeded.case_id)
        assert case is not None
        case.closed, case.state = True, "closed"
        s.add(case)
    accept(sqlite_engine, reply(client_ref(seeded.ref, KEY)))  # tagged, from a contact
    temporal = FakeTemporal()
    await Router(sqlite_engine, temporal, "vigie", ref_key=KEY).drain_once()  # type: ignore[arg-type]
    with Session(sqlite_engine) as s:
        (row,) = s.exec(select(AlertEventRow)).all()
    assert row.case_id == seeded.case_id and temporal.signals == []
    assert row.source_check == "contact"


async def test_an_unknown_reference_is_parsed_like_any_message(sqlite_engine: Engine) -> None:
    accept(sqlite_engine, reply("VIG-999999"))
    await Router(sqlite_engine, FakeTemporal(), "vigie").drain_once()  # type: ignore[arg-type]
    with Session(sqlite_engine) as s:
        rows = s.exec(select(AlertEventRow)).all()
    assert all(r.family != "client_reply" for r in rows)
