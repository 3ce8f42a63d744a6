"""One incident per site outage, for real: the sweep looping on a time-skipping Temporal
server, the real router telling the real case workflow, a real SQLite database.

* twelve servers of one site go silent, then thirty problem mails come from them: one site
  incident (major by the contract's rule), no case of their own, one client contact;
* the site's other client site keeps its own cases;
* the link returns with mixed children: the recovered ones close with the incident, the
  failing ones become cases opened at the return, the silent sources are watched afresh.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client as TemporalClient
from temporalio.worker import Worker

from base.settings import Settings
from console.slacache import Period, Selection, refresh, summarize
from domain.absence import heartbeat_fingerprint
from intake.router import Router
from intake.store import accept
from messages.cases import ActionInput, case_workflow_id
from models.db import session_scope
from models.incidents import IncidentChild
from models.tables import (
    AlertEventRow,
    AuditEvent,
    Case,
    Client,
    Communication,
    Contact,
    SenderDomain,
    Server,
    Site,
)
from models.types import utcnow
from records.absence import audit_backup_days, note_report
from records.incidents import CHILD, SITE_CLAUSE, SITE_FAMILY, site_fingerprint
from tests.test_absence_support import (
    AbsenceDesk,
    Inventory,
    case_row,
    cases,
    events,
    expectation,
    ingest,
    make_inventory,
    probe,
    until,
    watch_heartbeat,
)
from tests.test_absence_temporal import start_sweeping
from tests.test_backup_audit import TUESDAY, WEDNESDAY_MORNING, expect_job
from vigie.temporal import activities, workflows

MIN = timedelta(minutes=1)
LYON_SERVERS = 12


class Outage:
    """One client: Lyon (twelve servers behind one link) and Annecy (two servers)."""

    def __init__(self, engine: Engine) -> None:
        self.code = f"c{uuid.uuid4().hex[:10]}"
        with session_scope(engine) as s:
            c = Client(code=self.code, name=f"Client {self.code}")
            s.add(c)
            s.flush()
            self.client_id = c.id or 0
            s.add(SenderDomain(domain=f"{self.code}.example", client_id=self.client_id))
            lyon, annecy = Site(client_id=self.client_id, name="Lyon"), Site(
                client_id=self.client_id, name="Annecy")
            s.add_all([lyon, annecy])
            s.flush()
            self.lyon, self.annecy = lyon.id or 0, annecy.id or 0
            self.hosts: dict[str, int] = {}
            names = [f"lyo-{i:02d}" for i in range(1, LYON_SERVERS + 1)] + ["ann-1", "ann-2"]
            for host in names:
                srv = Server(client_id=self.client_id, hostname=host, display_name=host.upper(),
                             site_id=self.lyon if host.startswith("lyo") else self.annecy)
                s.add(srv)
                s.flush()
                self.hosts[host] = srv.id or 0
            s.add(Contact(client_id=self.client_id, name="Claire Durand", rank=1,
                          email=f"claire@{self.code}.example", phone="+33472000001"))

    def lyon_hosts(self) -> list[str]:
        return [h for h in self.hosts if h.startswith("lyo")]

    def mail(self, host: str, check: str, status: str, target: str | None = None) -> bytes:
        lines = [f"Host: {host}", f"Check: {check}", f"Status: {status}"]
        if target:
            lines.append(f"Target: {target}")
        return (f"From: vigie-probe@{self.code}.example\r\nTo: alerts@desk.example\r\n"
                f"Message-ID: <{uuid.uuid4().hex}@probe>\r\n"
                f"Subject: [VIGIE] {host} {status} {check}\r\n\r\n"
                + "\r\n".join(lines) + "\r\n").encode()

    def heartbeat(self, engine: Engine, host: str, at: datetime) -> None:
        """The router's database step for a heartbeat (the sweep's input only)."""
        with session_scope(engine) as s:
            note_report(s, "heartbeat", client_id=self.client_id, server_id=self.hosts[host],
                        at=at, fingerprint=heartbeat_fingerprint(self.code, host))


async def route(engine: Engine, desk: AbsenceDesk, *messages: bytes) -> None:
    """Stores the messages and lets the real router tell Temporal, until the outbox is empty."""
    for raw in messages:
        accept(engine, raw, peer_ip="127.0.0.1")
    router = Router(engine, desk.client, desk.task_queue)
    while await router.drain_once():
        pass


def received(engine: Engine, family: str) -> list[datetime]:
    """When the router's clock saw the events of a family (it is not the skipped time)."""
    with Session(engine) as s:
        return list(s.exec(select(AlertEventRow.received_at).where(
            AlertEventRow.family == family).order_by(col(AlertEventRow.id))).all())


