"""Alert storms: time from the ``250`` to the case on the console, what CPU each new case
costs and where it goes, and a 03:00 storm drained (issue 24).

    .venv/bin/python -m bench.storm [--quick] [--profile DIR] [--parts ...]

Everything runs as on a real desk, each part its own processes on a **fresh Temporal dev
server** (an empty database) and a fresh desk (database, ``vigie worker``, ``vigie ingest``
storing only, ``vigie router`` nudged by the intake), fed by real SMTP clients, as ``vigie up``
runs them. The default run measures, in order:

- floor: ``bench.floor``'s minimal workflow (signal-with-start, one local activity) at the
  same steady rate for the same length, on its own dev server and worker process: start ->
  first workflow task p50/p99, worker + Temporal CPU per start, its history. What the desk
  spends above it is the desk's own;
- (a) three times (``--runs``), each with fresh processes: a steady 20 new problems a second
  for 60 s, distinct fingerprints: p50/p99 from ``250`` to the case row visible, to the
  router's Temporal acknowledgement and to the workflow's first task; **CPU per new case of
  each process** (worker, intake, router, Temporal dev server, their sum; the bench's own
  apart); Temporal's history events and workflow tasks per case (a sample read through the
  client, ``bench.profile``); ``--profile DIR`` adds py-spy profiles of the worker, router
  and intake over the first run (speedscope JSON in DIR, the top functions printed);
- (b) the 03:00 storm: 5,000 mails in a minute, 10 % of them problems (the rest recoveries
  of problems that have no case, which the router must still tell Temporal about), on
  SQLite; time until every case is visible, none lost or doubled;
- (c) the same storm with two intakes, two routers and two workers on PostgreSQL
  (``VIGIE_TEST_PG`` or 127.0.0.1:5432; skipped with a message if unreachable).

On request (``--parts``): (d) a site outage: 50 servers of one site go silent (one sweep
finds them late), then 500 problem mails from them in a minute: prints ``incidents=1
child_cases=0 pages=1`` and the time from the sweep's start to the incident's case row; 0
and 1, the older before/after of the opening path (``VIGIE_CASE_OPENING=legacy``,
``VIGIE_WORKFLOW_RUNNER=sandbox``) and the workflow runner choice, both on one dev server.

The last line is ``storm: visible_p50_ms=<n> visible_p99_ms=<n> rate=20/s
cpu_ms_per_case=<n> storm_drain_s=<n> lost=<n> dup=<n>``: p50, p99 and CPU (the sum over
processes) are each the worst of the steady runs; ``storm_drain_s`` is from the storm's last
``250`` to its last case; lost and dup are counted over the steady runs and the storms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from bench.cluster import ROOT as ROOT_DIR
from bench.cluster import Cluster, MxSender, free_port, probe
from bench.profile import HistoryCounts, Profiler, history_counts, py_spy, summarise

RATE = 20  # new problems per second in (a)
PG_URL = os.environ.get("VIGIE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, round(q * (len(values) - 1))))
    return sorted(values)[k]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} on {os.cpu_count()} cores"


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


def quiet_before(temporal_pid: int, seconds: float = 3.0) -> str:
    """What the machine does while no desk runs: a part measured on a machine already busy
    (another tenant, or the dev server still digesting the previous part) reads slower."""
    busy0, total0 = machine_busy_seconds()
    t0 = pid_cpu_seconds(temporal_pid)
    time.sleep(seconds)
    busy1, total1 = machine_busy_seconds()
    t1 = pid_cpu_seconds(temporal_pid)
    cores = os.cpu_count() or 1
    machine = 100 * (busy1 - busy0) / max(total1 - total0, 1e-9)
    return (f"before it, idle for {seconds:.0f} s: machine {machine:.0f} % busy, "
            f"Temporal {100 * (t1 - t0) / seconds / cores:.0f} %")


def calibrate() -> float:
    """Milliseconds of a fixed pure-Python workload, best of three: how fast this machine's
    cores are today. The figures of two runs compare only at a similar value (the same code
    sharing these cores with other tenants is not the same machine twice)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(3_000_000):
            total += i % 7
        best = min(best, time.perf_counter() - start)
    return best * 1000


