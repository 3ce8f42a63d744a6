"""Client mail against a real SMTP relay on loopback (aiosmtpd): recipients, the case reference
in the subject, French text, headers, and the record-before-send protocol."""

from __future__ import annotations

import email
import socket
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from activities.mail import MailActivities, MailConfig, render
from base.refkey import reference_key
from domain.refs import client_ref
from messages.comms import MailRequest
from models.tables import Communication, CommunicationEvent
from records.communications import CRASH_ENV, SimulatedCrash
from tests.comms_fixtures import OPENED, Relay, relay_server, seed_case

FROM = "vigie@desk.example"


def config(port: int, **changes: object) -> MailConfig:
    base = {"transport": "smtp", "relay_host": "127.0.0.1", "relay_port": port, "tls": "none",
            "mail_from": FROM, "reply_to": "alerts@desk.example", "timeout": 5.0,
            "level2_email": "n2@desk.example"}
    base.update(changes)
    return MailConfig(**base)  # type: ignore[arg-type]


def request(seeded, step: str = "demande_registered", attempt: str = "1",
            **changes: object) -> MailRequest:
    fields = {"case_id": seeded.case_id, "case_ref": seeded.ref, "step": step,
              "attempt": attempt, "workflow_id": seeded.workflow_id, "at": OPENED,
              "title": "SRV-DC01 — disque D: presque plein", "demande_ref": "DEM-000042"}
    fields.update(changes)
    return MailRequest(**fields)  # type: ignore[arg-type]


def parsed(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=default_policy)  # type: ignore[return-value]


def rows(engine: Engine) -> list[Communication]:
    with Session(engine) as s:
        return list(s.exec(select(Communication).order_by(Communication.id)).all())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_demande_mail_reaches_the_primary_contact_once(engine: Engine) -> None:
    seeded = seed_case(engine)
    relay = Relay()
    with relay_server(relay) as server:
        mail = MailActivities(engine, config(server.port))
        first = mail.send_mail(request(seeded))
        again = mail.send_mail(request(seeded))  # a retried activity
    assert first == again and first.status == "sent"
    (envelope,) = relay.messages
    assert envelope.mail_from == FROM
    assert envelope.rcpt_tos == ["elodie@client-a.example"]
    msg = parsed(envelope.original_content)
    ref = seeded.ref
    shown = client_ref(ref, reference_key())  # with its unguessable tag (issue 11)
    assert msg["Subject"] == (
        f"[{shown}] Demande DEM-000042 enregistrée et prise en charge par le support")
    assert msg["To"] == "Élodie Martin <elodie@client-a.example>"
    assert msg["Message-ID"] == f"<{shown}.demande_registered.1@desk.example>"
    assert msg["References"] == f"<{shown}@desk.example>"
    assert msg["Reply-To"] == "alerts@desk.example"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Vigie-Case"] == ref
    assert msg.get_content_charset() == "utf-8"
    text = msg.get_content()
    assert text.startswith("Bonjour Élodie Martin,")
    assert "Elle est prise en charge par notre support" in text
    assert "Serveur     : SRV-DC01" in text
    assert "Détecté le  : 10/03/2025 à 10:15" in text  # Paris time
    assert f"en conservant la référence {shown} dans l'objet" in text
    (row,) = rows(engine)
    assert (row.key, row.status, row.transport) == (
        f"{ref}:demande_registered:1", "sent", "smtp")
    assert "accepté par le relais" in row.evidence and "250 2.0.0" in row.evidence
    assert row.sent_at is not None and row.sent_at.tzinfo is not None
    assert row.raw.startswith("From:") and f"Message-ID: <{shown}." in row.raw


def test_every_purpose_has_its_french_template() -> None:
    facts = {"ref": "VIG-000042", "title": "SRV-DC01 — sauvegarde en échec", "host": "SRV-DC01",
             "opened_at": "10/03/2025 à 10:15", "demande_ref": "DEM-000007",
             "client_name": "Client A", "contact_name": "Élodie Martin",
             "text": "Relancez le travail de sauvegarde depuis la console Arcserve.",
             "after_calls": 3}
    expected = {
        "instructions": ("Consignes pour résoudre ou contourner l'incident sur SRV-DC01",
                         "Relancez le travail de sauvegarde"),
        "demande_registered": ("Demande DEM-000007 enregistrée", "prise en charge"),
        "l1_call_fallback": ("nous n'avons pas pu vous joindre par téléphone",
                             "diagnostic de niveau 1"),
        "l2_transfer": ("Demande DEM-000007 transférée au support de niveau 2",
                        "support de niveau 2"),
        "l2_handover": ("Transfert N1 vers N2 : demande DEM-000007 (Client A)",
                        "Client      : Client A"),
        "resolution": ("Incident résolu — demande DEM-000007", "est résolu"),
    }
    for step, (subject_part, body_part) in expected.items():
        subject, body = render(step, facts)
        assert subject.startswith("[VIG-000042] ") and subject_part in subject, step
        assert body_part in body, step
        assert "VIG-000042" in body, step
    _, fallback = render("instructions", facts)
    assert "Nous avons tenté de vous joindre par téléphone (3 appels)" in fallback