def children(engine: Engine, case_id: int | None) -> list[IncidentChild]:
    with Session(engine) as s:
        return list(s.exec(select(IncidentChild).where(
            IncidentChild.incident_case_id == case_id).order_by(col(IncidentChild.id))).all())


def classified(engine: Engine, case_id: int | None) -> list[AuditEvent]:
    with Session(engine) as s:
        return [a for a in s.exec(select(AuditEvent).where(AuditEvent.case_id == case_id))
                if a.action == "classify"]


def contacted(engine: Engine, client_id: int) -> set[int | None]:
    """The cases on whose behalf the client was mailed, texted or called."""
    with Session(engine) as s:
        return {c.case_id for c in s.exec(select(Communication).join(
            Case, col(Case.id) == Communication.case_id).where(Case.client_id == client_id))}


async def site_down(time_env, engine: Engine, desk: AbsenceDesk, out: Outage) -> Case:
    """Every server watched and heard at t0; Lyon then goes silent, Annecy keeps talking."""
    t0 = await time_env.get_current_time()
    for host in out.hosts:
        watch_heartbeat(engine, out.hosts[host], t0)
        out.heartbeat(engine, host, t0)
    await start_sweeping(desk)
    await time_env.sleep(60 * MIN)
    now = await time_env.get_current_time()
    for host in ("ann-1", "ann-2"):
        out.heartbeat(engine, host, now)
    await time_env.sleep(21 * MIN)  # the sweep at 75 minutes finds Lyon late
    await until(lambda: len(cases(engine, family=SITE_FAMILY)) == 1, what="site incident")
    await time_env.sleep(6 * MIN)  # the next sweep puts the late servers under it
    (incident,) = cases(engine, family=SITE_FAMILY)
    await until(lambda: len(children(engine, incident.id)) == LYON_SERVERS, what="children")
    return incident


class FullDesk(AbsenceDesk):
    """The absence desk with every activity of the worker (mail captured, calls in dry-run):
    the client contacts the cases decide really happen."""

    def __init__(self, client: TemporalClient, engine: Engine) -> None:
        self.client, self.engine = client, engine
        self.task_queue = f"site-{uuid.uuid4().hex[:8]}"
        self.pool = concurrent.futures.ThreadPoolExecutor(4)
        self.started = []
        self.worker = Worker(client, task_queue=self.task_queue, workflows=workflows(),
                             activities=activities(engine), activity_executor=self.pool)


@contextlib.asynccontextmanager
async def outage(time_env, engine: Engine) -> AsyncIterator[tuple[Outage, AbsenceDesk, Case]]:
    """A worker on the inventory, Lyon down and its incident open; everything ended after."""
    out = Outage(engine)
    desk = FullDesk(time_env.client, engine)
    try:
        async with desk.worker:
            yield out, desk, await site_down(time_env, engine, desk, out)
    finally:
        await desk.cleanup()


