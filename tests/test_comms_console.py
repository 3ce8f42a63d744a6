"""The outbox in the console (what was sent, captured or only recorded), and the Twilio hooks
mounted in the real console application (no session, signature only)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from activities.mail import MailActivities, MailConfig
from activities.phone import PhoneActivities, PhoneConfig
from base.refkey import reference_key
from base.settings import Settings
from console import api_comms, twilio_hooks
from console.app import create_app
from domain.refs import client_ref
from messages.comms import CallMode, CallRequest, MailRequest
from tests.comms_fixtures import OPENED, seed_case
from tests.fake_twilio import AUTH_TOKEN, signed

BASE = "https://desk.example.com"
TOKEN = {"Authorization": "Bearer jeton-automatisation-comms"}


def console(engine: Engine, tmp_path: Path) -> TestClient:
    settings = Settings(var_dir=tmp_path, temporal_address="", secret_key="k" * 32,
                        bootstrap_api_token="jeton-automatisation-comms",
                        twilio_auth_token=AUTH_TOKEN, twilio_callback_base=BASE)
    app = create_app(settings, engine, extra_routers=[api_comms.router, twilio_hooks.router])
    return TestClient(app, base_url=BASE)


def test_the_outbox_shows_captured_mail_and_dry_run_calls(sqlite_engine: Engine,
                                                          tmp_path: Path) -> None:
    seeded = seed_case(sqlite_engine)
    MailActivities(sqlite_engine, MailConfig(transport="capture")).send_mail(MailRequest(
        case_id=seeded.case_id, case_ref=seeded.ref, step="instructions", attempt="1",
        workflow_id=seeded.workflow_id, at=OPENED, text="Videz la corbeille du serveur."))
    PhoneActivities(sqlite_engine, PhoneConfig()).place_call(CallRequest(
        case_id=seeded.case_id, case_ref=seeded.ref, step="l1_call", attempt="1.1",
        workflow_id="contact-run", at=OPENED, contact_id=seeded.contact_ids[0],
        mode=CallMode.AUTOMATED))
    http = console(sqlite_engine, tmp_path)
    assert http.get("/api/comms").status_code == 401
    listed = http.get("/api/comms", headers=TOKEN, params={"case_id": seeded.case_id}).json()
    assert [(c["channel"], c["transport"], c["status"]) for c in listed["items"]] == [
        ("phone", "dry-run", "dry_run"), ("email", "capture", "sent")]
    captured = http.get("/api/comms", headers=TOKEN, params={"transport": "capture"}).json()
    (mail,) = captured["items"]
    detail = http.get(f"/api/comms/{mail['id']}", headers=TOKEN).json()
    assert "Videz la corbeille du serveur." in detail["body"]
    shown = client_ref(seeded.ref, reference_key())
    assert f"Message-ID: <{shown}.instructions.1@desk.example>" in detail["raw"]
    assert [e["source"] for e in detail["events"]] == ["capture"]
    refused = http.post(f"/api/cases/{seeded.case_id}/instructions", headers=TOKEN,
                        json={"channel": "email", "text": "x"})
    assert refused.status_code == 503  # no Temporal here: nothing is pretended
    assert http.post(f"/api/cases/{seeded.case_id}/instructions", headers=TOKEN,
                     json={"channel": "fax", "text": "x"}).status_code == 422


def test_the_hooks_answer_twilio_inside_the_console_without_a_session(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    seeded = seed_case(sqlite_engine)
    placed = PhoneActivities(sqlite_engine, PhoneConfig()).place_call(CallRequest(
        case_id=seeded.case_id, case_ref=seeded.ref, step="l1_call", attempt="1.1",
        workflow_id="contact-run", at=OPENED, contact_id=seeded.contact_ids[0],
        mode=CallMode.AUTOMATED))
    http = console(sqlite_engine, tmp_path)
    path = f"/twilio/voice/{placed.communication_id}"
    params = {"CallSid": "CA9", "AnsweredBy": "human"}
    assert http.post(path, data=params).status_code == 403
    answered = http.post(path, data=params, headers=signed(BASE + path, params))
    assert answered.status_code == 200
    assert '<Say language="fr-FR">Bonjour. Ici le centre de télésurveillance Vigie' in (
        answered.text)
