"""The router as a process of its own (``vigie router``), as ``vigie up`` and production run
it: the intake only stores and nudges it; the router drains the outbox into Temporal.

The router here looks at the outbox on its own only once a minute, so a case that appears
within seconds was routed because the intake's nudge woke it.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from base.settings import Settings
from bench.cluster import Cluster, free_udp_port, probe, scrape
from intake.wake import Nudger, parse_addresses
from models.db import make_engine, migrate
from models.tables import Case, Outbox
from tests.conftest import fresh_id
from vigie.demo import load_demo
from vigie.stack import service_envs

pytestmark = pytest.mark.slow

POLL_SECONDS = 60  # far longer than the test waits: only a nudge routes in time


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('router-db') / 'vigie.sqlite3'}"
    migrate(url)
    eng = make_engine(url)
    load_demo(eng)
    eng.dispose()
    return url


@pytest.fixture(scope="module")
def db(sqlite_url: str) -> Engine:
    return make_engine(sqlite_url)


@pytest.fixture(scope="module")
async def desk(dev_env, sqlite_url: str, tmp_path_factory: pytest.TempPathFactory
               ) -> AsyncIterator[Cluster]:
    logs = tmp_path_factory.mktemp("router-service")
    c = Cluster(
        env={
            "DATABASE_URL": "",
            "VIGIE_VAR_DIR": str(sqlite_url.removeprefix("sqlite:///").rsplit("/", 1)[0]),
            "VIGIE_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "VIGIE_TASK_QUEUE": fresh_id("router"),
            "VIGIE_ROUTER_POLL_SECONDS": str(POLL_SECONDS),
            "VIGIE_CONSOLE_METRICS_PORT": "0",
        },
        logs=logs,
    )
    try:
        await asyncio.to_thread(c.start, 1, 1, 1)
        yield c
    finally:
        await asyncio.to_thread(c.stop)


def send(port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail("vigie-probe@client-a.example", ["alerts@desk.example"], raw)


async def case_of(db: Engine, target: str, within: float) -> Case | None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with Session(db) as s:
            found = s.exec(select(Case).where(Case.target == target)).first()
        if found is not None:
            return found
        await asyncio.sleep(0.1)
    return None


async def outbox_done(db: Engine, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with Session(db) as s:
            if all(o.done_at is not None for o in s.exec(select(Outbox)).all()):
                return True
        await asyncio.sleep(0.05)
    return False


async def test_the_intake_stores_and_nudges_and_the_router_process_opens_the_case(
    desk: Cluster, db: Engine
) -> None:
    # the router's first look at the outbox is behind it: from now on it sleeps a minute
    await asyncio.sleep(1.0)
    target = fresh_id("nudged")
    started = time.monotonic()
    await asyncio.to_thread(send, desk.smtp_ports[0], probe(target, 1))
    case = await case_of(db, target, within=20)
    assert case is not None, "no case within 20 s: the router was not woken by the intake"
    assert time.monotonic() - started < POLL_SECONDS
    # the router marks its batch done on the next claim or within RECORD_HOLD (0.1 s) of the
    # case's start, so the outbox is read until it is done, well inside the minute's poll
    assert await outbox_done(db, within=5), "the routed message stayed pending in the outbox"
    # the routing was the router process's work; the intake only stored
    intake = scrape(desk.of("ingest")[0].metrics_port)
    router = scrape(desk.of("router")[0].metrics_port)
    assert intake["vigie_messages_accepted_total"] >= 1
    assert intake["vigie_events_routed_total"] == 0
    assert router["vigie_events_routed_total"] >= 1


def test_vigie_up_runs_the_router_as_its_own_process_and_the_intake_nudges_it() -> None:
    envs = dict(service_envs(Settings(router_wake_port=2999)))
    assert set(envs) == {"worker", "router", "ingest", "console"}
    assert envs["ingest"] == {"VIGIE_INTAKE_ROUTES": "false",
                              "VIGIE_ROUTER_WAKE": "127.0.0.1:2999"}
    assert dict(service_envs(Settings(router_wake_port=0)))["ingest"]["VIGIE_ROUTER_WAKE"] == ""


@pytest.mark.parametrize("spec", ["router", "router:", ":2526", "router:99999", "r:x"])
def test_a_wake_address_without_a_valid_port_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="hôte:port"):
        parse_addresses(spec)


def test_wake_addresses_are_a_comma_separated_list() -> None:
    assert parse_addresses(" 127.0.0.1:2526, router:2600 ,") == [
        ("127.0.0.1", 2526), ("router", 2600)]


def _listener(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    sock.settimeout(2)
    return sock


def test_a_scaled_routers_name_nudges_every_replica_and_is_looked_up_again(
    monkeypatch, caplog
) -> None:
    """Docker's DNS answers a scaled service's name with every replica's address. There is
    no such DNS here, so the lookup is stood in for (the datagrams are real, on loopback):
    both replicas are nudged; a third started later is nudged after the next lookup; a
    lookup that fails keeps the addresses already known, and is said once, not every 30 s."""
    port = free_udp_port()
    replicas = ["127.0.0.1", "127.0.0.2"]
    real = socket.getaddrinfo

    def docker_dns(host, p, *args, **kw):  # type: ignore[no-untyped-def]
        if host != "router":
            return real(host, p, *args, **kw)
        if not replicas:
            raise socket.gaierror("temporary failure in name resolution")
        return [(socket.AF_INET, socket.SOCK_DGRAM, 17, "", (ip, p)) for ip in replicas]

    monkeypatch.setattr(socket, "getaddrinfo", docker_dns)
    listeners = [_listener(ip, port) for ip in ("127.0.0.1", "127.0.0.2", "127.0.0.3")]
    nudge = Nudger(parse_addresses(f"router:{port}"))
    try:
        nudge()
        assert [s.recv(16) for s in listeners[:2]] == [b"v", b"v"]
        replicas.append("127.0.0.3")  # scaled up
        nudge.refresh()
        nudge()
        assert [s.recv(16) for s in listeners] == [b"v", b"v", b"v"]
        replicas.clear()  # the DNS fails for a while: said once, the addresses kept
        with caplog.at_level("WARNING", logger="intake.wake"):
            nudge.refresh()
            nudge.refresh()
        assert len(nudge.addresses) == 3
        assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 1
    finally:
        nudge.close()
        for s in listeners:
            s.close()
