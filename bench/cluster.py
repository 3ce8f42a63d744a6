"""Intakes, routers and workers as separate processes on one database and one Temporal:
what ``bench.storm`` measures and ``tests/test_scale_out.py`` kills.

Each process is the desk's own command (``python -m vigie worker`` / ``ingest`` /
``router``) with its own SMTP, nudge and ``/metrics`` ports; with no router process, each
intake routes its outbox itself. The sender behaves like an MTA facing an MX with several
hosts: it tries them in turn and moves to the next one when a host refuses or vanishes.
"""

from __future__ import annotations

import os
import secrets
import smtplib
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SENDER = "vigie-probe@client-a.example"
MAILBOX = "alerts@desk.example"
# a DATABASE_URL means production rules: a strong key, drawn per run as production has one
TEST_SECRET = secrets.token_urlsafe(48)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, within: float = 60.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def probe(target: str, n: int, status: str = "PROBLEM", host: str = "SRV-DC01") -> bytes:
    """A problem (or recovery) mail of the desk's own probe format, one fingerprint per
    ``target`` (demo client A's server SRV-DC01)."""
    return (
        f"From: {SENDER}\r\nTo: {MAILBOX}\r\n"
        f"Message-ID: <{target}-{n}-{status}@probe>\r\n"
        f"Subject: [VIGIE] {host} {status} service: {target}\r\n\r\n"
        f"Host: {host}\r\nCheck: service\r\nTarget: {target}\r\nStatus: {status}\r\n"
    ).encode()


@dataclass
class Process:
    role: str  # "worker" | "ingest" | "router"
    popen: subprocess.Popen[bytes]
    metrics_port: int
    smtp_port: int = 0
    wake_port: int = 0  # a router's UDP nudge port

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Cluster:
    """N workers and N intakes; ``env`` holds DATABASE_URL, the Temporal address, the task
    queue and any tuning; logs go to ``logs``. The processes share the codec's master key of
    the process that runs them (unless ``env`` names one): one desk, so each opens what the
    others sealed, and the caller reads their histories through ``contracts.codec``."""

    env: dict[str, str]
    logs: Path
    procs: list[Process] = field(default_factory=list)

    def _start(self, role: str, index: int, extra: dict[str, str]) -> Process:
        from contracts.keys import master_key

        env = {**os.environ, "VIGIE_SECRET_KEY": TEST_SECRET, "VIGIE_LOG_LEVEL": "WARNING",
               "VIGIE_SCHEDULES_ENABLED": "false", "VIGIE_CODEC_MASTER_KEY": master_key().hex(),
               **self.env, **extra}
        log = (self.logs / f"{role}-{index}.log").open("ab")
        popen = subprocess.Popen([sys.executable, "-m", "vigie", role], env=env, cwd=ROOT,
                                 stdout=log, stderr=subprocess.STDOUT)
        key = {"worker": "VIGIE_WORKER_METRICS_PORT", "router": "VIGIE_ROUTER_METRICS_PORT"
               }.get(role, "VIGIE_INTAKE_METRICS_PORT")
        proc = Process(role, popen, int(extra[key]), int(extra.get("VIGIE_SMTP_PORT", 0)),
                       int(extra.get("VIGIE_ROUTER_WAKE_PORT", 0)))
        self.procs.append(proc)
        return proc

    def start_worker(self, index: int) -> Process:
        return self._start("worker", index, {"VIGIE_WORKER_METRICS_PORT": str(free_port())})

    def start_intake(self, index: int) -> Process:
        """An intake; with routers of their own in the cluster it only stores, and nudges
        every router after each message."""
        extra = {"VIGIE_INTAKE_METRICS_PORT": str(free_port()),
                 "VIGIE_SMTP_PORT": str(free_port())}
        routers = self.of("router")
        if routers:
            extra["VIGIE_INTAKE_ROUTES"] = "false"
            extra["VIGIE_ROUTER_WAKE"] = ",".join(f"127.0.0.1:{r.wake_port}" for r in routers)
        return self._start("ingest", index, extra)

    def start_router(self, index: int) -> Process:
        return self._start("router", index, {"VIGIE_ROUTER_METRICS_PORT": str(free_port()),
                                             "VIGIE_ROUTER_WAKE_PORT": str(free_udp_port())})

    def start(self, workers: int, intakes: int, routers: int = 0) -> None:
        """``routers`` 0: each intake routes in its own process; otherwise that many
        ``vigie router`` processes do, and the intakes only store."""
        for i in range(workers):
            self.start_worker(i)
        for i in range(routers):
            self.start_router(i)
        for i in range(intakes):
            self.start_intake(i)
        for p in self.procs:
            if not wait_port(p.smtp_port or p.metrics_port):
                raise RuntimeError(f"{p.role} did not start; see {self.logs}")

    def of(self, role: str) -> list[Process]:
        return [p for p in self.procs if p.role == role]

    @property
    def smtp_ports(self) -> list[int]:
        return [p.smtp_port for p in self.of("ingest")]

    def kill(self, proc: Process) -> None:
        """SIGKILL: no goodbye, the worst moment for the process."""
        proc.popen.kill()
        proc.popen.wait(20)

    def stop(self) -> None:
        for p in self.procs:
            if p.alive():
                p.popen.terminate()
        for p in self.procs:
            try:
                p.popen.wait(20)
            except subprocess.TimeoutExpired:
                p.popen.kill()
                p.popen.wait(10)

    def cpu_seconds(self, role: str) -> float:
        """User + system CPU of the live processes of ``role`` (from /proc)."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for p in self.of(role):
            try:
                fields = Path(f"/proc/{p.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
        return total


def scrape(port: int) -> dict[str, float]:
    """One process's /metrics, as ``name{labels}`` -> value (samples summed per name too)."""
    from prometheus_client.parser import text_string_to_metric_families

    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


class MxSender(threading.Thread):
    """Sends ``messages`` through any of ``ports``, like an MTA facing an MX with several
    hosts: a refused or vanished host means the next one; a message counts once a host
    answered 250. ``pace`` (seconds between messages) makes a steady rate; ``on_ack`` sees
    each acknowledgement with its time."""

    def __init__(self, ports: list[int], messages: list[bytes], pace: float = 0.0,
                 start_at: int = 0, on_ack: Callable[[bytes, float], None] | None = None
                 ) -> None:
        super().__init__(daemon=True)
        self.ports = ports
        self.messages = messages
        self.pace = pace
        self.turn = start_at
        self.on_ack = on_ack
        self.acked: list[bytes] = []
        self.failovers = 0

    def run(self) -> None:
        conns: dict[int, smtplib.SMTP] = {}
        next_at = time.monotonic()
        for raw in self.messages:
            if self.pace:
                time.sleep(max(0.0, next_at - time.monotonic()))
                next_at += self.pace
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                port = self.ports[self.turn % len(self.ports)]
                try:
                    smtp = conns.get(port)
                    if smtp is None:
                        smtp = conns[port] = smtplib.SMTP("127.0.0.1", port, timeout=30)
                    smtp.sendmail(SENDER, [MAILBOX], raw)
                    self.acked.append(raw)
                    if self.on_ack is not None:
                        self.on_ack(raw, time.time())
                    break
                except (OSError, smtplib.SMTPException):
                    conns.pop(port, None)
                    self.turn += 1  # the next MX host
                    self.failovers += 1
                    time.sleep(0.05)
            self.turn += 1  # spread the load over the hosts
        for smtp in conns.values():
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
