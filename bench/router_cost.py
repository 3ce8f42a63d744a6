"""The router's own cost per event, database side: CPU and SQL statements per event.

    .venv/bin/python -m bench.router_cost [--events 400] [--batch 1,20]

The router's share of ``bench.storm`` (claim, parse and record, one transaction or two per
batch, and the reads each event makes) without Temporal, SMTP or other processes: messages
are stored as the intake stores them (``intake.store.accept``) on a fresh SQLite database
with the demo desk, and drained by a real :class:`intake.router.Router` whose ``dispatch``
does nothing (Temporal's answer is not what is measured here), each batch's outcome written
with the next claim as ``Router.run`` does. ``--batch 1`` is the steady
20/s case, where each nudge finds one message; larger batches are the storms'.

Prints, per batch size, CPU ms and SQL statements per event, and a last line
``router_cost: batch=<n> cpu_ms_per_event=<x> sql_per_event=<y> ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.cluster import probe
from intake.router import Route, Router
from intake.store import accept
from models.db import make_engine, migrate
from vigie.demo import load_demo


class DryRouter(Router):
    """A router whose Temporal calls succeed at once without leaving the process."""

    async def dispatch(self, route: Route) -> None:
        return None


def count_statements(engine: Engine) -> list[int]:
    counter = [0]

    def before(*_args: Any) -> None:
        counter[0] += 1

    event.listen(engine, "before_cursor_execute", before)
    return counter


async def drain(router: Router, engine: Engine, events: int, batch: int,
                recoveries: bool) -> tuple[float, int]:
    """Stores ``batch`` messages, drains them, again until ``events``: (CPU s, statements)
    of the draining only."""
    counter = count_statements(engine)
    run = uuid.uuid4().hex[:6]
    cpu = 0.0
    statements = 0
    done = 0
    while done < events:
        for i in range(batch):
            n = done + i
            status = "RECOVERY" if recoveries and n % 10 else "PROBLEM"
            accept(engine, probe(f"rc{run}-{n}", 0, status=status))
        before_n, before_cpu = counter[0], time.process_time()
        await drain_held(router)  # a batch takes them all (up to 200)
        cpu += time.process_time() - before_cpu
        statements += counter[0] - before_n
        done += batch
    if getattr(router, "_pending", None) is not None:
        before_n, before_cpu = counter[0], time.process_time()
        router._record(*router._pending)  # type: ignore[attr-defined]
        router._pending = None  # type: ignore[attr-defined]
        cpu += time.process_time() - before_cpu
        statements += counter[0] - before_n
    return cpu, statements


async def drain_held(router: Router) -> int:
    """One batch as ``Router.run`` drains it: its outcome written with the next claim
    (``hold``; a router without it, before issue 24, writes it at once)."""
    if "hold" in inspect.signature(router.drain_once).parameters:
        return await router.drain_once(hold=True)  # type: ignore[call-arg]
    return await router.drain_once()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--batch", default="1,20", help="messages per batch, comma-separated")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vigie-router-cost-"))
    os.environ.setdefault("VIGIE_VAR_DIR", str(root))  # the demo's credentials file
    url = f"sqlite:///{root / 'vigie.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    load_demo(engine)
    router = DryRouter(engine, client=None, task_queue="unused")  # type: ignore[arg-type]
    asyncio.run(drain(router, engine, 40, 1, False))  # warm-up: imports, reference loaded
    lines = []
    for batch in (int(b) for b in args.batch.split(",")):
        recoveries = batch > 1  # the storm: 10 % problems, the rest recoveries
        cpu, statements = asyncio.run(drain(router, engine, args.events, batch, recoveries))
        lines.append(f"router_cost: batch={batch} cpu_ms_per_event="
                     f"{cpu * 1000 / args.events:.2f} sql_per_event="
                     f"{statements / args.events:.1f} events={args.events}")
        print(lines[-1], flush=True)


if __name__ == "__main__":
    main()
