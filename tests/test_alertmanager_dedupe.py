"""Issue 21, finding 11: Alertmanager re-sends are deduplicated per alert, not per payload.

Alertmanager notifies a whole group each time one of its alerts changes (and again every
``repeat_interval``). The desk deduplicated on the whole payload, so an alert that had not
changed counted one more repeat whenever a neighbour in its group fired or resolved. Now an
alert is the same alert while its fingerprint, status, ``startsAt`` and ``endsAt`` are: its
re-sends are kept (evidence) and told to no case. First with payloads written as
Alertmanager's webhook sends them (version 4, group key, zeroed ``endsAt`` while firing),
then with Debian's Alertmanager itself sending them; both over real HTTP to the intake
served by uvicorn on loopback.
"""

from __future__ import annotations

import copy
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from base.settings import Settings
from console.deps import Services
from intake.router import Route, Router
from intake.webhook import router as webhook_router
from models.tables import AlertEventRow, RawMessage
from tests.conftest import IN_CI
from tests.http_helpers import UvicornThread
from tests.test_webhook import tokens

__all__ = ["tokens"]  # the demo clients and a client-b Alertmanager token

ZERO = "0001-01-01T00:00:00Z"
DISK = {
    "status": "firing",
    "labels": {"alertname": "NodeFilesystemSpaceLow", "device": "/dev/sda1",
               "instance": "srv-app:9100", "job": "node", "severity": "critical"},
    "annotations": {"summary": "Disque / presque plein (8 % libres)"},
    "startsAt": "2026-12-07T08:00:00.123Z",
    "endsAt": ZERO,
    "generatorURL": "http://prometheus:9090/graph?g0.expr=node_filesystem_avail_bytes",
    "fingerprint": "5a1c2b7f0e9d3c41",
}
CPU = {
    "status": "firing",
    "labels": {"alertname": "HighCPU", "instance": "srv-app:9100", "job": "node",
               "severity": "warning"},
    "annotations": {"summary": "CPU à 97 %"},
    "startsAt": "2026-12-07T08:01:30.456Z",
    "endsAt": ZERO,
    "generatorURL": "http://prometheus:9090/graph?g0.expr=node_cpu_seconds_total",
    "fingerprint": "9e2d6a0b4c8f1735",
}


def notification(*alerts: dict[str, Any]) -> dict[str, Any]:
    """One webhook body as Alertmanager 0.25+ posts it for the group {instance}."""
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "receiver": "vigie", "status": "firing" if firing else "resolved",
        "alerts": list(alerts),
        "groupLabels": {"instance": "srv-app:9100"},
        "commonLabels": {"instance": "srv-app:9100", "job": "node"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}:{instance="srv-app:9100"}',
        "truncatedAlerts": 0,
    }


def resolved(alert: dict[str, Any], at: str) -> dict[str, Any]:
    return {**copy.deepcopy(alert), "status": "resolved", "endsAt": at}


def routes_of(engine: Engine) -> list[Route]:
    router = Router(engine, client=None, task_queue="unused")  # type: ignore[arg-type]
    return [r for _, rs in router._materialize(router._claim()) for r in rs]


def test_an_unchanged_alert_is_no_repeat_when_its_group_changes(
    engine: Engine, tokens: dict[str, str]
) -> None:
    app = FastAPI()
    app.state.services = Services(settings=Settings(), engine=engine)
    app.include_router(webhook_router)
    disk_later = copy.deepcopy(DISK)  # re-evaluated: a newer value, the same alert
    disk_later["annotations"]["summary"] = "Disque / presque plein (7 % libres)"
    sent = [
        notification(DISK),  # the disk fires
        notification(disk_later, CPU),  # the CPU joins the group
        notification(disk_later, resolved(CPU, "2026-12-07T08:20:00.789Z")),  # it resolves
        notification(disk_later),  # repeat_interval: the group as it stands
    ]
    told: list[list[Route]] = []
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    with UvicornThread(config) as srv, httpx.Client(base_url=srv.url, timeout=10) as http:
        for body in sent:
            answer = http.post("/api/alertmanager", json=body,
                               headers={"Authorization": f"Bearer {tokens['alertmanager']}"})
            assert answer.status_code == 202, answer.text
            told.append(routes_of(engine))

    assert [len(t) for t in told] == [1, 1, 1, 0]  # disk once, CPU problem, CPU recovery
    assert [r.signal.status for t in told for r in t] == [  # type: ignore[union-attr]
        "problem", "problem", "recovery"]
    disk_case = told[0][0].workflow_id
    assert all(r.workflow_id != disk_case for t in told[1:] for r in t)
    with Session(engine) as s:
        disk_rows = list(s.exec(select(AlertEventRow).where(
            AlertEventRow.fingerprint == told[0][0].fingerprint)
            .order_by(col(AlertEventRow.id))).all())
    first, *resent = disk_rows
    assert len(resent) == 3  # every re-send kept as evidence, none told
    assert all(r.extra["duplicate_of"] == first.id and r.routed_at is not None for r in resent)
    assert "7 %" in resent[0].summary  # with what it said


