"""Webhook intake: normalized events and Alertmanager payloads, each source with its token."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from base.settings import Settings
from console.deps import Services
from intake.webhook import alertmanager_events, create_source_token
from intake.webhook import router as webhook_router
from models.tables import Outbox, RawMessage
from tests.test_routing import drain_db_step
from vigie.demo import load_demo

EVENT = {
    "family": "service",
    "status": "problem",
    "host": "SRV-APP",
    "check": "service",
    "target": "MSSQLSERVER",
    "severity": "major",
    "backup_result": None,
    "product": "zabbix",
    "summary": "Service MSSQLSERVER arrêté",
}

ALERTMANAGER = {
    "version": "4",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "NodeFilesystemSpaceLow", "instance": "srv-app:9100",
                       "device": "/dev/sda1", "severity": "critical"},
            "annotations": {"summary": "Disque / presque plein"},
            "startsAt": "2026-11-27T02:00:00Z",
            "fingerprint": "abc",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "HighCPU", "instance": "srv-app:9100"},
            "annotations": {},
            "endsAt": "2026-11-27T03:00:00Z",
        },
        {"status": "firing", "labels": {"alertname": "SomethingOdd"}, "annotations": {}},
    ],
}


def app_for(engine: Engine) -> TestClient:
    app = FastAPI()
    app.state.services = Services(settings=Settings(), engine=engine)
    app.include_router(webhook_router)
    return TestClient(app)


@pytest.fixture
def tokens(engine: Engine) -> dict[str, str]:
    load_demo(engine)
    return {
        "event": create_source_token(engine, "zabbix-b", "client-b"),
        "alertmanager": create_source_token(engine, "prom-b", "client-b", kind="alertmanager"),
    }


def test_a_normalized_event_is_stored_before_202_and_routed_to_the_tokens_client(
    engine: Engine, tokens: dict[str, str]
) -> None:
    http = app_for(engine)
    r = http.post("/api/events", json=EVENT, headers={"Authorization": f"Bearer {tokens['event']}"})
    assert r.status_code == 202, r.text
    with Session(engine) as s:
        raw = s.exec(select(RawMessage)).one()
        assert raw.channel == "webhook"
        assert s.exec(select(Outbox)).one().raw_message_id == raw.id
    (ev,) = drain_db_step(engine)
    assert ev.host == "SRV-APP" and ev.target == "MSSQLSERVER"
    assert ev.client_id is not None and ev.server_id is not None
    assert ev.triage == "none"


def test_a_missing_or_wrong_token_is_refused_and_stores_nothing(
    engine: Engine, tokens: dict[str, str]
) -> None:
    http = app_for(engine)
    assert http.post("/api/events", json=EVENT).status_code == 401
    bad = {"Authorization": "Bearer vgs_not-a-token"}
    assert http.post("/api/events", json=EVENT, headers=bad).status_code == 403
    # an Alertmanager token does not open the event endpoint
    other = {"Authorization": f"Bearer {tokens['alertmanager']}"}
    assert http.post("/api/events", json=EVENT, headers=other).status_code == 403
    with Session(engine) as s:
        assert s.exec(select(RawMessage)).all() == []


def test_an_invalid_event_gets_a_clear_422_and_is_not_stored(
    engine: Engine, tokens: dict[str, str]
) -> None:
    http = app_for(engine)
    h = {"Authorization": f"Bearer {tokens['event']}"}
    r = http.post("/api/events", json={**EVENT, "family": "weather"}, headers=h)
    assert r.status_code == 422
    assert "family" in r.text or "weather" in r.text
    r = http.post("/api/events", content=b"{not json", headers=h)
    assert r.status_code == 422
    with Session(engine) as s:
        assert s.exec(select(RawMessage)).all() == []


def test_alertmanager_firing_and_resolved_alerts_become_events(
    engine: Engine, tokens: dict[str, str]
) -> None:
    http = app_for(engine)
    h = {"Authorization": f"Bearer {tokens['alertmanager']}"}
    r = http.post("/api/alertmanager", content=json.dumps(ALERTMANAGER), headers=h)
    assert r.status_code == 202, r.text
    disk, cpu, odd = drain_db_step(engine)
    assert (disk.family, disk.status, disk.check, disk.host) == (
        "disk_space", "problem", "disk_free", "srv-app")
    assert disk.severity == "critical" and disk.target == "/dev/sda1"
    assert (cpu.family, cpu.status) == ("performance", "recovery")
    assert odd.family == "unknown" and odd.triage == "pending"
    assert all(e.client_id is not None for e in (disk, cpu, odd))


def test_alertmanager_labels_can_name_the_family_exactly() -> None:
    (ev,) = alertmanager_events({"alerts": [{"status": "firing", "labels": {
        "alertname": "X", "vigie_family": "link", "vigie_check": "vpn",
        "vigie_target": "Lyon", "host": "fw-01"}}]})
    assert (ev["family"], ev["check"], ev["target"], ev["host"]) == ("link", "vpn", "Lyon",
                                                                      "fw-01")
    with pytest.raises(ValueError):
        alertmanager_events({"nope": 1})
