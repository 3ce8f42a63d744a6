"""The JSON API of expectations, silences and the backup report (``console.api_expectations``),
mounted on the console's application the way the lead will include it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from base.settings import Settings
from console.api_expectations import router
from console.app import create_app
from models.types import utcnow
from tests.test_absence_support import ingest, make_inventory, probe

TOKEN = "boot-token-for-absence-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def client(engine: Engine, tmp_path: Path) -> TestClient:
    settings = Settings(var_dir=tmp_path, bootstrap_api_token=TOKEN, temporal_address="",
                        secret_key="k" * 32)
    return TestClient(create_app(settings, engine, extra_routers=[router]))


def test_expectations_proposals_silences_and_report(sqlite_engine: Engine,
                                                    tmp_path: Path) -> None:
    inv = make_inventory(sqlite_engine)
    http = client(sqlite_engine, tmp_path)
    assert http.get("/api/expectations").status_code == 401  # signed-in staff only

    ingest(sqlite_engine, probe(inv, "SRV-B", "heartbeat"))
    proposals = http.get("/api/expectations/proposals", headers=AUTH).json()
    (proposed,) = proposals["expectations"]
    assert (proposed["server_id"], proposed["state"]) == (inv.srv_b, "proposed")
    r = http.post(f"/api/expectations/{proposed['id']}/confirm", headers=AUTH)
    assert r.status_code == 200 and r.json()["state"] == "ok"
    assert r.json()["confirmed_by"] == "bootstrap"

    r = http.post("/api/expectations", headers=AUTH,
                  json={"server_id": inv.srv_a, "kind": "heartbeat", "grace_minutes": 30})
    assert r.status_code == 200 and r.json()["grace_minutes"] == 30
    r = http.post("/api/expectations", headers=AUTH,
                  json={"server_id": inv.srv_a, "kind": "disk_report", "schedule": "nope"})
    assert r.status_code == 422 and "cron" in r.json()["detail"]
    assert http.post("/api/expectations/999/confirm", headers=AUTH).status_code == 404
    listed = http.get(f"/api/expectations?client_id={inv.client_id}", headers=AUTH).json()
    assert len(listed) == 2

    now = utcnow()
    r = http.post("/api/silences", headers=AUTH, json={
        "server_id": inv.srv_a, "ends_at": (now + timedelta(hours=2)).isoformat(),
        "reason": "mise à jour du BIOS"})
    assert r.status_code == 200
    sil = r.json()
    assert (sil["client_id"], sil["created_by"]) == (inv.client_id, "bootstrap")
    active = http.get("/api/silences?active=true", headers=AUTH).json()
    assert [s["id"] for s in active] == [sil["id"]]
    ingest(sqlite_engine, probe(inv, "SRV-A", "cpu", "PROBLEM"))
    (hit,) = http.get(f"/api/silences/{sil['id']}/hits", headers=AUTH).json()
    assert hit["event_id"] is not None
    assert http.post(f"/api/silences/{sil['id']}/end", headers=AUTH).json()["revoked_at"]
    assert http.get("/api/silences?active=true", headers=AUTH).json() == []

    report = http.get("/api/backups/report?day=2026-11-29&days=7", headers=AUTH).json()
    assert report["days"][-1] == "2026-11-29" and len(report["days"]) == 7
    assert http.post("/api/backups/audit", headers=AUTH, json={}).status_code == 503

    csv_body = f"type,client,hostname,period,grace\nheartbeat,{inv.code},srv-a2,30,5\n"
    r = http.post("/api/expectations/import?dry_run=true", headers=AUTH,
                  content=csv_body.encode())
    assert r.json() == {"dry_run": True, "created": {"heartbeat": 1}, "errors": [],
                        "applied": False}
    r = http.post("/api/expectations/import", headers=AUTH, content=csv_body.encode())
    assert r.json()["applied"] is True
