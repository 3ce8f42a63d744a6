"""The router as processes of its own: two intakes that only store, two ``vigie router``
processes and two workers on one Temporal dev server and one PostgreSQL, fed by a real SMTP
client failing over between the intakes as an MTA does between MX hosts.

A burst during which one router, one intake and one worker are killed (SIGKILL): every
message stored once, every event told to Temporal once (read back from the cases'
histories), every case opened once (a batch the dead router held is taken over after its
lease), and the routing is the routers' work, not the intakes' (their /metrics say so).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.engine import Engine

from bench.cluster import Cluster, scrape
from tests.conftest import fresh_id
from tests.test_scale_out import (
    assert_each_once,
    burst,
    burst_killing,
    demo_database,
    postgres_schema,
    running_cluster,
    settled,
    signals_per_event,
    state,
    until,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    yield from postgres_schema()  # a schema of its own: no other module's routers drain it


@pytest.fixture(scope="module")
def engine(pg_url: str) -> Iterator[Engine]:
    yield from demo_database(pg_url)


@pytest.fixture(scope="module")
async def cluster(dev_env, pg_url: str, engine: Engine,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    # nudges wake the routers; the poll is their fallback (and the dead one's heir's)
    async with running_cluster(dev_env, pg_url, tmp_path_factory.mktemp("scale-routers"),
                               routers=2, VIGIE_ROUTER_POLL_SECONDS="2") as c:
        yield c


async def test_scale_out_separate_routers_one_of_each_killed_mid_burst_tell_each_event_once(
    cluster: Cluster, engine: Engine, dev_env
) -> None:
    prefix, cases, per_case = fresh_id("sr"), 40, 5
    senders = await burst_killing(cluster, burst(prefix, cases, per_case),
                                  "router", "ingest", "worker")
    acked = [raw for s in senders for raw in s.acked]
    await until(lambda: settled(engine, prefix, cases, per_case), 150, "every case settled",
                lambda: state(engine, prefix, per_case))
    assert_each_once(engine, prefix, acked, cases, per_case)
    told = await signals_per_event(dev_env.client, engine, prefix)
    assert len(told) == cases * per_case and set(told.values()) == {1}, (
        "an event was told to Temporal twice: two routers took the same message")
    # the intake stored and routed nothing; the surviving router routed what was left
    intake = scrape(cluster.of("ingest")[1].metrics_port)
    router = scrape(cluster.of("router")[1].metrics_port)
    assert intake["vigie_messages_accepted_total"] > 0
    assert intake["vigie_events_routed_total"] == 0
    assert router["vigie_events_routed_total"] > 0