@dataclass
class Result:
    label: str
    cases: int
    visible_ms: list[float]
    first_task_ms: list[float]
    cpu_ms_per_case: float
    sent: int = 0
    stored: int = 0
    lost: int = 0
    dup: int = 0
    drain_s: float = 0.0
    total_s: float = 0.0
    intake_cpu_ms_per_mail: float = 0.0
    router_cpu_ms_per_mail: float = 0.0
    temporal_cpu_ms_per_case: float = 0.0
    routed_ms: list[float] = field(default_factory=list)  # 250 -> Temporal acknowledged
    others_ms_per_case: dict[str, float] = field(default_factory=dict)  # intake, router, ...
    bench_ms_per_case: float = 0.0  # this process: the SMTP senders and the case poller
    history: HistoryCounts | None = None  # Temporal's events per case, from a sample
    profiles: dict[str, Path] = field(default_factory=dict)  # process -> speedscope file
    tenants_cores: float = float("nan")  # the rest of the machine's CPU meanwhile

    @property
    def cpu_total(self) -> float:
        """CPU ms per new case of the desk's processes: worker + intake + router +
        Temporal (the bench's own is apart)."""
        return self.cpu_ms_per_case + sum(self.others_ms_per_case.values())

    def line(self) -> str:
        out = (f"  {self.label}: {self.cases} cases, 250->visible "
               f"p50={pct(self.visible_ms, .5):.0f} ms p99={pct(self.visible_ms, .99):.0f} ms")
        if self.routed_ms:
            out += (f"; 250->routed p50={pct(self.routed_ms, .5):.0f} ms "
                    f"p99={pct(self.routed_ms, .99):.0f} ms")
        if self.first_task_ms:
            out += (f"; 250->first workflow task p50={pct(self.first_task_ms, .5):.0f} ms "
                    f"p99={pct(self.first_task_ms, .99):.0f} ms")
        if self.others_ms_per_case and not self.sent:
            total = self.cpu_total
            out += f"; lost={self.lost} dup={self.dup}"
            out += (f"\n    CPU per new case: worker {self.cpu_ms_per_case:.1f} + " + " + ".join(
                f"{k} {v:.1f}" for k, v in self.others_ms_per_case.items()))
            out += (f" = {total:.1f} ms, so {total * RATE / 1000:.2f} cores needed at "
                    f"{RATE}/s (this machine has {os.cpu_count()}; everything else on it took "
                    f"{self.tenants_cores:.2f} cores meanwhile)")
        else:
            out += f"; worker CPU {self.cpu_ms_per_case:.1f} ms/case"
        if self.sent:
            out += (f"; {self.sent} mails, {self.stored} stored, lost={self.lost} "
                    f"dup={self.dup}, every case visible {self.drain_s:.1f} s after the last "
                    f"250 ({self.total_s:.1f} s from the first); intake CPU "
                    f"{self.intake_cpu_ms_per_mail:.2f} + router CPU "
                    f"{self.router_cpu_ms_per_mail:.2f} ms/mail; Temporal dev server CPU "
                    f"{self.temporal_cpu_ms_per_case:.1f} ms/case (recoveries included)")
        if self.bench_ms_per_case:
            out += (f"; the bench itself (senders, poller; not counted above) "
                    f"{self.bench_ms_per_case:.1f} ms/case")
        if self.history is not None:
            out += "\n    Temporal history:\n" + "\n".join(self.history.lines())
        return out


