"""Intake benchmark: bare aiosmtpd rate vs the desk's durable accept rate, measured in one run.

    python -m bench.intake [--messages 4000] [--burst 20000] [--connections 8]
                           [--latency 150] [--profile FOLDER] [--held-ms MS]

1. Rates: the same SMTP server code answers either ``250`` straight away (bare) or only
   after the message and its outbox row are committed (durable, SQLite in WAL with
   ``synchronous=FULL`` as embedded). Each server runs in its own process; the same client
   processes send the mixed samples over several connections. Rounds alternate
   bare/durable so that noise hits both alike. Each round also prints the server's CPU per
   message, and the durable server how many messages its commits held on average, how
   long a commit took and how long a sender waited for its commit. A third server (held)
   then answers each ``250`` after that same wait with no work at all: its rate over the
   bare rate is the ceiling the commit's latency alone leaves to the durable rate (eight
   senders each waiting for a disk sync send less, whatever the CPU). With ``--profile``
   py-spy records the last durable round's server (its threads apart).
2. Burst: 20,000 messages to the durable intake; afterwards every accepted message is in
   the database exactly once (zero loss).
3. Latency: with a real Temporal dev server, worker and router, p50/p99 time from the
   ``250`` to the case row being visible to the console.

The last line is ``durable/bare: <ratio>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"
LATENCY_RATE = 10  # probes per second while measuring 250 -> case (a steady stream)
MSGID = re.compile(rb"^Message-ID:.*$", re.IGNORECASE | re.MULTILINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_samples() -> list[bytes]:
    files = sorted(SAMPLES.glob("*.eml"))
    if not files:
        raise SystemExit(f"no samples in {SAMPLES}")
    return [f.read_bytes() for f in files]


def with_message_id(raw: bytes, tag: str) -> bytes:
    new = f"Message-ID: <bench-{tag}@vigie.bench>".encode()
    if MSGID.search(raw):
        return MSGID.sub(new, raw, count=1)
    return new + b"\r\n" + raw


# --- the server process ----------------------------------------------------------------------


class BareHandler:
    """Answers 250 without storing: the ceiling the durable intake is compared to."""

    async def handle_RCPT(self, server, session, envelope, address, options):
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 OK"


class HeldHandler(BareHandler):
    """Answers 250 after waiting as long as the durable server's senders waited for their
    commit, with no work at all: what the commit's latency alone costs the rate."""

    def __init__(self, hold: float) -> None:
        self.hold = hold

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.hold)
        return "250 2.0.0 OK"


def serve(mode: str, port: int, db_url: str, hold_ms: float = 0.0, report: str = "") -> None:
    """One server process; on SIGTERM the durable one says how many messages each of its
    commits held (the group commit's batches) and how long its senders waited for them
    (written to ``report`` for the held round), then exits."""
    from intake.smtp import IntakeHandler, SmtpLimits, make_smtp_factory

    async def main() -> float | None:
        handler: Any
        if mode == "bare":
            handler = BareHandler()
        elif mode == "held":
            handler = HeldHandler(hold_ms / 1000)
        else:
            from models.db import make_engine, migrate

            migrate(db_url)
            handler = IntakeHandler(make_engine(db_url), frozenset({"alerts@desk.example"}))
        # the bench opens its connections from one address: room for any --connections
        factory = make_smtp_factory(handler, max_bytes=10 * 1024 * 1024,
                                    limits=SmtpLimits(max_connections=10_000,
                                                      max_per_peer=10_000))
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        server = await loop.create_server(factory, "127.0.0.1", port)
        async with server:
            await stop.wait()
        if mode == "durable":
            from prometheus_client import REGISTRY  # the intake's own metric, this process's

            store = handler.store
            n = max(1, store.messages)
            wait_ms = store.waited / n * 1000
            committing = REGISTRY.get_sample_value("vigie_intake_commit_seconds_sum") or 0.0
            print(f"  durable server: {store.messages} messages in {store.batches} commits "
                  f"({store.messages / max(1, store.batches):.1f} per commit, "
                  f"{committing / max(1, store.batches) * 1000:.2f} ms per commit; "
                  f"a sender waited {wait_ms:.2f} ms for its commit on average)", flush=True)
            return wait_ms
        return None

    wait_ms = asyncio.run(main())
    if report and wait_ms is not None:
        Path(report).write_text(json.dumps({"wait_ms": wait_ms}))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc), to put a figure per message."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(mode: str, db_url: str, hold_ms: float = 0.0,
                 report: str = "") -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.intake", "--serve", mode, "--port", str(port),
         "--db", db_url, "--held-ms", str(hold_ms), "--report", report],
        cwd=ROOT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{mode} server did not start")


# --- the client processes ------------------------------------------------------------------


