"""The whole desk from its one command: ``vigie up`` on a fresh var/, a probe mail over SMTP,
the case seen through the HTTP API, the state surviving a restart, and Ctrl-C stopping it all.
"""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

PROBE = """From: vigie-probe@client-a.example
To: alerts@desk.example
Date: Fri, 27 Nov 2026 10:35:00 +0100
Message-ID: <e2e-{n}@client-a.example>
Subject: [VIGIE] SRV-DC01 PROBLEM disk_free: C: 4% free
Content-Type: text/plain; charset=utf-8

Host: SRV-DC01
Check: disk_free
Target: C:
Status: PROBLEM
Severity: major
Value: 4
Threshold: 10
Occurred-At: 2026-11-27T10:30:00+01:00
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    console: str
    smtp_port: int
    log: Path


def start_stack(var: Path, ports: dict[str, int]) -> Stack:
    env = dict(os.environ)
    env.update(
        VIGIE_VAR_DIR=str(var),
        VIGIE_SMTP_PORT=str(ports["smtp"]),
        VIGIE_CONSOLE_PORT=str(ports["console"]),
        VIGIE_TEMPORAL_ADDRESS=f"127.0.0.1:{ports['temporal']}",
        VIGIE_TEMPORAL_UI_PORT=str(ports["ui"]),
        VIGIE_ROUTER_WAKE_PORT=str(ports["wake"]),
        VIGIE_SECRET_KEY="test-secret-key-for-e2e",
        VIGIE_BOOTSTRAP_API_TOKEN="e2e-token-" + os.urandom(8).hex(),
        VIGIE_DEMO_PASSWORD="demo-password-e2e",
    )
    env["VIGIE_TEST_API_TOKEN"] = env["VIGIE_BOOTSTRAP_API_TOKEN"]
    env.pop("DATABASE_URL", None)
    log = var / "up.log"
    var.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigie", "up"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    return Stack(proc, env, f"http://127.0.0.1:{ports['console']}", ports["smtp"], log)


def wait_healthy(stack: Stack, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        assert stack.proc.poll() is None, stack.log.read_text()[-3000:]
        try:
            r = httpx.get(f"{stack.console}/api/healthz", timeout=5)
            last = r.json()
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"never healthy: {last}\n{stack.log.read_text()[-3000:]}")


def stop(stack: Stack) -> int:
    stack.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    return stack.proc.wait(timeout=60)


def wait_for_case(stack: Stack, host: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{stack.console}/api/cases", headers=stack_headers(stack), timeout=5)
        assert r.status_code == 200, r.text
        for case in r.json():
            if (case["host"] or "").lower() == host.lower():
                return case
        time.sleep(0.3)
    raise AssertionError(f"no case for {host}\n{stack.log.read_text()[-3000:]}")


def stack_headers(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.env['VIGIE_TEST_API_TOKEN']}"}


@pytest.fixture
def ports() -> Iterator[dict[str, int]]:
    from bench.cluster import free_udp_port

    yield {**{k: free_port() for k in ("smtp", "console", "temporal", "ui")},
           "wake": free_udp_port()}  # the router's nudges (UDP)


def test_a_probe_mail_becomes_a_case_seen_through_the_api_and_survives_a_restart(
    tmp_path: Path, ports: dict[str, int]
) -> None:
    var = tmp_path / "var"
    stack = start_stack(var, ports)
    try:
        health = wait_healthy(stack)
        assert health == {"status": "ok", "database": "ok", "temporal": "ok", "intake": "ok"}
        assert httpx.get(f"{stack.console}/api/cases", timeout=5).status_code == 401
        with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp:
            smtp.sendmail(
                "vigie-probe@client-a.example", ["alerts@desk.example"], PROBE.format(n=1)
            )
        case = wait_for_case(stack, "SRV-DC01")
        assert case["family"] == "disk_space"
        assert case["target"] == "C:"
        assert case["client"] == "Cabinet Durand & Associés"
        detail = httpx.get(
            f"{stack.console}/api/cases/{case['id']}", headers=stack_headers(stack), timeout=10
        ).json()
        assert detail["live"] is True
        assert detail["state"] == "new"
        assert [e["action"] for e in detail["ledger"]][:1] == ["open"]
    finally:
        assert stop(stack) == 0

    # same var/: Temporal's file and SQLite keep the case; the workflow answers again
    stack = start_stack(var, ports)
    try:
        wait_healthy(stack)
        case2 = wait_for_case(stack, "SRV-DC01")
        assert case2["id"] == case["id"]
        detail = httpx.get(
            f"{stack.console}/api/cases/{case2['id']}", headers=stack_headers(stack), timeout=10
        ).json()
        assert detail["live"] is True
        # a repeat of the same problem folds into the same case
        with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp:
            smtp.sendmail(
                "vigie-probe@client-a.example", ["alerts@desk.example"], PROBE.format(n=2)
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            again = wait_for_case(stack, "SRV-DC01")
            if again["repeat_count"] >= 1:
                break
            time.sleep(0.3)
        assert again["id"] == case["id"]
        assert again["repeat_count"] == 1
    finally:
        assert stop(stack) == 0
