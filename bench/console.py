"""Console benchmark: queue, case page and SLA view over a year of data, over real HTTP.

    python -m bench.console [--open 10000] [--closed 200000] [--requests 200]

1. Builds a temporary SQLite database (as the embedded desk runs): 60 clients, 10,000 open
   and 200,000 closed cases spread over the last year, each with its ledger (~1.1 million
   lines), linked alert events with their raw mails for a sample of open cases. Bulk inserts.
2. Builds the SLA cache from the ledger once (``console.slacache.refresh``), timed apart: the
   console then keeps it current incrementally, and the view reads only the cache.
3. Serves the console with uvicorn in a thread on a loopback port, without Temporal (the case
   page then renders from the ledger at once: no workflow query is attempted), signs in as
   a technician and as a manager through the login form, and times:
   - the queue page (first page, and filtered / later pages);
   - case pages of random open cases;
   - the SLA view for the last 365 days, grouped by client.

The last line is ``p95_ms queue=<n> case=<n> sla=<n>``.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import socket
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine

from base.settings import Settings
from console.app import create_app
from console.auth import hash_password
from console.slacache import refresh
from models.auth import SlaCase
from models.db import make_engine, migrate
from models.tables import (
    AlertEventRow,
    AuditEvent,
    Case,
    Client,
    Contact,
    RawMessage,
    Server,
    User,
)

PASSWORD = "bench password, not secret"
TECHS = [f"tech{i:02d}" for i in range(12)]
CLASSES = (("no_impact", 0.3), ("minor", 0.4), ("significant", 0.2), ("major", 0.1))
OPEN_STATES = {
    None: "new",
    "no_impact": "acknowledged",
    "minor": "classified",
    "significant": "demande_registered",
    "major": "l1_diagnosis",
}
FAMILIES = ("disk_space", "backup", "hardware", "performance", "service", "heartbeat")
MAIL = (
    "From: vigie-probe@client{c}.example\r\nTo: alerts@desk.example\r\n"
    "Subject: [VIGIE] SRV-{c:02d}-{s} PROBLEM disk_free: C: 4% free\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    "Host: SRV-{c:02d}-{s}\r\nCheck: disk_free\r\nTarget: C:\r\nStatus: PROBLEM\r\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


# --- data ------------------------------------------------------------------------------------


def business_instant(rng: random.Random, start: datetime, days: int) -> datetime:
    """A random weekday instant between 07:00 and 16:00 UTC (office hours in Paris)."""
    while True:
        day = start + timedelta(days=rng.randrange(days))
        if day.weekday() < 5:
            return day.replace(hour=7, minute=0, second=0, microsecond=0) + timedelta(
                minutes=rng.randrange(9 * 60)
            )


def ledger_for(
    rng: random.Random, criticality: str | None, closed: bool
) -> list[tuple[int, str, str, dict[str, str]]]:
    """(minutes after opening, action, actor, data) for a plausible case life."""
    tech = rng.choice(TECHS)
    out: list[tuple[int, str, str, dict[str, str]]] = [(0, "open", "system", {})]
    if criticality is None:
        return out
    t = rng.randint(2, 90)
    out.append((t, "classify", tech, {"criticality": criticality}))
    if criticality == "minor":
        t += rng.randint(5, 200)
        out.append((t, "record_contact", tech, {"channel": "email", "outcome": "sent"}))
    elif criticality in ("significant", "major"):
        t += rng.randint(5, 150)
        out.append((t, "register_demande", tech, {"demande_ref": "DEM"}))
        t += rng.randint(2, 60)
        channel = "phone" if criticality == "major" else "email"
        outcome = "reached" if criticality == "major" else "sent"
        out.append((t, "record_contact", tech, {"channel": channel, "outcome": outcome}))
        if criticality == "major":
            t += rng.randint(1, 20)
            out.append((t, "start_l1", tech, {}))
            if rng.random() < 0.3:
                t += 60
                out.append((t, "escalate_l2", "system", {"by": "timer"}))
    if closed:
        t += rng.randint(10, 600)
        out.append((t, "resolve", tech, {}))
        t += rng.randint(10, 4000)
        out.append((t, "close", "system", {}))
    return out


def build(engine: Engine, n_open: int, n_closed: int, seed: int = 7) -> tuple[list[int], int]:
    """Bulk-inserts the inventory, the cases and their ledgers; returns sample open case ids."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    year_ago = now - timedelta(days=365)
    with engine.begin() as conn:
        conn.execute(
            insert(Client),
            [{"id": c, "code": f"client-{c:02d}", "name": f"Client {c:02d} SARL", "users": 10,
              "fixed_ips": "", "active": True} for c in range(1, 61)],
        )  # fmt: skip
        conn.execute(
            insert(Server),
            [{"id": (c - 1) * 3 + s, "client_id": c, "hostname": f"srv-{c:02d}-{s}",
              "display_name": f"SRV-{c:02d}-{s}", "kind": "physical", "role": "",
              "site_id": None, "last_heartbeat_at": None}
             for c in range(1, 61) for s in (1, 2, 3)],
        )  # fmt: skip
        conn.execute(
            insert(Contact),
            [{"client_id": c, "name": f"Contact {c}", "email": f"it@client{c}.example",
              "phone": f"+3347200{c:04d}", "role": "primary", "rank": 1}
             for c in range(1, 61)],
        )  # fmt: skip
        hashed = hash_password(PASSWORD)
        conn.execute(
            insert(User),
            [{"username": u, "full_name": u, "password_hash": hashed, "role": role,
              "client_id": None, "active": True}
             for u, role in [("tech", "technician"), ("manager", "manager")]],
        )  # fmt: skip
    ledger_rows = 0
    case_id = 0
    batch_cases: list[dict[str, object]] = []
    batch_ledger: list[dict[str, object]] = []

    def flush() -> None:
        with engine.begin() as conn:
            if batch_cases:
                conn.execute(insert(Case), batch_cases)
            if batch_ledger:
                conn.execute(insert(AuditEvent), batch_ledger)
        batch_cases.clear()
        batch_ledger.clear()

    weights = [w for _, w in CLASSES]
    names = [c for c, _ in CLASSES]
    for i in range(n_open + n_closed):
        closed = i >= n_open
        case_id += 1
        if closed:
            opened = business_instant(rng, year_ago, 360)
            crit: str | None = rng.choices(names, weights)[0]
        else:
            opened = business_instant(rng, now - timedelta(days=30), 30)
            crit = None if rng.random() < 0.3 else rng.choices(names, weights)[0]
        client = rng.randint(1, 60)
        server = (client - 1) * 3 + rng.randint(1, 3)
        ledger = ledger_for(rng, crit, closed)
        batch_cases.append(
            {
                "id": case_id, "ref": f"VIG-{case_id:06d}", "workflow_id": f"case-{case_id}",
                "run_id": "r", "fingerprint": f"fp-{case_id}", "client_id": client,
                "server_id": server, "host": f"srv-{client:02d}-{server}",
                "family": rng.choice(FAMILIES), "check": "disk_free", "target": "C:",
                "title": f"SRV-{client:02d} — alerte {case_id}",
                "state": "closed" if closed else OPEN_STATES[crit], "closed": closed,
                "criticality": crit, "assignee": ledger[1][2] if len(ledger) > 1 else None,
                "repeat_count": rng.randint(0, 5), "recovered": False, "demande_ref": None,
                "opened_at": opened, "last_seen": opened, "l1_deadline": None,
                "updated_at": opened,
            }
        )  # fmt: skip
        for seq, (minutes, action, actor, data) in enumerate(ledger, start=1):
            batch_ledger.append(
                {
                    "case_id": case_id, "seq": seq, "at": opened + timedelta(minutes=minutes),
                    "action": action, "actor": actor, "from_state": None, "to_state": None,
                    "reason": "", "data": data, "policy_version": "1",
                    "recorded_at": opened + timedelta(minutes=minutes),
                }
            )  # fmt: skip
        ledger_rows += len(ledger)
        if len(batch_cases) >= 20_000:
            flush()
    flush()
    sample = rng.sample(range(1, n_open + 1), min(500, n_open))
    with engine.begin() as conn:
        for cid in sample:
            client, srv = 1 + cid % 60, 1 + cid % 3
            for k in range(2):
                raw = conn.execute(
                    insert(RawMessage).returning(RawMessage.id),  # type: ignore[arg-type]
                    {"message_id": f"<b{cid}-{k}@bench>", "sha256": f"{cid:032d}{k:032d}",
                     "received_at": now, "peer_ip": "127.0.0.1", "mail_from": "probe",
                     "rcpt_to": "alerts@desk.example", "size": 200, "channel": "smtp",
                     "client_hint_id": None, "data": MAIL.format(c=client, s=srv).encode(),
                     "parsed_at": now, "parse_error": ""},
                ).scalar_one()  # fmt: skip
                conn.execute(
                    insert(AlertEventRow),
                    {"raw_message_id": raw, "idx": 0, "family": "disk_space",
                     "status": "problem", "host": f"SRV-{client:02d}-{srv}",
                     "check": "disk_free", "target": "C:", "severity": "major", "product": "",
                     "received_at": now, "summary": "C: 4% free", "extra": {},
                     "fingerprint": f"fp-{cid}", "client_id": client, "triage": "none",
                     "case_id": cid},
                )  # fmt: skip
        conn.execute(text("ANALYZE"))
    return sample, ledger_rows


