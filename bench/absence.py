"""Absence sweep benchmark: 10,000 monitored heartbeat sources, 1 % overdue.

    python -m bench.absence [--sources 10000] [--overdue 0.01] [--runs 15] [--no-pg]

On SQLite (the embedded desk) and on PostgreSQL (``VIGIE_TEST_PG``, a throw-away schema;
skipped when unreachable), for 1,000 and 10,000 sources:

1. the query plan of the sweep's detection query (``EXPLAIN QUERY PLAN`` / ``EXPLAIN``):
   it must search ``ix_expectation_due``, never scan the table;
2. the detection query alone; then the whole sweep's database work with 1 % of the sources
   newly overdue (``plan_sweep``: detection, silences, link muting, the absence ledger, the
   case orders; then ``mark_opened_many``, what Temporal's acknowledgement writes); then a
   steady sweep (those sources still missing, nothing new); medians over ``--runs`` sweeps,
   the overdue set reset between runs (untimed);
3. detection delay: the overdue sources fell due at random instants during the last sweep
   period; one sweep finds every one of them, so a silent heartbeat becomes a case order
   at most ``grace + sweep period + sweep time`` after its hour.

Opening the cases in Temporal is not timed here (``tests/test_absence_temporal.py`` does it
for real); the sweep does it after its transaction, one signal-with-start per new absence.
The last line is ``sweep_ms@10000: <median ms>``, the whole sweep with 1 % overdue, on the
slower of the databases measured.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text, update
from sqlalchemy.engine import Engine

from models.db import make_engine, migrate
from models.expectations import Expectation
from models.tables import Client, Server, Site
from models.types import utcnow
from records.absence import mark_opened_many, overdue_query, plan_sweep

PG_URL_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SWEEP_PERIOD = timedelta(seconds=60)
SERVERS_PER_CLIENT = 50


@contextmanager
def sqlite_db() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as d:
        yield f"sqlite:///{Path(d) / 'bench.sqlite3'}"


@contextmanager
def pg_db(url: str) -> Iterator[str]:
    schema = "bench_" + uuid.uuid4().hex[:10]
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def pg_reachable(url: str) -> bool:
    try:
        eng = create_engine(url, connect_args={"connect_timeout": 2})
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:
        return False


def populate(engine: Engine, sources: int, overdue: int, rng: random.Random) -> list[int]:
    """Clients of 50 servers, one site each, a heartbeat expectation per server; returns
    the ids of the expectations that are overdue."""
    now = utcnow()
    clients = (sources + SERVERS_PER_CLIENT - 1) // SERVERS_PER_CLIENT
    with engine.begin() as conn:
        conn.execute(insert(Client), [{"code": f"b{i:05d}", "name": f"Client {i}", "users": 10,
                                       "fixed_ips": "", "active": True}
                                      for i in range(clients)])
        conn.execute(insert(Site), [{"client_id": i + 1, "name": f"Site {i}", "link_names": ""}
                                    for i in range(clients)])
        conn.execute(insert(Server), [
            {"client_id": i // SERVERS_PER_CLIENT + 1, "site_id": i // SERVERS_PER_CLIENT + 1,
             "hostname": f"srv-{i:05d}", "display_name": f"SRV-{i:05d}", "kind": "physical",
             "role": ""} for i in range(sources)])
        late = set(rng.sample(range(sources), overdue))
        rows = []
        for i in range(sources):
            if i in late:  # fell due during the last sweep period
                due = now - SWEEP_PERIOD * rng.random()
            else:  # healthy: heard within the hour, due later than the bench lasts
                due = now + timedelta(minutes=15) + timedelta(minutes=60) * rng.random()
            rows.append({
                "client_id": i // SERVERS_PER_CLIENT + 1, "server_id": i + 1,
                "kind": "heartbeat", "period_minutes": 60, "grace_minutes": 15,
                "schedule": "0 3 * * *", "tz": "Europe/Paris", "state": "ok",
                "next_due_at": due, "last_seen_at": due - timedelta(minutes=75),
                "fingerprint": f"b{i // SERVERS_PER_CLIENT:05d}|srv-{i:05d}|heartbeat|heartbeat|",
                "case_opened": False, "source": "bench", "confirmed_by": "bench",
                "created_at": now,
            })
        conn.execute(insert(Expectation), rows)
        conn.execute(text("ANALYZE"))
    return [i + 1 for i in sorted(late)]


def explain(engine: Engine) -> list[str]:
    sql = str(overdue_query(utcnow(), 1000).compile(  # type: ignore[attr-defined]
        engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return [str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
        return [r[0] for r in conn.execute(text(f"EXPLAIN {sql}"))]


def reset(engine: Engine, ids: list[int], rng: random.Random) -> None:
    """Untimed: the overdue sources back to 'ok', fallen due again during the last sweep
    period, and the absence ledger emptied."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(update(Expectation).where(Expectation.id.in_(ids))  # type: ignore[union-attr]
                     .values(state="ok", missing_since=None, case_workflow_id=None,
                             case_opened=False))
        for i in ids:
            conn.execute(update(Expectation).where(Expectation.id == i).values(
                next_due_at=now - SWEEP_PERIOD * rng.random()))
        conn.execute(text("DELETE FROM absence_event"))


def ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def measure(url: str, sources: int, share: float, runs: int, label: str) -> float:
    migrate(url)
    engine = make_engine(url)
    rng = random.Random(6)
    overdue = max(1, round(sources * share))
    ids = populate(engine, sources, overdue, rng)
    plan_lines = explain(engine)
    uses_index = any("ix_expectation_due" in line for line in plan_lines)
    print(f"[{label} {sources}] plan of the detection query:")
    for line in plan_lines:
        print(f"    {line}")
    assert uses_index, "the sweep does not use ix_expectation_due"

    query_ms, sweep_ms, steady_ms = [], [], []
    found = delays = None
    for _ in range(runs):
        at = utcnow()
        with engine.connect() as conn:
            t0 = time.perf_counter()
            rows = conn.execute(overdue_query(at, 1000)).all()  # type: ignore[call-overload]
            query_ms.append(ms(t0))
        assert len(rows) == overdue
        t0 = time.perf_counter()
        plan = plan_sweep(engine, at)
        mark_opened_many(engine, plan.opens, at)  # what Temporal's acknowledgement writes
        sweep_ms.append(ms(t0))
        found = len(plan.opens)
        with engine.connect() as conn:
            dues = conn.execute(select(Expectation.missing_since).where(
                Expectation.state == "missing")).scalars().all()
        delays = [(at - d).total_seconds() for d in dues]
        t0 = time.perf_counter()
        plan_sweep(engine, utcnow())  # steady: all still missing, nothing new
        steady_ms.append(ms(t0))
        reset(engine, ids, rng)
    engine.dispose()
    q, s, st = (statistics.median(x) for x in (query_ms, sweep_ms, steady_ms))
    print(f"[{label} {sources}] detection query {q:.2f} ms; sweep with {overdue} newly "
          f"overdue {s:.1f} ms; steady sweep {st:.1f} ms (medians of {runs})")
    if delays:
        print(f"[{label} {sources}] {found}/{overdue} found in one sweep; worst delay after "
              f"the due time {max(delays):.1f} s <= sweep period {SWEEP_PERIOD.seconds} s "
              f"(+ {s:.0f} ms of sweep): a case is ordered within grace + one sweep period")
    return s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", type=int, default=10000)
    ap.add_argument("--overdue", type=float, default=0.01)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--pg", default=PG_URL_DEFAULT)
    args = ap.parse_args()
    sizes = sorted({1000, args.sources}) if args.sources > 1000 else [args.sources]
    at_size: dict[str, float] = {}
    dbs = [("sqlite", sqlite_db())]
    if not args.no_pg and pg_reachable(args.pg):
        dbs.append(("postgres", pg_db(args.pg)))
    else:
        print("PostgreSQL not measured (unreachable or --no-pg)")
    for label, ctx in dbs:
        with ctx as base_url:
            for n in sizes:
                url = base_url
                if label == "sqlite":
                    url = base_url.replace("bench.sqlite3", f"bench-{n}.sqlite3")
                    result = measure(url, n, args.overdue, args.runs, label)
                else:
                    with pg_db(args.pg) as fresh:
                        result = measure(fresh, n, args.overdue, args.runs, label)
                if n == args.sources:
                    at_size[label] = result
    worst = max(at_size, key=lambda k: at_size[k])
    print(f"slowest database: {worst}")
    print(f"sweep_ms@{args.sources}: {at_size[worst]:.1f}")


if __name__ == "__main__":
    main()
