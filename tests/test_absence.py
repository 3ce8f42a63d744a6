"""The absence sweep's database half on SQLite and PostgreSQL: due times kept by the router,
the indexed query, missing / muted / back, proposals, repeats that stop, the CSV import.

The Temporal half (cases really opened, resolved, muted) is ``test_absence_temporal.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from domain.absence import HEARTBEAT_CLAUSE, heartbeat_fingerprint
from messages.cases import Criticality, case_workflow_id
from models.db import session_scope
from models.expectations import AbsenceEvent, Expectation, Silence
from models.tables import Case
from models.types import utcnow
from records.absence import (
    AbsencePolicy,
    confirm_expectation,
    expect_defaults,
    import_expectations_csv,
    mark_noted,
    mark_opened,
    mark_resolved,
    overdue_query,
    pending_proposals,
    plan_repeat_notes,
    plan_sweep,
    update_backup_job,
)
from tests.test_absence_support import (
    expectation,
    ingest,
    make_inventory,
    probe,
    tar_status,
    watch_heartbeat,
)

MIN = timedelta(minutes=1)


def explain(engine: Engine, at: datetime) -> str:
    """The database's own plan for the sweep's query, as one string."""
    stmt = overdue_query(at, 1000)
    sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))  # type: ignore[attr-defined]
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all()
            return "\n".join(str(r[-1]) for r in rows)
        conn.execute(text("SET enable_seqscan = off"))  # a tiny table: ask what it *can* use
        return "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {sql}")).all())


def test_the_sweep_query_reads_the_due_index_only(engine: Engine) -> None:
    plan = explain(engine, utcnow())
    assert "ix_expectation_due" in plan, plan
    assert "SCAN expectation\n" not in plan + "\n" and "Seq Scan" not in plan, plan


def test_a_heartbeat_is_missing_after_period_plus_grace_and_not_before(engine: Engine) -> None:
    inv = make_inventory(engine)
    ingest(engine, probe(inv, "SRV-A", "heartbeat"))  # proposed on first sight
    exp = expectation(engine, inv.srv_a)
    assert exp.state == "proposed" and exp.source == "auto"
    assert plan_sweep(engine, exp.next_due_at + MIN).opens == []  # type: ignore[operator]
    exp = confirm_expectation(engine, exp.id or 0, "tech")
    seen = exp.last_seen_at
    assert seen is not None and exp.next_due_at == seen + timedelta(minutes=75)

    assert plan_sweep(engine, seen + 74 * MIN).opens == []
    plan = plan_sweep(engine, seen + 76 * MIN)
    (order,) = plan.opens
    fp = heartbeat_fingerprint(inv.code, "SRV-A")
    assert order.case.fingerprint == fp == exp.fingerprint  # the router's own key
    assert order.workflow_id == case_workflow_id(fp)
    assert order.case.preset_criticality == Criticality.MAJOR
    assert order.case.preset_reason == HEARTBEAT_CLAUSE
    assert order.signal.event_id is not None and order.signal.event_id < 0
    # Temporal did not acknowledge (crash): the next sweep retries with the same event id
    (again,) = plan_sweep(engine, seen + 77 * MIN).opens
    assert again.signal.event_id == order.signal.event_id
    mark_opened(engine, again, seen + 77 * MIN)
    assert plan_sweep(engine, seen + 78 * MIN).opens == []
    assert expectation(engine, inv.srv_a).state == "missing"

    # the heartbeat returns: the router moves the due time, the sweep resolves the case
    ingest(engine, probe(inv, "srv-a", "heartbeat"))
    back = plan_sweep(engine, utcnow() + MIN)
    (resolve,) = back.resolves
    assert resolve.workflow_id == order.workflow_id and "rétablissement" in resolve.reason
    mark_resolved(engine, resolve, utcnow())
    exp = expectation(engine, inv.srv_a)
    assert exp.state == "ok" and exp.case_workflow_id is None


def test_a_link_case_mutes_the_heartbeats_of_its_sites_until_it_resolves(
    engine: Engine,
) -> None:
    inv = make_inventory(engine)
    t0 = utcnow()
    for srv in (inv.srv_a, inv.srv_a2, inv.srv_b):
        watch_heartbeat(engine, srv, t0)
    # the Annecy server says the VPN to SITE-LYON is down: both sites are concerned
    with session_scope(engine) as s:
        link = Case(ref="VIG-LINK", workflow_id="case-link", run_id="r1", fingerprint="x",
                    client_id=inv.client_id, server_id=inv.srv_b, host="srv-b",
                    family="link", check="vpn", target="SITE-LYON", opened_at=t0)
        s.add(link)
        s.flush()
        link_id = link.id
    plan = plan_sweep(engine, t0 + 80 * MIN)
    assert plan.opens == [] and plan.muted == 3
    assert {n.workflow_id for n in plan.notes} == {"case-link"}
    assert all("pas d'alerte séparée" in n.text for n in plan.notes)
    for n in plan.notes:
        mark_noted(engine, n, t0)
    exp = expectation(engine, inv.srv_a)
    assert (exp.state, exp.muted_by_case_id) == ("muted", link_id)
    again = plan_sweep(engine, t0 + 85 * MIN)
    assert (again.opens, again.notes, again.muted) == ([], [], 0)
    with Session(engine) as s:
        muted = s.exec(select(AbsenceEvent).where(AbsenceEvent.linked_case_id == link_id)).all()
    assert len(muted) == 3 and {m.kind for m in muted} == {"heartbeat_muted"}

    with session_scope(engine) as s:  # the link comes back; the servers still do not
        row = s.get(Case, link_id)
        assert row is not None
        row.state = "resolved"
        s.add(row)
    reopened = plan_sweep(engine, t0 + 90 * MIN)
    # Lyon's two silent servers are one site incident (records.incidents), Annecy's only
    # server a heartbeat case of its own
    assert sorted(o.case.family for o in reopened.opens) == ["heartbeat", "site"]
    assert reopened.muted == 2


def test_only_the_site_of_the_link_case_is_muted(engine: Engine) -> None:
    inv = make_inventory(engine)
    t0 = utcnow()
    for srv in (inv.srv_a, inv.srv_b):
        watch_heartbeat(engine, srv, t0)
    with session_scope(engine) as s:  # Lyon reports its latency to a peer named nowhere
        s.add(Case(workflow_id="case-l2", run_id="r", client_id=inv.client_id,
                   server_id=inv.srv_a, family="link", check="latency", target="DATACENTER",
                   opened_at=t0))
    plan = plan_sweep(engine, t0 + 80 * MIN)
    assert plan.muted == 1
    assert [o.case.server_id for o in plan.opens] == [inv.srv_b]


def test_the_disk_report_is_due_after_the_next_three_oclock(engine: Engine) -> None:
    inv = make_inventory(engine)
    ingest(engine, probe(inv, "SRV-B", "disk_free", "PROBLEM", target="D:"))
    exp = expectation(engine, inv.srv_b, "disk_report")
    assert exp.state == "proposed" and exp.schedule == "0 3 * * *"
    exp = confirm_expectation(engine, exp.id or 0, "tech")
    assert exp.next_due_at is not None and exp.last_seen_at is not None
    assert timedelta(0) < exp.next_due_at - exp.last_seen_at <= timedelta(hours=26)
    (order,) = plan_sweep(engine, exp.next_due_at + MIN).opens
    assert order.case.check == "disk_report" and order.case.preset_criticality is None


def test_unknown_backup_jobs_are_proposed_then_confirmed(engine: Engine) -> None:
    inv = make_inventory(engine)
    ingest(engine, tar_status(inv, "srv-a", "Failed!!!"))
    (job,) = pending_proposals(engine, inv.client_id).backup_jobs
    assert (job.name, job.product, job.confirmed) == (None, "tar", False)
    assert job.proposed_at is not None and job.schedule.endswith("* * *")
    ingest(engine, tar_status(inv, "srv-a", "Success!"))  # the same job: nothing new
    assert len(pending_proposals(engine, inv.client_id).backup_jobs) == 1
    job = update_backup_job(engine, job.id or 0, days="lun-ven", at_time="21:30",
                            multi_result="last", confirm=True)
    assert (job.schedule, job.confirmed, job.multi_result) == ("30 21 * * 1-5", True, "last")
    assert pending_proposals(engine, inv.client_id).backup_jobs == []


def test_onboarding_defaults_and_the_csv_import(engine: Engine) -> None:
    inv = make_inventory(engine)
    made = expect_defaults(engine, inv.client_id, "tech")
    assert sorted((e.server_id, e.kind) for e in made) == sorted(
        (s, k) for s in (inv.srv_a, inv.srv_a2, inv.srv_b) for k in ("heartbeat", "disk_report"))
    assert all(e.state == "ok" and e.grace_minutes for e in made)
    csv_text = (
        "type;client;hostname;site;period;grace;days;at;starts;ends;reason\n"
        f"heartbeat;{inv.code};srv-a;;30;10;;;;;\n"
        f"disk_report;{inv.code};srv-b;;;90;lun-ven;04:00;;;\n"
        f"silence;{inv.code};;Annecy;;;;;2026-12-01T20:00+01:00;2026-12-01T23:00+01:00;"
        f"migration\n"
    )
    bad = import_expectations_csv(engine, csv_text + f"heartbeat;{inv.code};nope;;;;;;;;\n",
                                  by="tech")
    assert [n for n, _ in bad.errors] == [5]
    assert expectation(engine, inv.srv_a).period_minutes == 60  # all or nothing
    ok = import_expectations_csv(engine, csv_text, by="tech")
    assert ok.errors == [] and dict(ok.created) == {"heartbeat": 1, "disk_report": 1,
                                                    "silence": 1}
    a, b = expectation(engine, inv.srv_a), expectation(engine, inv.srv_b, "disk_report")
    assert (a.period_minutes, a.grace_minutes) == (30, 10)
    assert (b.schedule, b.grace_minutes) == ("0 4 * * 1-5", 90)
    with Session(engine) as s:
        (sil,) = s.exec(select(Silence).where(Silence.client_id == inv.client_id)).all()
    assert sil.site_id == inv.annecy and sil.created_by == "tech"


def test_repeats_that_stop_without_recovery_are_noted_once(engine: Engine) -> None:
    inv = make_inventory(engine)
    t0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    with session_scope(engine) as s:
        link = Case(workflow_id="case-vpn", run_id="r", client_id=inv.client_id,
                    family="link", check="latency", target="SITE-LYON", opened_at=t0,
                    last_seen=t0 + 40 * MIN, repeat_count=4)  # every 10 minutes
        quiet = Case(workflow_id="case-cpu", run_id="r", client_id=inv.client_id,
                     family="performance", check="cpu", opened_at=t0, last_seen=t0,
                     repeat_count=0)
        s.add_all([link, quiet])
    policy = AbsencePolicy(stale_floor_minutes=20)
    assert plan_repeat_notes(engine, t0 + 65 * MIN, policy) == []  # 25 min < 3 intervals
    (note,) = plan_repeat_notes(engine, t0 + 80 * MIN, policy)
    assert note.workflow_id == "case-vpn" and "cessé sans message de rétablissement" in note.text
    (same,) = plan_repeat_notes(engine, t0 + 90 * MIN, policy)  # not acknowledged yet
    assert same.absence_id == note.absence_id
    mark_noted(engine, note, t0 + 90 * MIN)
    assert plan_repeat_notes(engine, t0 + 95 * MIN, policy) == []


def test_a_disabled_expectation_is_not_swept(engine: Engine) -> None:
    inv = make_inventory(engine)
    t0 = utcnow()
    exp = watch_heartbeat(engine, inv.srv_a, t0)
    with session_scope(engine) as s:
        row = s.get(Expectation, exp.id)
        assert row is not None
        row.state = "disabled"
        s.add(row)
    assert plan_sweep(engine, t0 + 3 * 60 * MIN).opens == []