class Desk:
    """One database and one cluster of worker/intake processes on the shared dev server."""

    def __init__(self, temporal: str, root: Path, *, workers: int = 1, intakes: int = 1,
                 routers: int = 1, pg: bool = False, extra: dict[str, str] | None = None
                 ) -> None:
        from models.db import make_engine, migrate
        from vigie.demo import load_demo

        self.var = Path(tempfile.mkdtemp(dir=root))
        self.schema = ""
        if pg:
            self.schema = "bench_" + uuid.uuid4().hex[:10]
            admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f"CREATE SCHEMA {self.schema}"))
            admin.dispose()
            url = f"{PG_URL}?options=-csearch_path%3D{self.schema}"
        else:
            url = f"sqlite:///{self.var / 'vigie.sqlite3'}"
        migrate(url)
        self.engine: Engine = make_engine(url)
        with contextlib.redirect_stdout(io.StringIO()):  # the demo accounts' banner
            load_demo(self.engine)
        self.queue = "storm-" + uuid.uuid4().hex[:8]
        env = {
            "DATABASE_URL": url if pg else "",
            "VIGIE_VAR_DIR": str(self.var),
            "VIGIE_TEMPORAL_ADDRESS": temporal,
            "VIGIE_TASK_QUEUE": self.queue,
            "VIGIE_CONSOLE_METRICS_PORT": "0",
            **(extra or {}),
        }
        self.cluster = Cluster(env=env, logs=self.var)
        self.cluster.start(workers, intakes, routers)
        self.seen: dict[str, float] = {}
        self._watermark = 0  # every case id up to this one has been seen
        self._ids: set[int] = set()  # ids seen above it
        self._stuck = (0, 0.0)  # the missing id the watermark waits on, and since when
        self.warm_up()

    def warm_up(self, n: int = 20, within: float = 90.0) -> None:
        """A few cases first, so that no figure counts the processes' first imports and
        connections; then the counters start from zero."""
        run = uuid.uuid4().hex[:6]
        sender = MxSender(self.cluster.smtp_ports, [probe(f"warm{run}-{i}", 0)
                                                    for i in range(n)], pace=0.02)
        sender.start()
        deadline = time.monotonic() + within
        while len(self.seen) < n and time.monotonic() < deadline:
            self.poll_cases()
            time.sleep(0.05)
        sender.join(10)
        time.sleep(1.0)  # their remaining steps
        self.seen.clear()

    def poll_cases(self) -> None:
        """Notes the time each new case row is first seen. Reads only the rows above the
        highest id below which every id has been seen (the watermark): with several workers,
        ids are taken in one order and committed in another, so a few rows above it come
        back again, never the whole run's (the bench would otherwise spend a core re-reading
        them, on the machine it measures). An id still missing after 30 s is a gap that stays
        (a rolled-back insert on PostgreSQL): the watermark moves past it."""
        with self.engine.connect() as c:
            rows = c.execute(text('SELECT id, target FROM "case" WHERE id > :i ORDER BY id'),
                             {"i": self._watermark}).all()
        now = time.time()
        for cid, target in rows:
            self.seen.setdefault(target, now)
            self._ids.add(cid)
        while self._watermark + 1 in self._ids:
            self._watermark += 1
            self._ids.discard(self._watermark)
        if not self._ids:
            self._stuck = (0, 0.0)
            return
        missing = self._watermark + 1
        if self._stuck[0] != missing:
            self._stuck = (missing, now)
        elif now - self._stuck[1] > 30:
            self._watermark = missing  # a gap that stays: read from above it from now on

    def stored(self) -> tuple[int, int]:
        """(messages stored, distinct digests)."""
        with self.engine.connect() as c:
            n, d = c.execute(text("SELECT count(*), count(DISTINCT sha256) FROM raw_message"))\
                .one()
        return int(n), int(d)

    def routed_at(self) -> dict[str, float]:
        """Target -> when the router had Temporal's acknowledgement (problems only)."""
        from models.types import UTCDateTime

        decode = UTCDateTime().process_result_value
        with self.engine.connect() as c:
            rows = c.execute(text("SELECT target, routed_at FROM alert_event "
                                  "WHERE status = 'problem' AND routed_at IS NOT NULL")).all()
        out: dict[str, float] = {}
        for target, at in rows:
            if isinstance(at, str):
                at = datetime.fromisoformat(at)
            at = decode(at, self.engine.dialect) if at.tzinfo is None else at
            out[target] = at.timestamp()
        return out

    def cases_per_fingerprint(self) -> Counter[str]:
        with self.engine.connect() as c:
            return Counter(fp for (fp,) in c.execute(text('SELECT fingerprint FROM "case"')))

    def close(self) -> None:
        self.cluster.stop()
        self.engine.dispose()
        if self.schema:
            admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f"DROP SCHEMA {self.schema} CASCADE"))
            admin.dispose()
        shutil.rmtree(self.var, ignore_errors=True)


async def read_histories(temporal: str, desk: Desk, acked: dict[str, float],
                         sample: int = 150) -> tuple[list[float], HistoryCounts]:
    """From the 250 to the end of the case workflow's first task (server time, same
    machine), and the history's events per case, read from a sample of the cases."""
    from temporalio.client import Client

    from contracts.codec import with_codec

    client = with_codec(await Client.connect(temporal), desk.engine)  # the desk's own client
    with desk.engine.connect() as c:
        rows = c.execute(text('SELECT target, workflow_id FROM "case"')).all()
    rows = [r for r in rows if r[0] in acked]
    random.Random(7).shuffle(rows)
    out: list[float] = []
    for target, wid in rows[:sample]:
        history = await client.get_workflow_handle(wid).fetch_history()
        for event in history.events:
            if event.HasField("workflow_task_completed_event_attributes"):
                out.append((event.event_time.ToNanoseconds() / 1e9 - acked[target]) * 1000)
                break
    counts = await history_counts(client, [wid for _, wid in rows[:sample]])
    return out, counts


def settle_cpu(desk: Desk, quiet: float = 2.0, within: float = 60.0) -> float:
    """Worker CPU seconds once the workers have gone quiet (the last cases' remaining steps
    done)."""
    deadline = time.monotonic() + within
    last = desk.cluster.cpu_seconds("worker")
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = desk.cluster.cpu_seconds("worker")
        if now - last < 0.05 * quiet:
            return now
        last = now
    return last