async def test_a_site_outage_is_one_incident_with_its_servers_alerts_as_children(
    time_env, sqlite_engine: Engine, tmp_path: Path
) -> None:
    engine = sqlite_engine
    async with outage(time_env, engine) as (out, desk, incident):
        assert incident.workflow_id == case_workflow_id(site_fingerprint(out.code, out.lyon))
        await until(lambda: cases(engine, family=SITE_FAMILY)[0].criticality == "major",
                    what="major")
        assert [a.reason for a in classified(engine, incident.id)] == [SITE_CLAUSE]

        lyon = out.lyon_hosts()
        cpu = [(i // len(lyon)) % 2 == 1 for i in range(30)]
        mails = [out.mail(lyon[i % len(lyon)], "cpu" if cpu[i] else "disk_free", "PROBLEM",
                          target=None if cpu[i] else "C:") for i in range(30)]
        await route(engine, desk, *mails)
        annecy = out.mail("ann-1", "cpu", "PROBLEM")  # the other site: its own case
        await route(engine, desk, annecy)
        await until(lambda: len(cases(engine)) == 2, what="Annecy's case")

        lyon_cases = [c for c in cases(engine) if c.family != SITE_FAMILY
                      and c.host and c.host.startswith("lyo")]
        assert lyon_cases == []  # no case, hence no mail, no call, no clock of their own
        (ann,) = [c for c in cases(engine) if c.host == "ann-1"]
        assert ann.check == "cpu"
        with Session(engine) as s:
            rows = s.exec(select(AlertEventRow).where(
                col(AlertEventRow.host).like("lyo-%"))).all()
        assert len(rows) == 30
        assert {r.triage for r in rows} == {CHILD}
        assert {r.case_id for r in rows} == {incident.id}
        kids = children(engine, incident.id)
        # 12 silent servers, 24 distinct problems (12 hosts x cpu, disk_free), 6 repeats
        assert len([k for k in kids if k.origin == "absence"]) == LYON_SERVERS
        assert len([k for k in kids if k.origin == "event"]) == 24
        assert sum(k.events for k in kids) == 30
        assert all(expectation(engine, out.hosts[h]).state == "muted" for h in lyon)
        assert expectation(engine, out.hosts["ann-1"]).state == "ok"
        # the technician registers the one Demande: the major's calls and mail are the
        # incident's, and only the incident's: one client contact for the whole outage
        await desk.client.get_workflow_handle(incident.workflow_id).execute_update(
            "register_demande", ActionInput(actor="tech"))
        await time_env.sleep(30 * MIN)
        await until(lambda: incident.id in contacted(engine, out.client_id),
                    what="the client contacted")
        assert contacted(engine, out.client_id) <= {incident.id, ann.id}

        # the SLA view counts the outage once: the incident and Annecy's case, nothing else
        settings = Settings(var_dir=tmp_path, temporal_address="", secret_key="test-key")
        refresh(engine, settings, full=True)
        # the incident opens on the time-skipping server's clock (days ahead once other tests
        # have skipped it), Annecy's case on the router's: the period covers both
        opened = [c.opened_at.date() for c in cases(engine)]
        period = Period(min(opened) - timedelta(days=1), max(opened) + timedelta(days=2),
                        "Europe/Paris")
        sla = summarize(engine, Selection(period, client_id=out.client_id), "client")
        assert sla.total.count == 2


async def test_the_link_returns_with_mixed_children(time_env, sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    async with outage(time_env, engine) as (out, desk, incident):
        await route(engine, desk, out.mail("lyo-01", "cpu", "PROBLEM"),
                    out.mail("lyo-02", "cpu", "PROBLEM"))
        await route(engine, desk, out.mail("lyo-01", "cpu", "RECOVERY"))
        await route(engine, desk, out.mail("lyo-03", "heartbeat", "OK"))  # the link is back
        back = received(engine, "heartbeat")[-1]

        await until(lambda: len(cases(engine)) == 2, what="the failing child's case")
        await until(lambda: cases(engine, family=SITE_FAMILY)[0].recovered,
                    what="incident recovered")
        (own,) = [c for c in cases(engine) if c.family != SITE_FAMILY]
        assert own.host == "lyo-02" and own.check == "cpu"
        # its clocks start when the link came back, not when the outage hid it
        assert own.opened_at == back > received(engine, "performance")[0]
        by_host = {(k.host, k.check): k for k in children(engine, incident.id)}
        assert by_host[("lyo-01", "cpu")].state == "recovered"
        assert by_host[("lyo-02", "cpu")].state == "promoted"
        assert by_host[("lyo-02", "cpu")].case_workflow_id == own.workflow_id
        silent = expectation(engine, out.hosts["lyo-05"])
        assert silent.state == "ok"  # watched afresh: a period and its grace from the return
        assert silent.next_due_at is not None and silent.next_due_at >= back + 60 * MIN

        # after the return, a server's problem is a case of its own again
        await route(engine, desk, out.mail("lyo-04", "cpu", "PROBLEM"))
        await until(lambda: len(cases(engine)) == 3, what="a case after the return")


def test_a_backup_not_received_behind_a_site_in_outage_is_a_child_of_its_incident(
        engine: Engine) -> None:
    inv = make_inventory(engine)  # Lyon has SRV-A and SRV-A2
    expect_job(engine, inv)  # SRV-A, Lyon: nothing received on Tuesday
    incident_id = lyon_incident(engine, inv, WEDNESDAY_MORNING - timedelta(days=1))
    _, orders = audit_backup_days(engine, [TUESDAY], WEDNESDAY_MORNING)
    assert orders == []  # no case, no page: the site's incident carries it
    with Session(engine) as s:
        (child,) = s.exec(select(IncidentChild)).all()
    assert (child.incident_case_id, child.family, child.state) == (incident_id, "backup",
                                                                  "failing")


def lyon_incident(engine: Engine, inv: Inventory, at: datetime) -> int:
    """Lyon's outage, as the sweep opened it (its case row)."""
    return case_row(engine, ref="VIG-SITE", workflow_id="case-site", family=SITE_FAMILY,
                    fingerprint=site_fingerprint(inv.code, inv.lyon), check="outage",
                    client_id=inv.client_id, target="Lyon — siège", opened_at=at)


def test_the_links_return_is_told_the_same_however_often_the_router_retries(
        engine: Engine) -> None:
    inv = make_inventory(engine)
    lyon_incident(engine, inv, utcnow())
    assert ingest(engine, probe(inv, "SRV-A", "cpu", "PROBLEM")) == []  # a child
    routes = ingest(engine, probe(inv, "SRV-A2", "heartbeat"))  # the link is back
    back = events(engine)[-1].received_at
    opened = [r for r in routes if r.start is not None]
    assert [r.start.host for r in opened] == ["SRV-A"]  # type: ignore[union-attr]
    assert opened[0].start.opened_at == back  # type: ignore[union-attr]
    assert [r.workflow_id for r in routes if r.signal.status == "recovery"
            and r.workflow_id == "case-site"] == ["case-site"]
    # the batch told again (Temporal timed out): the same requests, which Temporal drops
    router = Router(engine, client=None, task_queue="unused")  # type: ignore[arg-type]
    with Session(engine) as s:
        rows = s.exec(select(AlertEventRow).where(
            AlertEventRow.raw_message_id == events(engine)[-1].raw_message_id)).all()
        again = router._site_returns(s, rows, router.policy)
    assert {r.request_id for r in again} <= {r.request_id for r in routes}
    assert len(again) == 2


def test_a_forged_heartbeat_does_not_bring_the_link_back(engine: Engine) -> None:
    inv = make_inventory(engine)
    incident = lyon_incident(engine, inv, utcnow())
    ingest(engine, probe(inv, "SRV-A", "cpu", "PROBLEM"))
    forged = probe(inv, "SRV-A2", "heartbeat")
    accept(engine, forged, peer_ip="203.0.113.9")  # not the client's registered address
    router = Router(engine, client=None, task_queue="unused",  # type: ignore[arg-type]
                    check_ip=True)
    router._materialize(router._claim())
    with Session(engine) as s:
        parent = s.get(Case, incident)
        assert parent is not None and not parent.recovered
        (child,) = s.exec(select(IncidentChild)).all()
    assert child.state == "failing" and child.released_at is None
