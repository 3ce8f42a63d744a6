"""Twilio's callbacks to the console: signed ones become evidence and workflow signals, wrongly
signed ones get 403 and change nothing. TwiML of the calls (French, keypress, ``*`` repeats)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from base.settings import Settings
from console import twilio_hooks
from console.deps import Services
from models.db import session_scope
from models.tables import Communication, CommunicationEvent
from records.communications import finish
from tests.comms_fixtures import Seeded, seed_case
from tests.fake_twilio import AUTH_TOKEN, FROM_NUMBER, signed

BASE = "https://desk.example.com"
Signals = list[tuple[str, str, Any]]


class Hooks:
    def __init__(self, engine: Engine, http: httpx.AsyncClient, signals: Signals) -> None:
        self.engine, self.http, self.signals = engine, http, signals

    async def post(self, path: str, params: dict[str, str], *, headers: dict[str, str] | None
                   = None, sign_url: str | None = None, token: str = AUTH_TOKEN
                   ) -> httpx.Response:
        signature = signed(sign_url or BASE + path, params, token)
        return await self.http.post(path, data=params, headers={**signature, **(headers or {})})

    def comm(self, seeded: Seeded, channel: str = "phone", status: str = "queued",
             workflow_id: str = "contact-VIG-1", subject: str = "Appel automatisé",
             code: str = "") -> Communication:
        with session_scope(self.engine) as s:
            row = Communication(key=f"{seeded.ref}:l1_call:{channel}{status}{code}",
                                case_id=seeded.case_id, channel=channel, status=status,
                                recipient="+33450000011", body="Bonjour. Ici Vigie.",
                                step="l1_call" if channel == "phone" else "instructions",
                                workflow_id=workflow_id, subject=subject, code=code,
                                provider_id="CA1")
            s.add(row)
        return row

    def row(self, comm_id: int | None) -> Communication:
        with Session(self.engine) as s:
            row = s.get(Communication, comm_id)
            assert row is not None
            return row

    def events(self, comm_id: int | None) -> list[str]:
        with Session(self.engine) as s:
            return [e.status for e in s.exec(select(CommunicationEvent).where(
                CommunicationEvent.communication_id == comm_id)).all()]

    def told(self) -> list[tuple[str, str, str]]:
        return [(wid, name, getattr(arg, "status", "")) for wid, name, arg in self.signals]


@pytest.fixture
async def hooks(sqlite_engine: Engine) -> AsyncIterator[Hooks]:
    signals: Signals = []
    settings = Settings(twilio_auth_token=AUTH_TOKEN, twilio_callback_base=BASE,
                        twilio_from_number=FROM_NUMBER, temporal_address="")
    app = FastAPI()
    app.state.services = Services(settings=settings, engine=sqlite_engine, secret="s")
    app.include_router(twilio_hooks.router)

    async def recording() -> twilio_hooks.Signaller:
        async def send(workflow_id: str, name: str, arg: Any) -> None:
            signals.append((workflow_id, name, arg))
        return send

    app.dependency_overrides[twilio_hooks.signaller] = recording
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield Hooks(sqlite_engine, http, signals)


async def test_wrongly_signed_callbacks_get_403_and_change_nothing(hooks: Hooks) -> None:
    seeded = seed_case(hooks.engine)
    row = hooks.comm(seeded)
    path = f"/twilio/status/call/{row.id}"
    params = {"CallSid": "CA1", "CallStatus": "completed"}
    attempts = [
        await hooks.http.post(path, data=params),  # no signature at all
        await hooks.post(path, params, token="un-autre-jeton"),
        await hooks.post(path, params, sign_url="https://ailleurs.example" + path),
        await hooks.http.post(path, data={**params, "CallStatus": "busy"},
                              headers=signed(BASE + path, params)),  # tampered after signing
        await hooks.http.post("/twilio/sms/incoming", data={"From": "+33450000011",
                                                             "Body": "OK 1234"}),
    ]
    assert [r.status_code for r in attempts] == [403] * 5
    assert hooks.row(row.id).status == "queued"
    assert hooks.events(row.id) == [] and hooks.signals == []
    ok = await hooks.post(path, params)
    assert ok.status_code == 204 and hooks.told() == [
        ("contact-VIG-1", "communication", "no_confirmation")]


async def test_a_person_who_presses_1_is_reached_once(hooks: Hooks) -> None:
    seeded = seed_case(hooks.engine)
    row = hooks.comm(seeded)
    voice = await hooks.post(f"/twilio/voice/{row.id}",
                             {"CallSid": "CA1", "AnsweredBy": "human"})
    assert voice.headers["content-type"] == "application/xml"
    assert (f'<Gather action="{BASE}/twilio/voice/{row.id}/key" method="POST" numDigits="1" '
            f'timeout="8"><Say language="fr-FR">Bonjour. Ici Vigie.</Say>') in voice.text
    assert "Appuyez sur 1 pour confirmer" in voice.text
    star = await hooks.post(f"/twilio/voice/{row.id}/key", {"CallSid": "CA1", "Digits": "*"})
    assert f'<Redirect method="POST">{BASE}/twilio/voice/{row.id}</Redirect>' in star.text
    wrong = await hooks.post(f"/twilio/voice/{row.id}/key", {"CallSid": "CA1", "Digits": "7"})
    assert "Touche non reconnue." in wrong.text and "<Redirect" in wrong.text
    assert hooks.signals == []
    for _ in range(2):  # Twilio may post the same keypress twice
        key = await hooks.post(f"/twilio/voice/{row.id}/key", {"CallSid": "CA1", "Digits": "1"})
        assert "Merci, votre confirmation est enregistrée." in key.text
    await hooks.post(f"/twilio/status/call/{row.id}",
                     {"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "42"})
    assert hooks.told() == [("contact-VIG-1", "communication", "confirmed")]
    assert hooks.row(row.id).status == "confirmed"
    assert hooks.events(row.id) == ["answered", "repeat", "repeat", "confirmed", "completed"]


async def test_an_answering_machine_counts_as_voicemail(hooks: Hooks) -> None:
    seeded = seed_case(hooks.engine)
    row = hooks.comm(seeded)
    voice = await hooks.post(f"/twilio/voice/{row.id}",
                             {"CallSid": "CA1", "AnsweredBy": "machine_start"})
    assert "<Hangup />" in voice.text and "<Gather" not in voice.text
    await hooks.post(f"/twilio/status/call/{row.id}", {"CallSid": "CA1",
                                                       "CallStatus": "completed"})
    assert hooks.told() == [("contact-VIG-1", "communication", "voicemail")]


async def test_no_answer_is_told_once_whatever_twilio_resends(hooks: Hooks) -> None:
    seeded = seed_case(hooks.engine)
    row = hooks.comm(seeded)
    await hooks.post(f"/twilio/status/call/{row.id}", {"CallSid": "CA1", "CallStatus": "ringing"})
    assert hooks.row(row.id).status == "ringing" and hooks.signals == []
    token = {"I-Twilio-Idempotency-Token": "tok-42"}
    params = {"CallSid": "CA1", "CallStatus": "no-answer"}
    first = await hooks.post(f"/twilio/status/call/{row.id}", params, headers=token)
    again = await hooks.post(f"/twilio/status/call/{row.id}", params, headers=token)
    assert (first.status_code, again.status_code) == (204, 204)
    assert hooks.told() == [("contact-VIG-1", "communication", "no_answer")]
    assert hooks.events(row.id) == ["ringing", "no-answer"]


async def test_click_to_call_bridges_once_the_client_pressed_1(hooks: Hooks) -> None:
    seeded = seed_case(hooks.engine)
    row = hooks.comm(seeded, subject="Mise en relation technicien - client")
    bridge = await hooks.post(f"/twilio/bridge/{row.id}", {"CallSid": "CA1"})
    assert f'<Dial action="{BASE}/twilio/bridge/{row.id}/done" callerId="{FROM_NUMBER}"' in (
        bridge.text)
    assert (f'<Number method="POST" url="{BASE}/twilio/whisper/{row.id}">+33450000011</Number>'
            in bridge.text)
    whisper = await hooks.post(f"/twilio/whisper/{row.id}", {"CallSid": "CA2"})
    assert "Appuyez sur 1 pour être mis en relation" in whisper.text
    key = await hooks.post(f"/twilio/whisper/{row.id}/key", {"CallSid": "CA2", "Digits": "1"})
    assert "Merci, mise en relation" in key.text and "<Hangup" not in key.text
    await hooks.post(f"/twilio/bridge/{row.id}/done", {"CallSid": "CA1",
                                                       "DialCallStatus": "completed"})
    assert hooks.told() == [("contact-VIG-1", "communication", "confirmed")]


async def test_sms_delivery_and_the_clients_answer(hooks: Hooks) -> None:
    seeded = seed_case(hooks.engine)
    row = hooks.comm(seeded, channel="sms", workflow_id=seeded.workflow_id, code="4821")
    for status in ("sent", "delivered"):
        await hooks.post(f"/twilio/status/sms/{row.id}",
                         {"MessageSid": "SM1", "MessageStatus": status})
    assert hooks.told() == [(seeded.workflow_id, "communication", "delivered")]
    stranger = await hooks.post("/twilio/sms/incoming", {
        "From": "+33600000000", "Body": "OK 4821", "MessageSid": "SM9"})
    assert "message non compris" in stranger.text
    answer = await hooks.post("/twilio/sms/incoming", {
        "From": "+33 4 50 00 00 11", "Body": f"{seeded.ref} ok 4821", "MessageSid": "SM2"})
    assert f"votre confirmation pour le cas {seeded.ref} est enregistrée" in answer.text
    assert hooks.told()[-1] == (seeded.workflow_id, "communication", "confirmed")
    note = await hooks.post("/twilio/sms/incoming", {
        "From": "+33450000011", "Body": f"{seeded.ref} : c'est réparé, merci", "MessageSid": "S3"})
    assert f"joint au cas {seeded.ref}" in note.text
    wid, name, reply = hooks.signals[-1]
    assert (wid, name, reply.sender, reply.channel) == (
        seeded.workflow_id, "client_reply", "+33450000011", "sms")


async def test_a_keypress_before_the_activity_marked_its_call_is_kept(hooks: Hooks) -> None:
    """Twilio can ring the client before the activity records the SID (or while a crashed
    attempt waits for its retry): the person's answer wins over the late mark."""
    seeded = seed_case(hooks.engine)
    row = hooks.comm(seeded, status="sending")
    await hooks.post(f"/twilio/voice/{row.id}/key", {"CallSid": "CA7", "Digits": "1"})
    assert hooks.told() == [("contact-VIG-1", "communication", "confirmed")]
    late = finish(hooks.engine, row.id or 0, "queued", provider_id="CA7", source="twilio")
    assert (late.status, late.provider_id) == ("confirmed", "CA7")
