"""The console app mounts every router the desk relies on, each with its own protection."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from base.settings import Settings
from console.app import create_app


def test_twilio_callbacks_comms_and_webhooks_are_mounted_and_guarded(
    sqlite_engine: Engine,
) -> None:
    app = create_app(Settings(secret_key="k" * 32, twilio_auth_token="tok"), sqlite_engine)
    http = TestClient(app)
    # unsigned Twilio callbacks are refused (403), which also shows they are mounted (not 404)
    assert http.post("/twilio/sms/incoming", data={"Body": "OK 1234"}).status_code == 403
    assert http.post("/twilio/status/call/1", data={"CallStatus": "completed"}).status_code == 403
    # the communications outbox and the silences need a signed-in user
    assert http.get("/api/comms").status_code == 401
    assert http.get("/api/silences").status_code == 401
    # the webhook intake wants its source token
    assert http.post("/api/events", json={}).status_code == 401
    assert http.post("/api/alertmanager", json={}).status_code == 401
    assert http.get("/api/no-such-route").status_code in (401, 404)