def steady(temporal: str, root: Path, label: str, seconds: float, extra: dict[str, str],
           with_first_task: bool = True, routers: int = 1, temporal_pid: int = 0,
           profile_dir: Path | None = None) -> Result:
    """``RATE`` new problems a second for ``seconds``, distinct fingerprints; ``routers`` 0:
    the intake routes in its own process. ``profile_dir``: py-spy records the desk's
    processes over the measured window (``bench.profile``)."""
    desk = Desk(temporal, root, extra=extra, routers=routers)
    try:
        run = uuid.uuid4().hex[:6]
        n = int(RATE * seconds)
        targets = [f"st{run}-{i}" for i in range(n)]
        acked: dict[str, float] = {}
        msgs = [probe(t, 0) for t in targets]
        by_raw = dict(zip(msgs, targets, strict=True))
        sender = MxSender(desk.cluster.smtp_ports, msgs, pace=1 / RATE,
                          on_ack=lambda raw, at: acked.setdefault(by_raw[raw], at))
        profiler = None
        if profile_dir is not None:
            profiler = Profiler(profile_dir)
            roles = Counter[str]()
            for proc in desk.cluster.procs:
                profiler.attach(f"{proc.role}-{roles[proc.role]}", proc.popen.pid)
                roles[proc.role] += 1
            time.sleep(1.0)  # py-spy attached before the first mail
        cpu0 = desk.cluster.cpu_seconds("worker")
        others0 = other_cpu(desk, temporal_pid)
        bench0 = time.process_time()
        busy0, wall0 = machine_busy_seconds()[0], time.monotonic()
        sender.start()
        # every case waited for while the desk still makes progress: on a starved machine
        # the queue drains minutes late, and a case late is not a case lost (nor is the CPU
        # it took to drain to be divided among the cases seen in time)
        deadline = time.monotonic() + seconds + 900
        wanted = set(targets)
        progress = (0, time.monotonic())
        while (sender.is_alive() or not wanted <= desk.seen.keys()) \
                and time.monotonic() < deadline:
            desk.poll_cases()
            if len(desk.seen) != progress[0]:
                progress = (len(desk.seen), time.monotonic())
            elif not sender.is_alive() and time.monotonic() - progress[1] > 60:
                break  # a minute with no new case: what is missing will not come
            time.sleep(0.01)
        bench_cpu = time.process_time() - bench0
        cpu = settle_cpu(desk) - cpu0
        others = {k: v - others0[k] for k, v in other_cpu(desk, temporal_pid).items()}
        # what the rest of the machine (other tenants, py-spy) took meanwhile, in cores
        tenants = (machine_busy_seconds()[0] - busy0 - cpu - sum(others.values())
                   - (time.process_time() - bench0)) / (time.monotonic() - wall0)
        profiles = profiler.stop() if profiler is not None else {}
        visible = [(desk.seen[t] - acked[t]) * 1000 for t in targets if t in desk.seen
                   and t in acked]
        first, counts = (asyncio.run(read_histories(temporal, desk, acked))
                         if with_first_task else ([], None))
        routed = desk.routed_at()
        cases = sum(1 for t in targets if t in desk.seen)  # not a late warm-up case
        # computed, not assumed: an acknowledged mail without its case is lost; a stored
        # digest twice or a fingerprint with two cases is a double
        stored, distinct = desk.stored()
        per_fp = desk.cases_per_fingerprint()
        acked_digests = {hashlib.sha256(raw).hexdigest() for raw in sender.acked}
        with desk.engine.connect() as c:
            have = {d for (d,) in c.execute(text("SELECT sha256 FROM raw_message"))}
        lost = len(acked_digests - have) + sum(1 for t in acked if t not in desk.seen)
        dup = (stored - distinct) + sum(k - 1 for k in per_fp.values() if k > 1)
        return Result(label, cases, visible, first, cpu * 1000 / max(cases, 1),
                      lost=lost, dup=dup,
                      routed_ms=[(routed[t] - acked[t]) * 1000 for t in targets
                                 if t in routed and t in acked],
                      others_ms_per_case={k: v * 1000 / max(cases, 1)
                                          for k, v in others.items()},
                      bench_ms_per_case=bench_cpu * 1000 / max(cases, 1),
                      history=counts, profiles=profiles, tenants_cores=max(tenants, 0.0))
    finally:
        desk.close()


def other_cpu(desk: Desk, temporal_pid: int) -> dict[str, float]:
    """CPU seconds so far of the intake(s), router(s) and the Temporal dev server."""
    out = {"intake": desk.cluster.cpu_seconds("ingest"),
           "router": desk.cluster.cpu_seconds("router")}
    if temporal_pid:
        out["Temporal"] = pid_cpu_seconds(temporal_pid)
    return out