def _send_share(args: tuple[int, int, int, int, str]) -> tuple[int, list[float]]:
    """One connection sending its share; retries what was refused with a 4xx, like an MTA."""
    port, start, count, stride, run = args
    samples = load_samples()
    sent = 0
    stamps: list[float] = []
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=60)
    for i in range(start, start + count * stride, stride):
        raw = with_message_id(samples[i % len(samples)], f"{run}-{i}")
        for _attempt in range(20):
            try:
                smtp.sendmail("bench@client-a.example", ["alerts@desk.example"], raw)
                stamps.append(time.time())
                sent += 1
                break
            except smtplib.SMTPDataError as exc:
                if exc.smtp_code // 100 != 4:
                    raise
                time.sleep(0.05)
            except (smtplib.SMTPServerDisconnected, ConnectionError):
                time.sleep(0.2)
                smtp = smtplib.SMTP("127.0.0.1", port, timeout=60)
    smtp.quit()
    return sent, stamps


def blast(port: int, total: int, connections: int, run: str) -> tuple[int, float]:
    """Sends ``total`` messages over ``connections`` connections; returns (sent, seconds)."""
    per = total // connections
    jobs = [(port, c, per, connections, run) for c in range(connections)]
    with mp.get_context("fork").Pool(connections) as pool:
        t0 = time.perf_counter()
        results = pool.map(_send_share, jobs)
        elapsed = time.perf_counter() - t0
    return sum(r[0] for r in results), elapsed


def count_stored(db_url: str) -> tuple[int, int]:
    from sqlalchemy import text

    from models.db import make_engine

    eng = make_engine(db_url)
    with eng.connect() as c:
        rows = c.execute(text("SELECT count(*), count(DISTINCT message_id) FROM raw_message"))
        total, distinct = rows.one()
    eng.dispose()
    return int(total), int(distinct)


# --- latency from 250 to the case ----------------------------------------------------------


def latency_run(n: int) -> list[float]:
    """Real stack in child processes; n problem probes with distinct fingerprints."""
    from sqlalchemy import text

    from models.db import make_engine, migrate
    from vigie.demo import load_demo
    from vigie.stack import start_temporal, wait_port

    with tempfile.TemporaryDirectory() as d:
        var = Path(d)
        env = dict(os.environ)
        ports = {k: free_port() for k in ("smtp", "temporal", "ui", "console")}
        env.update(
            VIGIE_VAR_DIR=str(var),
            VIGIE_SMTP_PORT=str(ports["smtp"]),
            VIGIE_TEMPORAL_ADDRESS=f"127.0.0.1:{ports['temporal']}",
            VIGIE_TEMPORAL_UI_PORT=str(ports["ui"]),
            VIGIE_CONSOLE_PORT=str(ports["console"]),
        )
        env.pop("DATABASE_URL", None)
        from base.settings import Settings

        settings = Settings(
            var_dir=var,
            temporal_address=f"127.0.0.1:{ports['temporal']}",
            temporal_ui_port=ports["ui"],
        )
        db_url = settings.db_url
        migrate(db_url)
        eng = make_engine(db_url)
        load_demo(eng)
        temporal = start_temporal(settings)
        procs = [
            subprocess.Popen([sys.executable, "-m", "vigie", name], env=env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name in ("worker", "ingest")
        ]
        try:
            wait_port("127.0.0.1", ports["smtp"], 30)
            acked: dict[str, float] = {}
            seen: dict[str, float] = {}
            stop = threading.Event()

            def poll() -> None:
                """Watches the case table *while* the probes are sent (a case is seen when it
                appears, not when the sending is over), every 10 ms, new rows only."""
                last = 0
                while not stop.is_set():
                    with eng.connect() as c:
                        rows = c.execute(text('SELECT id, target FROM "case" WHERE id > :last'),
                                         {"last": last}).all()
                    now = time.time()
                    for case_id, target in rows:
                        seen.setdefault(target, now)
                        last = max(last, case_id)
                    time.sleep(0.01)

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=60) as smtp:
                for i in range(n):
                    host = "SRV-DC01"
                    raw = (
                        f"From: vigie-probe@client-a.example\r\nTo: alerts@desk.example\r\n"
                        f"Message-ID: <lat-{i}@bench>\r\n"
                        f"Subject: [VIGIE] {host} PROBLEM service: svc{i}\r\n\r\n"
                        f"Host: {host}\r\nCheck: service\r\nTarget: svc{i}\r\n"
                        f"Status: PROBLEM\r\n"
                    ).encode()
                    smtp.sendmail("vigie-probe@client-a.example", ["alerts@desk.example"], raw)
                    acked[f"svc{i}"] = time.time()
                    time.sleep(1 / LATENCY_RATE)
            deadline = time.monotonic() + 120
            while len(seen) < n and time.monotonic() < deadline:
                time.sleep(0.05)
            stop.set()
            poller.join(5)
            with eng.connect() as c:
                routed = {
                    t: datetime.fromisoformat(str(r)).replace(tzinfo=UTC).timestamp()
                    for t, r in c.execute(text("SELECT target, routed_at FROM alert_event"))
                    if r is not None
                }
            stage = sorted((routed[k] - acked[k]) * 1000 for k in routed if k in acked)
            if stage:
                print(f"  of which 250->routed to Temporal: p50={pct(stage, 0.5):.0f} ms "
                      f"p99={pct(stage, 0.99):.0f} ms", flush=True)
            return sorted((seen[k] - acked[k]) * 1000 for k in seen if k in acked)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(20)
            temporal.terminate()
            temporal.wait(20)
            eng.dispose()


