"""The desk reads the sensor rules' alerts as it reads the monitor's mails.

For every probe sample of a 3.2.2 sensor, the alert the generated rule would send (its labels,
with the exporter's instance as target) becomes, through the Alertmanager intake, the event
the mail parser makes of the mail: same family, status, check, target, host, severity and
fingerprint, so the same case, repeats, recoveries, SLA and reports follow. The heartbeat
counts at every delivery and a resolved one is no beat.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from base.settings import Settings
from console.deps import Services
from domain import sensors
from intake.webhook import alertmanager_events, create_source_token
from intake.webhook import router as webhook_router
from models.tables import AlertEventRow, RawMessage, Server
from parsers import AlertEvent, parse_message
from tests.browser.support import add_case, make_desk
from tests.conftest import samples_dir
from tests.test_routing import drain_db_step
from vigie import sensor_rules
from vigie.demo import load_demo

SENSOR_SAMPLES = sorted(p for p in samples_dir().glob("0[01]*_probe_*.eml"))
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _rule_labels() -> dict[str, dict[str, str]]:
    doc = sensor_rules.rules_document()
    return {r["alert"]: r["labels"] for g in doc["groups"] for r in g["rules"] if "alert" in r}


def alert_for(ev: AlertEvent, firing: bool, **extra: str) -> dict[str, Any]:
    """The Alertmanager alert the generated rule sends for the condition ``ev`` reports."""
    sensor = sensors.BY_CHECK[ev.check]
    labels = {"alertname": sensor.alert, "client": "client-a", "site": "LYON",
              "host": ev.host or "", **extra}
    for key, value in _rule_labels()[sensor.alert].items():
        value = value.replace("{{ $labels.target }}", ev.target or "")
        if value:
            labels[key] = value
    if ev.target and not sensor.target:
        labels["target"] = ev.target
    return {"status": "firing" if firing else "resolved", "labels": labels,
            "annotations": {"summary": f"{ev.host} : {sensor.condition('fr')}"},
            "startsAt": "2026-11-27T08:40:00Z", "endsAt": "2026-11-27T09:00:00Z",
            "fingerprint": f"{sensor.alert}-{ev.host}"}


def test_every_sensor_has_a_probe_sample() -> None:
    checks = {parse_message(p.read_bytes()).events[0].check for p in SENSOR_SAMPLES}
    assert checks == set(sensors.BY_CHECK)


@pytest.mark.parametrize("sample", SENSOR_SAMPLES, ids=[p.stem for p in SENSOR_SAMPLES])
def test_the_alert_of_a_sensor_is_the_event_of_the_monitors_mail(sample: Any) -> None:
    (mail,) = parse_message(sample.read_bytes()).events
    firing = mail.status != "recovery"
    payload = {"version": "4", "alerts": [alert_for(mail, firing)]}
    (item,) = alertmanager_events(payload, received_at=NOW)
    am = AlertEvent.from_dict(item)
    assert (am.family, am.status, am.check, am.target, am.host) == (
        mail.family, mail.status, mail.check, mail.target, mail.host)
    assert am.fingerprint("client-a") == mail.fingerprint("client-a")
    if mail.status == "problem":
        assert am.severity == mail.severity


def test_the_alert_name_alone_maps_a_sensor_rule() -> None:
    """A rule copied without the vigie_* labels still lands on its check."""
    (item,) = alertmanager_events({"alerts": [{"status": "firing", "labels": {
        "alertname": "PreventcareCommittedBytes", "host": "SRV-FILE01"}}]})
    assert (item["family"], item["check"]) == ("performance", "committed_bytes")


def test_an_event_log_alert_has_no_recovery() -> None:
    (mail,) = parse_message((samples_dir() / "010_probe_event_problem.eml").read_bytes()).events
    assert alertmanager_events({"alerts": [alert_for(mail, firing=False)]}) == []


# --- the heartbeat through the intake ----------------------------------------------------


@pytest.fixture
def http(engine: Engine) -> tuple[TestClient, dict[str, str]]:
    load_demo(engine)
    token = create_source_token(engine, "prom-a", "client-a", kind="alertmanager")
    app = FastAPI()
    app.state.services = Services(settings=Settings(), engine=engine)
    app.include_router(webhook_router)
    return TestClient(app), {"Authorization": f"Bearer {token}"}


def _heartbeat(status: str) -> bytes:
    (mail,) = parse_message((samples_dir() / "015_probe_heartbeat.eml").read_bytes()).events
    return json.dumps({"version": "4", "status": status,
                       "alerts": [alert_for(mail, firing=status == "firing")]}).encode()


def _last_beat(engine: Engine, server_id: int | None) -> datetime | None:
    with Session(engine) as s:
        srv = s.get(Server, server_id)
        assert srv is not None and srv.hostname == "srv-dc01"
        return srv.last_heartbeat_at


def test_each_resent_heartbeat_is_a_beat_and_a_resolved_one_is_none(
        engine: Engine, http: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = http
    for _ in range(2):  # Alertmanager re-sends the always-firing alert unchanged
        assert client.post("/api/alertmanager", content=_heartbeat("firing"),
                           headers=auth).status_code == 202
    rows = drain_db_step(engine)
    assert [(r.family, r.status, r.host) for r in rows] == [("heartbeat", "info", "SRV-DC01")] * 2
    assert all(r.server_id is not None for r in rows)
    # the second delivery is a beat of its own, not a duplicate of the first (Alertmanager's
    # per-alert identity would make it one): the heartbeat watch moves with it
    assert [(r.extra or {}).get("duplicate_of") for r in rows] == [None, None]
    first = _last_beat(engine, rows[0].server_id)
    assert first is not None and first == max(r.received_at for r in rows)
    assert client.post("/api/alertmanager", content=_heartbeat("resolved"),
                       headers=auth).status_code == 202
    assert len(drain_db_step(engine)) == 2  # the agent stopped: no beat recorded
    assert _last_beat(engine, rows[0].server_id) == first
    with Session(engine) as s:
        assert len(s.exec(select(RawMessage)).all()) == 3  # every delivery kept
        assert s.exec(select(AlertEventRow).where(AlertEventRow.family == "heartbeat")
                      ).all() == rows


# --- the desk's own text, from the same table ------------------------------------------------


def test_the_case_page_states_the_contracts_condition_in_both_languages(
        engine: Engine, tmp_path: Any) -> None:
    desk = make_desk(engine, tmp_path)
    case_id = add_case(desk.engine, desk.clients["client-a"])  # a disk_free case
    http, _ = desk.signed_in("technician")
    fr = http.get(f"/cases/{case_id}").text
    assert "Capteur du contrat" in fr
    assert sensors.BY_CHECK["disk_free"].condition("fr") in fr
    assert "espace disque libre ≤ 10 %, vérifié chaque jour à 03:00" in fr
    en = http.get(f"/cases/{case_id}?lang=en").text
    assert "Contract sensor" in en and "free disk space ≤ 10 %, checked daily at 03:00" in en