def pid_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children that it waited for (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def storm(temporal: str, root: Path, label: str, mails: int, seconds: float, *, pg: bool,
          workers: int, intakes: int, routers: int, temporal_pid: int) -> Result:
    """``mails`` in ``seconds``, 10 % problems with distinct fingerprints, the rest
    recoveries of problems without a case."""
    desk = Desk(temporal, root, workers=workers, intakes=intakes, routers=routers, pg=pg)
    try:
        run = uuid.uuid4().hex[:6]
        msgs: list[bytes] = []
        problems: dict[bytes, str] = {}
        for i in range(mails):
            if i % 10 == 0:
                raw = probe(f"sp{run}-{i}", 0)
                problems[raw] = f"sp{run}-{i}"
            else:
                raw = probe(f"sr{run}-{i}", 0, status="RECOVERY")
            msgs.append(raw)
        threads = 8
        acked: dict[str, float] = {}
        last_ack = [0.0]

        def on_ack(raw: bytes, at: float) -> None:
            last_ack[0] = max(last_ack[0], at)
            if raw in problems:
                acked.setdefault(problems[raw], at)

        senders = [MxSender(desk.cluster.smtp_ports, msgs[k::threads],
                            pace=seconds * threads / mails, start_at=k, on_ack=on_ack)
                   for k in range(threads)]
        cpu0 = desk.cluster.cpu_seconds("worker")
        intake0 = desk.cluster.cpu_seconds("ingest")
        router0 = desk.cluster.cpu_seconds("router")
        temporal0 = pid_cpu_seconds(temporal_pid)
        bench0 = time.process_time()
        start = time.time()
        for s in senders:
            s.start()
        want = set(problems.values())
        deadline = time.monotonic() + seconds + 240
        while (any(s.is_alive() for s in senders) or not want <= desk.seen.keys()) \
                and time.monotonic() < deadline:
            desk.poll_cases()
            time.sleep(0.02)
        bench_cpu = time.process_time() - bench0
        mine = {t: at for t, at in desk.seen.items() if t in want}  # not a late warm-up case
        end = max(mine.values()) if mine else time.time()
        cpu = settle_cpu(desk) - cpu0
        intake_cpu = desk.cluster.cpu_seconds("ingest") - intake0
        router_cpu = desk.cluster.cpu_seconds("router") - router0
        temporal_cpu = pid_cpu_seconds(temporal_pid) - temporal0
        sent = sum(len(s.acked) for s in senders)
        stored, distinct = desk.stored()
        per_fp = desk.cases_per_fingerprint()
        acked_digests = {hashlib.sha256(raw).hexdigest() for s in senders for raw in s.acked}
        with desk.engine.connect() as c:
            have = {d for (d,) in c.execute(text("SELECT sha256 FROM raw_message"))}
        lost = len(acked_digests - have) + len(want - mine.keys())
        dup = (stored - distinct) + sum(n - 1 for n in per_fp.values() if n > 1)
        visible = [(mine[t] - acked[t]) * 1000 for t in acked if t in mine]
        return Result(label, len(mine), visible, [], cpu * 1000 / max(len(mine), 1),
                      sent=sent, stored=stored, lost=lost, dup=dup,
                      drain_s=max(0.0, end - last_ack[0]), total_s=end - start,
                      intake_cpu_ms_per_mail=intake_cpu * 1000 / max(sent, 1),
                      router_cpu_ms_per_mail=router_cpu * 1000 / max(sent, 1),
                      temporal_cpu_ms_per_case=temporal_cpu * 1000 / max(len(mine), 1),
                      bench_ms_per_case=bench_cpu * 1000 / max(len(mine), 1))
    finally:
        desk.close()


@dataclass
class SiteOutage:
    """(d): one site's servers silent, then their problem mails; what the desk opened."""

    servers: int
    mails: int
    stored: int
    children: int
    incidents: int
    child_cases: int
    pages: int
    visible_s: float  # the sweep's start -> the incident's case row
    settled_s: float  # the first 250 -> every mail stored and kept under the incident

    def line(self) -> str:
        return (f"  (d) site outage: {self.servers} servers silent, {self.mails} problem mails "
                f"({self.stored} stored, {self.children} kept as children): incident visible "
                f"{self.visible_s:.1f} s after the sweep started; every mail under it "
                f"{self.settled_s:.1f} s after the first 250")

    def summary(self) -> str:
        return (f"incidents={self.incidents} child_cases={self.child_cases} "
                f"pages={self.pages} incident_visible_s={self.visible_s:.1f}")


def site_outage(temporal: str, root: Path, servers: int, mails: int, seconds: float
                ) -> SiteOutage:
    """``servers`` servers of one new site of demo client A stop their heartbeats (one sweep
    finds them all late), then send ``mails`` problem mails in ``seconds``: the desk must
    open one site incident and keep every mail under it (``records.incidents``)."""
    from datetime import timedelta

    from sqlmodel import select
    from temporalio.client import Client as TemporalClient

    from messages.absence import SWEEP_WORKFLOW, SweepInput
    from models.db import session_scope
    from models.expectations import Expectation
    from models.tables import Client, Server, Site
    from models.types import utcnow

    desk = Desk(temporal, root)
    try:
        run = uuid.uuid4().hex[:6]
        hosts = [f"bx{run}-{i:03d}" for i in range(servers)]
        now = utcnow()
        with session_scope(desk.engine) as s:
            client = s.exec(select(Client.id).where(Client.code == "client-a")).one()
            site = Site(client_id=client, name=f"Agence {run}")
            s.add(site)
            s.flush()
            for host in hosts:
                srv = Server(client_id=client, site_id=site.id, hostname=host)
                s.add(srv)
                s.flush()
                s.add(Expectation(client_id=client, server_id=srv.id or 0, kind="heartbeat",
                                  state="ok", next_due_at=now - timedelta(minutes=1),
                                  last_seen_at=now - timedelta(minutes=76)))
        with desk.engine.connect() as c:
            before = {cid for (cid,) in c.execute(text('SELECT id FROM "case"'))}

        async def sweep() -> None:
            # started, not awaited: its answer is sealed by the worker's codec (contracts.codec),
            # whose key this process does not hold; the case row is what is measured
            tc = await TemporalClient.connect(temporal)
            await tc.start_workflow(SWEEP_WORKFLOW, SweepInput(), id=f"sweep-{run}",
                                    task_queue=desk.queue)

        start = time.time()
        asyncio.run(sweep())
        visible = float("nan")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with desk.engine.connect() as c:
                if c.execute(text('SELECT count(*) FROM "case" WHERE family = \'site\'')).one()[0]:
                    visible = time.time() - start
                    break
            time.sleep(0.02)
        msgs = [probe(f"svc{i % 7}", i, host=hosts[i % servers]).replace(
            b"Message-ID: <", f"Message-ID: <{run}-".encode()) for i in range(mails)]
        threads = 4
        senders = [MxSender(desk.cluster.smtp_ports, msgs[k::threads],
                            pace=seconds * threads / mails, start_at=k) for k in range(threads)]
        first = time.time()
        for snd in senders:
            snd.start()
        stored = children = 0
        deadline = time.monotonic() + seconds + 240
        while time.monotonic() < deadline:
            with desk.engine.connect() as c:
                stored, children = c.execute(text(
                    "SELECT count(*), sum(CASE WHEN triage = 'child' THEN 1 ELSE 0 END) "
                    "FROM alert_event WHERE host LIKE :h"), {"h": f"bx{run}-%"}).one()
            children = int(children or 0)
            if not any(snd.is_alive() for snd in senders) and children >= mails:
                break
            time.sleep(0.1)
        settled = time.time() - first
        time.sleep(2.0)  # a case opened by mistake would show by now
        with desk.engine.connect() as c:
            rows = c.execute(text('SELECT id, family, host FROM "case"')).all()
        new = [(cid, fam, host) for cid, fam, host in rows if cid not in before]
        incidents = sum(1 for _, fam, _ in new if fam == "site")
        child_cases = sum(1 for _, _, host in new if host and host.startswith(f"bx{run}"))
        return SiteOutage(servers, mails, int(stored or 0), children, incidents, child_cases,
                          pages=len(new), visible_s=visible, settled_s=settled)
    finally:
        desk.close()


@contextlib.contextmanager
def dev_server(root: Path) -> Iterator[tuple[str, int]]:
    """A fresh Temporal dev server (its own empty database) for one part: no part pays for
    the histories another left behind. Yields (address, pid)."""
    from base.settings import Settings
    from vigie.stack import start_temporal

    var = Path(tempfile.mkdtemp(dir=root, prefix="temporal-"))
    settings = Settings(var_dir=var, temporal_address=f"127.0.0.1:{free_port()}",
                        temporal_ui_port=free_port())
    proc = start_temporal(settings)
    try:
        yield settings.temporal_address, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except Exception:
            proc.kill()
            proc.wait(10)
        shutil.rmtree(var, ignore_errors=True)


@dataclass
class Floor:
    """What Temporal itself costs per new case: ``bench.floor``'s minimal workflow."""

    starts: int
    done: int
    first_task_ms: list[float]
    worker_ms: float  # CPU per start
    temporal_ms: float
    bench_ms: float
    history: HistoryCounts
    tenants_cores: float  # the rest of the machine's CPU meanwhile

    def line(self) -> str:
        return (f"  floor: {self.starts} signal-with-starts, {self.done} first tasks done; "
                f"start -> first workflow task p50={pct(self.first_task_ms, .5):.0f} ms "
                f"p99={pct(self.first_task_ms, .99):.0f} ms\n"
                f"    CPU per start: worker {self.worker_ms:.1f} + Temporal "
                f"{self.temporal_ms:.1f} = {self.worker_ms + self.temporal_ms:.1f} ms; the "
                f"bench itself (client) {self.bench_ms:.1f} ms; everything else on the "
                f"machine took {self.tenants_cores:.2f} cores meanwhile\n"
                "    Temporal history:\n"
                + "\n".join(self.history.lines()))


def floor(root: Path, seconds: float) -> Floor:
    """``RATE`` signal-with-starts a second for ``seconds`` on ``bench.floor``'s worker and
    a fresh dev server, counted as the steady run counts a case."""
    import subprocess

    from temporalio.client import Client

    from bench import floor as fl
    from bench.cluster import ROOT

    with dev_server(root) as (address, tpid):
        print(f"floor: {RATE} minimal workflows/s for {seconds:.0f} s ({load()}; "
              f"{quiet_before(tpid)}):", flush=True)
        queue = "floor-" + uuid.uuid4().hex[:8]
        log = (root / f"{queue}.log").open("ab")
        worker = subprocess.Popen([sys.executable, "-m", "bench.floor", address, queue],
                                  cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                  env={**os.environ, "VIGIE_LOG_LEVEL": "WARNING"})
        try:
            warm = asyncio.run(fl.drive(address, queue, "warm", 20, RATE))
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:  # imports and connections done before
                if len(asyncio.run(fl.first_task_done(address, list(warm)))) == len(warm):
                    break
                time.sleep(0.5)
            time.sleep(1.0)
            cpu0, t0, bench0 = (pid_cpu_seconds(worker.pid), pid_cpu_seconds(tpid),
                                time.process_time())
            busy0, wall0 = machine_busy_seconds()[0], time.monotonic()
            sent = asyncio.run(fl.drive(address, queue, "run", int(RATE * seconds), RATE))
            bench_cpu = time.process_time() - bench0
            tail = list(sent)[-20:]  # the last sent are about the last served
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and \
                    len(asyncio.run(fl.first_task_done(address, tail))) < len(tail):
                time.sleep(0.5)
            last = pid_cpu_seconds(worker.pid)
            for _ in range(30):  # then until the worker has gone quiet
                time.sleep(2.0)
                now = pid_cpu_seconds(worker.pid)
                if now - last < 0.1:
                    break
                last = now
            worker_cpu = pid_cpu_seconds(worker.pid) - cpu0
            temporal_cpu = pid_cpu_seconds(tpid) - t0
            tenants = (machine_busy_seconds()[0] - busy0 - worker_cpu - temporal_cpu
                       - (time.process_time() - bench0)) / (time.monotonic() - wall0)
            done = asyncio.run(fl.first_task_done(address, list(sent)))

            async def counts() -> HistoryCounts:
                client = await Client.connect(address)
                return await history_counts(client, list(sent)[:: max(1, len(sent) // 50)])

            history = asyncio.run(counts())
        finally:
            worker.terminate()
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
    n = max(len(sent), 1)
    return Floor(len(sent), len(done), [(done[w] - sent[w]) * 1000 for w in done],
                 worker_cpu * 1000 / n, temporal_cpu * 1000 / n, bench_cpu * 1000 / n,
                 history, max(tenants, 0.0))


def postgres_reachable() -> bool:
    try:
        eng = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:
        return False


def main() -> None:
    global RATE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke test)")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="length of each steady run (a) and of the floor")
    parser.add_argument("--runs", type=int, default=3, help="how many steady runs (a)")
    parser.add_argument("--compare-seconds", type=float, default=20.0,
                        help="length of each before/after and runner run (parts 0, 1)")
    parser.add_argument("--storm-mails", type=int, default=5000)
    parser.add_argument("--storm-seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=20,
                        help="new problems a second in the floor, 0, 1 and (a)")
    parser.add_argument("--parts", default="floor,a,b,c",
                        help="which parts to run, comma-separated, of: 0 1 floor a b c d")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy the worker, router and intake during the first steady "
                             "run: speedscope JSON in DIR and a summary printed")
    parser.add_argument("--site-servers", type=int, default=50)
    parser.add_argument("--site-mails", type=int, default=500)
    args = parser.parse_args()
    RATE = args.rate
    if args.quick:
        args.seconds, args.compare_seconds, args.runs = 10.0, 5.0, min(args.runs, 2)
        args.storm_mails, args.storm_seconds = 500, 10.0
    if args.profile is not None:
        py_spy()  # fail now, not after the floor
        args.profile = args.profile.resolve()

    # a SIGTERM (a background run has SIGINT ignored) unwinds like an interrupt: every
    # part's ``finally`` stops its desk processes and dev server
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="vigie-storm-"))
    os.environ["VIGIE_VAR_DIR"] = str(root)  # nothing written under the checkout's var/
    print(f"storm bench: {load()}; core speed: {calibrate():.0f} ms for the calibration "
          "loop (lower is faster); each part on a fresh dev server and fresh desk processes",
          flush=True)
    results: dict[str, Result] = {}
    steadies: list[Result] = []
    parts = set(args.parts.split(","))
    storms: list[Result] = []
    floor_result: Floor | None = None
    try:
        if "floor" in parts:
            floor_result = floor(root, args.seconds)
            print(floor_result.line(), flush=True)
        if "0" in parts or "1" in parts:
            with dev_server(root) as (address, tpid):
                legacy_parts(args, parts, address, tpid, root, results)
        if "a" in parts:
            for k in range(args.runs):
                with dev_server(root) as (address, tpid):
                    print(f"(a) run {k + 1}/{args.runs}: {RATE} new problems/s for "
                          f"{args.seconds:.0f} s, 1 intake + 1 router + 1 worker, SQLite "
                          f"({load()}; {quiet_before(tpid)}):", flush=True)
                    r = steady(address, root, f"(a) run {k + 1}", args.seconds, {},
                               temporal_pid=tpid,
                               profile_dir=args.profile if k == 0 else None)
                print(r.line(), flush=True)
                for name, path in sorted(r.profiles.items()):
                    print(f"  py-spy, {name} ({path}):", flush=True)
                    print("\n".join(summarise(path, ROOT_DIR)), flush=True)
                steadies.append(r)
        if "b" in parts:
            with dev_server(root) as (address, tpid):
                print(f"(b) {args.storm_mails} mails in {args.storm_seconds:.0f} s, 10 % "
                      f"problems, 1 intake + 1 router + 1 worker, SQLite ({load()}; "
                      f"{quiet_before(tpid)}):", flush=True)
                b = storm(address, root, "(b) storm", args.storm_mails, args.storm_seconds,
                          pg=False, workers=1, intakes=1, routers=1, temporal_pid=tpid)
            print(b.line(), flush=True)
            storms.append(b)
        if "c" in parts and postgres_reachable():
            with dev_server(root) as (address, tpid):
                print(f"(c) the same storm, 2 intakes + 2 routers + 2 workers, PostgreSQL "
                      f"({load()}; {quiet_before(tpid)}):", flush=True)
                c = storm(address, root, "(c) storm x2", args.storm_mails,
                          args.storm_seconds, pg=True, workers=2, intakes=2, routers=2,
                          temporal_pid=tpid)
            print(c.line(), flush=True)
            storms.append(c)
        elif "c" in parts:
            print(f"(c) skipped: PostgreSQL not reachable at {PG_URL}", flush=True)
        if "d" in parts:
            with dev_server(root) as (address, tpid):
                print(f"(d) a site outage: {args.site_servers} servers of one site silent, "
                      f"then {args.site_mails} problem mails in {args.storm_seconds:.0f} s, "
                      f"SQLite ({load()}; {quiet_before(tpid)}):", flush=True)
                outage = site_outage(address, root, args.site_servers, args.site_mails,
                                     args.storm_seconds)
            print(outage.line(), flush=True)
            print(outage.summary(), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"storm bench: done ({load()})", flush=True)
    if steadies:
        worst = max(steadies, key=lambda r: r.cpu_total)
        print(f"(a) over {len(steadies)} runs: 250->visible p50 " + ", ".join(
            f"{pct(r.visible_ms, .5):.0f}" for r in steadies) + " ms; p99 " + ", ".join(
            f"{pct(r.visible_ms, .99):.0f}" for r in steadies) + " ms; CPU per new case " +
            ", ".join(f"{r.cpu_total:.1f}" for r in steadies) + f" ms (worst: worker "
            f"{worst.cpu_ms_per_case:.1f} + " + " + ".join(
                f"{k} {v:.1f}" for k, v in worst.others_ms_per_case.items()) + ")", flush=True)
        if floor_result is not None:
            floor_ms = floor_result.worker_ms + floor_result.temporal_ms
            print(f"    above the floor ({floor_ms:.1f} ms per start, Temporal "
                  f"{floor_result.temporal_ms:.1f}): the desk's path costs "
                  f"{worst.cpu_total - floor_ms:.1f} ms more per case", flush=True)
    if not steadies and not results and not storms:
        return  # the floor or (d) only: their own lines above say it all
    ran = steadies or list(results.values())
    p50 = max((pct(r.visible_ms, .5) for r in ran), default=float("nan"))
    p99 = max((pct(r.visible_ms, .99) for r in ran), default=float("nan"))
    cpu = max((r.cpu_total for r in ran), default=float("nan"))
    lost = sum(r.lost for r in ran + storms)
    dup = sum(r.dup for r in ran + storms)
    drain = max((r.drain_s for r in storms), default=float("nan"))
    print(f"storm: visible_p50_ms={p50:.0f} visible_p99_ms={p99:.0f} rate={RATE}/s "
          f"cpu_ms_per_case={cpu:.0f} storm_drain_s={drain:.1f} lost={lost} dup={dup}",
          flush=True)