def profile(pid: int, folder: Path) -> subprocess.Popen[bytes]:
    """py-spy (the dev extras) records the server until stopped: a flame graph to open in a
    browser, and the raw stacks (one line per stack and its count) to grep."""
    folder.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    print(f"  profiling the durable server into {folder}/", flush=True)
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--rate", "500", "--threads", "--nonblocking",
         "--format", "raw", "--output", str(folder / "intake-durable.txt")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def burst(db_url: str, total: int, connections: int) -> None:
    """``total`` messages to the durable intake; then each acknowledged one is stored once."""
    proc, port = start_server("durable", db_url)
    try:
        sent, secs = blast(port, total, connections, "burst")
    finally:
        proc.terminate()
        proc.wait(10)
    stored, distinct = count_stored(db_url)
    print(f"burst: {sent} acknowledged in {secs:.1f}s, stored {stored} rows "
          f"({distinct} distinct), lost {sent - distinct}, duplicated {stored - distinct}",
          flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, round(q * (len(values) - 1))))
    return sorted(values)[k]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", choices=["bare", "durable", "held"])
    ap.add_argument("--report", default="")
    ap.add_argument("--held-ms", type=float, default=None,
                    help="the held server's wait, instead of the durable round's measured one")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--db", default="")
    ap.add_argument("--messages", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--burst", type=int, default=20000)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--latency", type=int, default=150)
    ap.add_argument("--profile", default="",
                    help="folder for a py-spy profile of the last durable round's server")
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.db, args.held_ms or 0.0, args.report)
        return

    rates: dict[str, list[float]] = {"bare": [], "durable": [], "held": []}
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as d:
        for r in range(args.rounds):
            wait_ms = 0.0
            for mode in ("bare", "durable", "held"):
                db_url = f"sqlite:///{d}/rate-{mode}-{r}.sqlite3"
                report = f"{d}/wait-{r}.json"
                if mode == "held":
                    wait_ms = args.held_ms if args.held_ms is not None else json.loads(
                        Path(report).read_text())["wait_ms"]
                proc, port = start_server(mode, db_url, wait_ms, report)
                spy = None
                if args.profile and mode == "durable" and r == args.rounds - 1:
                    spy = profile(proc.pid, Path(args.profile))
                try:
                    cpu0 = cpu_seconds(proc.pid)
                    sent, secs = blast(port, args.messages, args.connections, f"{mode}{r}")
                    cpu = cpu_seconds(proc.pid) - cpu0
                finally:
                    if spy is not None:
                        spy.send_signal(signal.SIGINT)
                        spy.wait(30)
                    proc.terminate()
                    proc.wait(10)
                rates[mode].append(sent / secs)
                held = f" (each 250 after {wait_ms:.2f} ms, no work)" if mode == "held" else ""
                print(f"round {r} {mode:8s}: {sent} msgs in {secs:.2f}s = {sent / secs:.0f}/s, "
                      f"server CPU {cpu / max(1, sent) * 1e6:.0f} us/msg{held}", flush=True)

        db_url = f"sqlite:///{d}/burst.sqlite3"
        if args.burst:
            burst(db_url, args.burst, args.connections)

    lat = latency_run(args.latency) if args.latency else []
    if lat:
        print(f"250->case visible over {len(lat)}/{args.latency} probes at {LATENCY_RATE}/s: "
              f"p50={pct(lat, 0.5):.0f} ms p99={pct(lat, 0.99):.0f} ms", flush=True)
    if not args.rounds:
        return
    bare = statistics.median(rates["bare"])
    durable = statistics.median(rates["durable"])
    held = statistics.median(rates["held"])
    print(f"bare median {bare:.0f}/s, durable median {durable:.0f}/s "
          f"(load average after: {os.getloadavg()[0]:.2f})", flush=True)
    print(f"held/bare: {held / bare:.2f} (the ceiling the commit's wait alone leaves, "
          f"with no CPU spent on storing)", flush=True)
    print(f"durable/bare: {durable / bare:.2f}")


if __name__ == "__main__":
    main()