# --- the same, with Debian's real Alertmanager sending the webhooks ---------------------------

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def real_alertmanager(tmp: Path, webhook: str, token: str) -> Iterator[str]:
    """Alertmanager on loopback, one group per instance, flushing a second after a change."""
    if ALERTMANAGER is None:
        if IN_CI:
            pytest.fail("prometheus-alertmanager is required in CI (scripts/ensure-tools)")
        pytest.skip("prometheus-alertmanager not installed (allowed outside CI only)")
    config = tmp / "alertmanager.yml"
    config.write_text(json.dumps({
        "route": {"receiver": "vigie", "group_by": ["instance"], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "vigie", "webhook_configs": [{
            "url": webhook, "send_resolved": True,
            "http_config": {"authorization": {"credentials": token}}}]}],
    }))  # JSON is YAML
    port = _free_port()
    proc = subprocess.Popen(
        [ALERTMANAGER, f"--config.file={config}", f"--storage.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
         "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
            assert time.monotonic() < deadline, "Alertmanager did not start"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _received(engine: Engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(RawMessage).where(RawMessage.channel == "alertmanager")).all())


def _wait_for(engine: Engine, count: int) -> None:
    deadline = time.monotonic() + 60
    while _received(engine) < count:
        assert time.monotonic() < deadline, f"Alertmanager sent {_received(engine)} webhooks"
        time.sleep(0.2)


def test_real_alertmanager_resending_a_group_repeats_only_what_changed(
    engine: Engine, tokens: dict[str, str], tmp_path: Path
) -> None:
    app = FastAPI()
    app.state.services = Services(settings=Settings(), engine=engine)
    app.include_router(webhook_router)
    starts = "2026-12-07T08:00:00Z"
    disk = {"labels": DISK["labels"], "annotations": DISK["annotations"], "startsAt": starts}
    cpu = {"labels": CPU["labels"], "annotations": CPU["annotations"], "startsAt": starts}
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    with UvicornThread(config) as srv, real_alertmanager(
        tmp_path, f"{srv.url}/api/alertmanager", tokens["alertmanager"]
    ) as am:
        assert httpx.post(f"{am}/api/v2/alerts", json=[disk, cpu], timeout=10).is_success
        _wait_for(engine, 1)  # the group: both firing
        first = routes_of(engine)
        ended = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        assert httpx.post(f"{am}/api/v2/alerts", json=[{**cpu, "endsAt": ended}],
                          timeout=10).is_success
        _wait_for(engine, 2)  # the group again: the disk unchanged, the CPU resolved
        second = routes_of(engine)
    with Session(engine) as s:
        bodies = [json.loads(bytes(r.data)) for r in s.exec(
            select(RawMessage).where(RawMessage.channel == "alertmanager")
            .order_by(col(RawMessage.id))).all()]
    assert [len(b) for b in bodies[:2]] == [2, 2]  # Alertmanager re-sent the whole group
    assert sorted(r.signal.status for r in first) == ["problem", "problem"]  # type: ignore[union-attr]
    assert [r.signal.status for r in second] == ["recovery"]  # type: ignore[union-attr]
    disk_case = next(r.workflow_id for r in first if "filesystem" in r.fingerprint
                     or "disk" in r.fingerprint)
    assert all(r.workflow_id != disk_case for r in second)  # the disk: no repeat