def test_the_level2_handover_goes_to_the_level2_address(sqlite_engine: Engine) -> None:
    seeded = seed_case(sqlite_engine)
    relay = Relay()
    with relay_server(relay) as server:
        MailActivities(sqlite_engine, config(server.port)).send_mail(
            request(seeded, "l2_handover", to_level2=True, text="délai N1 dépassé"))
    (envelope,) = relay.messages
    assert envelope.rcpt_tos == ["n2@desk.example"]
    assert "Motif du transfert : délai N1 dépassé" in parsed(
        envelope.original_content).get_content()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_relay_login_and_a_refused_recipient(sqlite_engine: Engine) -> None:
    seeded = seed_case(sqlite_engine)
    relay = Relay(refuse={"elodie@client-a.example": "550 5.1.1 Utilisateur inconnu"})
    with relay_server(relay, users={"vigie": "secret"}) as server:
        mail = MailActivities(sqlite_engine, config(server.port, user="vigie",
                                                    password="secret"))
        refused = mail.send_mail(request(seeded, "resolution"))
        relay.refuse.clear()
        assert mail.send_mail(request(seeded, "resolution")).status == "failed"  # final
        ok = mail.send_mail(request(seeded, "resolution", attempt="2"))
    assert refused.status == "failed" and "550" in refused.detail
    assert ok.status == "sent" and len(relay.messages) == 1


def test_a_relay_that_is_down_leaves_the_mail_to_the_retry(sqlite_engine: Engine) -> None:
    seeded = seed_case(sqlite_engine)
    with pytest.raises(OSError):
        MailActivities(sqlite_engine, config(closed_port())).send_mail(request(seeded))
    (row,) = rows(sqlite_engine)
    assert row.status == "pending" and "relais indisponible" in row.evidence
    relay = Relay()
    with relay_server(relay) as server:  # Temporal's retry, once the relay is back
        assert MailActivities(sqlite_engine, config(server.port)).send_mail(
            request(seeded)).status == "sent"
    assert len(relay.messages) == 1


def test_a_mail_interrupted_after_the_relay_took_it_is_not_sent_again(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most once: the relay answered 250, the worker died before the mark; the retry
    finds the row at ``sending``, cannot ask the relay, and does not resend."""
    seeded = seed_case(sqlite_engine)
    relay = Relay()
    with relay_server(relay) as server:
        mail = MailActivities(sqlite_engine, config(server.port))
        monkeypatch.setenv(CRASH_ENV, "raise")
        with pytest.raises(SimulatedCrash):
            mail.send_mail(request(seeded))
        assert rows(sqlite_engine)[0].status == "sending"
        monkeypatch.delenv(CRASH_ENV)
        retried = mail.send_mail(request(seeded))
    assert len(relay.messages) == 1
    assert retried.status == "unknown"
    shown = client_ref(seeded.ref, reference_key())
    assert f"Message-ID <{shown}.demande_registered.1@desk.example>" in retried.detail


def test_the_capture_mailbox_keeps_the_mail_and_sends_nothing(sqlite_engine: Engine) -> None:
    seeded = seed_case(sqlite_engine)
    result = MailActivities(sqlite_engine, MailConfig(transport="capture")).send_mail(
        request(seeded, "instructions", text="Purgez la file d'impression."))
    assert result.status == "sent"
    (row,) = rows(sqlite_engine)
    assert row.transport == "capture" and "boîte de capture" in row.evidence
    msg = parsed(row.raw.encode())
    assert "Purgez la file d'impression." in msg.get_content()
    with Session(sqlite_engine) as s:
        events = s.exec(select(CommunicationEvent)).all()
    assert [(e.source, e.status) for e in events] == [("capture", "sent")]


def test_a_client_without_an_address_is_recorded_not_mailed(sqlite_engine: Engine) -> None:
    seeded = seed_case(sqlite_engine, contacts=(("Standard", "", "+33450000000", "primary", 1),))
    result = MailActivities(sqlite_engine, MailConfig(transport="capture")).send_mail(
        request(seeded))
    assert result.status == "no_recipient"
    assert result.detail == "aucun contact du client n'a d'adresse e-mail"