# --- measuring ----------------------------------------------------------------------------------


class ConsoleServer:
    def __init__(self, app: object) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")  # type: ignore[arg-type]
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def signed_in(base: str, username: str) -> httpx.Client:
    http = httpx.Client(base_url=base, timeout=60)
    page = http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = http.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token[1]}
    )
    assert r.status_code == 303, r.text[:500]
    return http


def timed(http: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    r = http.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return elapsed


def report(name: str, values: list[float]) -> None:
    print(
        f"{name:6s} n={len(values):4d} p50={statistics.median(values):7.1f} ms "
        f"p95={p95(values):7.1f} ms max={max(values):7.1f} ms",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--open", type=int, default=10_000)
    ap.add_argument("--closed", type=int, default=200_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--sla-requests", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vigie-bench-console-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'vigie.sqlite3'}"
        migrate(url)
        engine = make_engine(url)
        settings = Settings(var_dir=Path(tmp), temporal_address="", secret_key="bench-key")
        started = time.perf_counter()
        sample, ledger_rows = build(engine, args.open, args.closed)
        print(
            f"data: {args.open} open + {args.closed} closed cases, {ledger_rows} ledger lines, "
            f"built in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        started = time.perf_counter()
        stats = refresh(engine, settings)
        print(
            f"SLA cache: {stats.cases} cases computed from the ledger in "
            f"{time.perf_counter() - started:.1f} s (once; then incremental)",
            flush=True,
        )
        with engine.connect() as conn:
            cached = conn.execute(text(f"SELECT count(*) FROM {SlaCase.__tablename__}")).scalar()
        assert cached == args.open + args.closed, cached
        rng = random.Random(11)
        with ConsoleServer(create_app(settings, engine)) as base:
            tech = signed_in(base, "tech")
            manager = signed_in(base, "manager")
            queue_paths = ["/queue", "/queue?class=major", "/queue?client=7", "/queue?page=5",
                           "/queue?state=new", "/queue?family=backup&page=2"]  # fmt: skip
            for path in queue_paths:  # warm-up
                timed(tech, path)
            queue = [timed(tech, queue_paths[i % len(queue_paths)]) for i in range(args.requests)]
            report("queue", queue)
            case_ids = [rng.choice(sample) if i % 2 else rng.randint(1, args.open)
                        for i in range(args.requests)]  # fmt: skip
            timed(tech, f"/cases/{case_ids[0]}")
            cases = [timed(tech, f"/cases/{cid}") for cid in case_ids]
            report("case", cases)
            today = datetime.now(UTC).date()
            year = f"/sla?from={today - timedelta(days=364)}&to={today}&by=client"
            timed(manager, year)
            sla = [timed(manager, year) for _ in range(args.sla_requests)]
            report("sla", sla)
            tech.close()
            manager.close()
        engine.dispose()
    print(f"p95_ms queue={p95(queue):.0f} case={p95(cases):.0f} sla={p95(sla):.0f}", flush=True)


if __name__ == "__main__":
    main()
