"""Calls and SMS through the real ``twilio`` SDK, against a fake of Twilio's REST API served
on loopback (real HTTP): the requests the SDK makes, and exactly-once after an interruption."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.testing import ActivityEnvironment
from twilio.base.exceptions import TwilioRestException

from activities.phone import PhoneActivities, PhoneConfig
from base.refkey import reference_key
from domain.refs import client_ref
from messages.comms import CallMode, CallRequest, PlanRequest, SmsRequest
from models.tables import Communication
from records.communications import CRASH_ENV, SendInFlight, SimulatedCrash
from tests.comms_fixtures import OPENED, seed_case
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio

BASE = "https://desk.example.com"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as f:
        yield f


def phone(engine: Engine, fake: FakeTwilio, **changes: object) -> PhoneActivities:
    fields = {"transport": "twilio", "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
              "from_number": FROM_NUMBER, "callback_base": BASE, "api_base": fake.base,
              "technician_phone": "+33600000099", "call_ring_seconds": 25}
    fields.update(changes)
    return PhoneActivities(engine, PhoneConfig(**fields))  # type: ignore[arg-type]


def sms(seeded, attempt: str = "1", text: str = "Redémarrez le service d'impression.") -> SmsRequest:  # noqa: E501
    return SmsRequest(case_id=seeded.case_id, case_ref=seeded.ref, step="instructions",
                      attempt=attempt, workflow_id=seeded.workflow_id, at=OPENED, text=text)


def call(seeded, contact: int = 0, mode: CallMode = CallMode.AUTOMATED,
         attempt: str = "1.1") -> CallRequest:
    return CallRequest(case_id=seeded.case_id, case_ref=seeded.ref, step="l1_call",
                       attempt=attempt, workflow_id="contact-run", at=OPENED,
                       contact_id=seeded.contact_ids[contact], mode=mode,
                       demande_ref="DEM-000042")


def row_of(engine: Engine, comm_id: int) -> Communication:
    with Session(engine) as s:
        row = s.get(Communication, comm_id)
        assert row is not None
        return row


def test_an_sms_goes_through_the_sdk_once(engine: Engine, fake: FakeTwilio) -> None:
    seeded = seed_case(engine)
    acts = phone(engine, fake)
    first = acts.send_sms(sms(seeded))
    again = acts.send_sms(sms(seeded))
    assert first == again and first.status == "queued"
    (post,) = fake.creates("Messages")
    assert post.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert (post.one("To"), post.one("From")) == ("+33450000011", FROM_NUMBER)
    row = row_of(engine, first.communication_id)
    assert post.one("Body") == (
        f"Vigie {client_ref(seeded.ref, reference_key())} : Redémarrez le service d'impression. "
        f"Répondez OK {row.code} pour confirmer la réception.")
    assert post.one("StatusCallback") == f"{BASE}/twilio/status/sms/{row.id}"
    assert row.provider_id == fake.messages[0]["sid"] and row.provider_id.startswith("SM")


def test_an_automated_call_reads_french_and_asks_who_answered(
    sqlite_engine: Engine, fake: FakeTwilio
) -> None:
    seeded = seed_case(sqlite_engine)
    placed = phone(sqlite_engine, fake).place_call(call(seeded))
    (post,) = fake.creates("Calls")
    assert (post.one("To"), post.one("From")) == ("+33450000011", FROM_NUMBER)
    assert post.one("Url") == f"{BASE}/twilio/voice/{placed.communication_id}"
    assert post.one("StatusCallback") == f"{BASE}/twilio/status/call/{placed.communication_id}"
    assert post.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert (post.one("MachineDetection"), post.one("Timeout")) == ("Enable", "25")
    row = row_of(sqlite_engine, placed.communication_id)
    assert row.body.startswith("Bonjour. Ici le centre de télésurveillance Vigie, pour Client A")
    assert "diagnostic de niveau 1" in row.body and "D E M - 0 0 0 0 4 2" in row.body
    assert placed.status == "queued" and row.provider_id.startswith("CA")


def test_click_to_call_rings_the_technician_first(sqlite_engine: Engine,
                                                  fake: FakeTwilio) -> None:
    seeded = seed_case(sqlite_engine)
    placed = phone(sqlite_engine, fake).place_call(call(seeded, 1, CallMode.CLICK_TO_CALL))
    (post,) = fake.creates("Calls")
    assert post.one("To") == "+33600000099"
    assert post.one("Url") == f"{BASE}/twilio/bridge/{placed.communication_id}"
    assert "MachineDetection" not in post.form
    assert row_of(sqlite_engine, placed.communication_id).recipient == "+33450000012"


@pytest.mark.parametrize("kind", ["Messages", "Calls"])
def test_an_interrupted_send_is_found_at_twilio_and_not_repeated(
    sqlite_engine: Engine, fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The worker died between Twilio's answer and the mark: the retry asks Twilio."""
    seeded = seed_case(sqlite_engine)
    acts = phone(sqlite_engine, fake)
    send = (lambda: acts.send_sms(sms(seeded))) if kind == "Messages" else (
        lambda: acts.place_call(call(seeded)))
    monkeypatch.setenv(CRASH_ENV, "raise")
    with pytest.raises(SimulatedCrash):
        send()
    monkeypatch.delenv(CRASH_ENV)
    retried = send()
    assert len(fake.creates(kind)) == 1
    assert [r.method for r in fake.requests] == ["POST", "GET"]  # created, then looked up
    store = fake.messages if kind == "Messages" else fake.calls
    assert retried.provider_id == store[0]["sid"] and retried.status == "queued"
    assert "déjà chez Twilio" in retried.detail