def legacy_parts(args: argparse.Namespace, parts: set[str], address: str, tpid: int,
                 root: Path, results: dict[str, Result]) -> None:
    """Parts 0 and 1 (``--parts 0,1``): the before/after of the opening path and the
    runner choice, on one dev server, as measured when they were decided."""
    if "0" in parts:
        print(f"0. before/after at {RATE}/s for {args.compare_seconds:.0f} s each:",
              flush=True)
        for label, extra in (
            ("before (4 activities, default sandbox)",
             {"VIGIE_CASE_OPENING": "legacy", "VIGIE_WORKFLOW_RUNNER": "sandbox"}),
            ("after (1 local activity, passthrough)", {}),
        ):
            results[label] = r = steady(address, root, label, args.compare_seconds, extra,
                                        temporal_pid=tpid)
            print(r.line(), flush=True)
    if "1" in parts:
        print(f"1. workflow runner, new path, {RATE}/s for {args.compare_seconds:.0f} s "
              "each:", flush=True)
        for runner in ("sandbox", "passthrough", "unsandboxed"):
            r = steady(address, root, f"runner={runner}", args.compare_seconds,
                       {"VIGIE_WORKFLOW_RUNNER": runner}, with_first_task=False,
                       temporal_pid=tpid)
            print(r.line(), flush=True)
        r = steady(address, root, "router inside the intake (no router process)",
                   args.compare_seconds, {}, with_first_task=False, routers=0,
                   temporal_pid=tpid)
        print(r.line(), flush=True)


if __name__ == "__main__":
    main()
