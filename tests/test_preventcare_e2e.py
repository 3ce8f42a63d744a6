"""End to end on loopback: an exporter page -> Debian's Prometheus (the generated sensor rules,
every duration shortened by the same thresholds module) -> Debian's Alertmanager (the shipped
example route) -> the desk (``vigie up``): a threshold crossing becomes a case with the
monitor's check, its recovery resolves it, and the heartbeat reaches the heartbeat watch.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from domain.sensors import BY_CHECK
from tests.test_end_to_end import (
    Stack,
    free_port,
    stack_headers,
    start_stack,
    stop,
    wait_healthy,
)
from vigie import sensor_rules

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SCALE = 1 / 120  # 10 min -> 5 s, 20 min -> 10 s
GIB = 2**30


class Exporter:
    """A static windows_exporter page the test rewrites: committed bytes in use, in %."""

    def __init__(self) -> None:
        self.committed = 50.0
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = page.text().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def text(self) -> str:
        limit = 16 * GIB
        return ("# TYPE windows_memory_commit_limit gauge\n"
                f"windows_memory_commit_limit {limit}\n"
                "# TYPE windows_memory_committed_bytes gauge\n"
                f"windows_memory_committed_bytes {limit * self.committed / 100:.0f}\n")


def _binary(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} missing: scripts/ensure-tools installs Debian's package"
    return found


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _poll(what: str, probe: Callable[[], Any], timeout: float, logs: list[Path]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in logs if p.exists())
    raise AssertionError(f"{what}: not within {timeout} s\n{tails}")


def _alertmanager_config(console: str, token: str) -> dict[str, Any]:
    """The shipped example route, pointed at this desk, with test-sized waits."""
    doc = yaml.safe_load((ROOT / "deploy" / "preventcare" / "alertmanager.yml").read_text())
    for receiver in doc["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{console}/api/alertmanager"
            hook["http_config"]["authorization"] = {"type": "Bearer", "credentials": token}
    sensors_route = doc["route"]["routes"][0]
    sensors_route.update(group_wait="1s", group_interval="1s")
    return doc


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    from bench.cluster import free_udp_port

    ports = {**{k: free_port() for k in ("smtp", "console", "temporal", "ui")},
             "wake": free_udp_port()}
    desk = start_stack(tmp_path / "var", ports)
    try:
        yield desk
    finally:
        assert stop(desk) == 0


def test_a_committed_memory_crossing_becomes_a_case_and_its_recovery_resolves_it(
        tmp_path: Path, stack: Stack) -> None:
    exporter = Exporter()
    prom_port, am_port = free_port(), free_port()
    logs = [tmp_path / "prometheus.log", tmp_path / "alertmanager.log", stack.log]
    (tmp_path / "rules.yml").write_text(sensor_rules.render(SCALE))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [{"job_name": "windows", "static_configs": [{
            "targets": [f"127.0.0.1:{exporter.port}"],
            "labels": {"client": "client-a", "site": "LYON", "host": "SRV-FILE01"}}]}],
    }))
    wait_healthy(stack)
    made = subprocess.run([sys.executable, "-m", "vigie", "token", "prometheus-e2e",
                           "--client", "client-a", "--kind", "alertmanager"],
                          env=stack.env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    (tmp_path / "alertmanager.yml").write_text(
        yaml.safe_dump(_alertmanager_config(stack.console, token)))
    procs = [
        _spawn([_binary("prometheus-alertmanager"),
                f"--config.file={tmp_path / 'alertmanager.yml'}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
               logs[1]),
        _spawn([_binary("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--rules.alert.resend-delay=1s"], logs[0]),
    ]
    api = httpx.Client(base_url=stack.console, headers=stack_headers(stack), timeout=10)
    try:
        def case() -> dict[str, Any] | None:
            for c in api.get("/api/cases").json():
                if (c["host"] or "").lower() == "srv-file01" and c["check"] == "committed_bytes":
                    return c
            return None

        def heartbeat_seen() -> bool:
            return any(e["kind"] == "heartbeat" and e["last_seen_at"]
                       for e in api.get("/api/expectations").json())

        # the heartbeat (always firing while the exporter is scraped) reaches the watch
        _poll("heartbeat at the desk", heartbeat_seen, 60, logs)
        assert case() is None  # 50 %: below the threshold
        exporter.committed = 95.0
        opened = _poll("case opened", case, 60, logs)
        sensor = BY_CHECK["committed_bytes"]
        assert (opened["family"], opened["check"], opened["target"]) == (
            sensor.family, "committed_bytes", None)
        assert opened["client"] == "Cabinet Durand & Associés"
        assert "mémoire engagée utilisée > 90 %" in opened["title"]

        exporter.committed = 40.0

        def resolved() -> dict[str, Any] | None:
            detail = api.get(f"/api/cases/{opened['id']}").json()
            return detail if detail["state"] == "resolved" else None

        done = _poll("case resolved by the recovery", resolved, 60, logs)
        assert done["recovered"] is True
    finally:
        api.close()
        for proc in procs:
            _kill(proc)
        exporter.server.shutdown()