def test_a_send_twilio_never_got_is_sent_by_the_retry(sqlite_engine: Engine,
                                                      fake: FakeTwilio) -> None:
    seeded = seed_case(sqlite_engine)
    acts = phone(sqlite_engine, fake)
    fake.fail_next = [503]
    with pytest.raises(TwilioRestException):
        acts.send_sms(sms(seeded))
    retried = acts.send_sms(sms(seeded))
    assert retried.status == "queued" and len(fake.messages) == 1
    assert [r.method for r in fake.requests] == ["POST", "GET", "POST"]


def test_a_number_twilio_refuses_fails_for_good(sqlite_engine: Engine, fake: FakeTwilio) -> None:
    seeded = seed_case(sqlite_engine, contacts=(("Erreur", "x@y.example", "+0001", "primary", 1),))
    result = phone(sqlite_engine, fake).send_sms(sms(seeded))
    assert result.status == "failed" and "21211" in result.detail
    assert phone(sqlite_engine, fake).send_sms(sms(seeded)).status == "failed"
    assert len(fake.creates("Messages")) == 1


def test_dry_run_records_everything_and_calls_nobody(sqlite_engine: Engine,
                                                     fake: FakeTwilio) -> None:
    seeded = seed_case(sqlite_engine)
    acts = phone(sqlite_engine, fake, transport="dry-run")
    texted, called = acts.send_sms(sms(seeded)), acts.place_call(call(seeded))
    assert (texted.status, called.status) == ("dry_run", "dry_run")
    assert fake.requests == []
    row = row_of(sqlite_engine, called.communication_id)
    assert row.transport == "dry-run" and "+33450000011" in row.raw
    assert "VIGIE_PHONE_TRANSPORT=dry-run" in row.evidence


def test_the_calling_order_follows_roles_and_business_hours(sqlite_engine: Engine) -> None:
    seeded = seed_case(sqlite_engine)
    acts = PhoneActivities(sqlite_engine, PhoneConfig(call_attempts=3, call_retry_seconds=120))
    day = acts.plan_contacts(PlanRequest(seeded.client_id, OPENED))  # Monday 10:15
    assert [c.role for c in day.contacts] == ["primary", "backup"]
    assert (day.attempts_per_contact, day.retry_seconds) == (3, 120)
    night = acts.plan_contacts(PlanRequest(seeded.client_id, OPENED.replace(hour=21)))
    assert [c.role for c in night.contacts] == ["after_hours", "primary", "backup"]


def test_a_retry_never_races_an_attempt_still_waiting_for_twilio(
    sqlite_engine: Engine, fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Temporal timed an attempt out while it may still be inside the SDK call: the next
    attempt waits (retried later) instead of looking Twilio up too early and sending again."""
    seeded = seed_case(sqlite_engine)
    acts = phone(sqlite_engine, fake)
    monkeypatch.setenv(CRASH_ENV, "raise")
    with pytest.raises(SimulatedCrash):
        acts.send_sms(sms(seeded))
    monkeypatch.delenv(CRASH_ENV)
    env = ActivityEnvironment()
    env.info = replace(env.info, start_to_close_timeout=timedelta(minutes=5))
    with pytest.raises(SendInFlight):
        env.run(acts.send_sms, sms(seeded))
    assert [r.method for r in fake.requests] == ["POST"]  # not even looked up
