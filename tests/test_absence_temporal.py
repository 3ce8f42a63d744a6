"""Absence, for real: the sweep workflow looping on a time-skipping Temporal server, the real
case workflow and activities, a real SQLite database.

* a heartbeat that stops opens a major case after period + grace, and not before; its
  return resolves the case;
* a site whose link is down has its servers' missing heartbeats linked to the link case
  (no separate page) until the link case is resolved;
* a silence (maintenance window) keeps a missing heartbeat quiet until it ends;
* the Schedules are created once and updated in place (dev server).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import WorkflowHandle

from base.settings import Settings
from domain.absence import HEARTBEAT_CLAUSE, heartbeat_fingerprint
from messages.absence import SweepInput
from messages.cases import ActionInput, AlertSignal, CaseInput, case_workflow_id
from models.db import session_scope
from models.expectations import AbsenceEvent
from models.tables import AuditEvent
from records.absence import note_report
from records.silences import SilenceRequest, create_silence, silence_hits
from tests.test_absence_support import (
    AbsenceDesk,
    Inventory,
    cases,
    expectation,
    make_inventory,
    until,
    watch_heartbeat,
)
from vigie.schedules import (
    AUDIT_SCHEDULE_ID,
    ERASURE_SCHEDULE_ID,
    SWEEP_SCHEDULE_ID,
    ensure_schedules,
)
from workflows.absence import AbsenceSweepWorkflow
from workflows.case import CaseWorkflow

MIN = timedelta(minutes=1)
SWEEP_EVERY = 5 * MIN


def heartbeat(engine: Engine, inv: Inventory, server_id: int, host: str, at: datetime) -> None:
    """What the router's database step does for a heartbeat mail received at ``at``."""
    with session_scope(engine) as s:
        note_report(s, "heartbeat", client_id=inv.client_id, server_id=server_id, at=at,
                    fingerprint=heartbeat_fingerprint(inv.code, host))


async def start_sweeping(desk: AbsenceDesk) -> WorkflowHandle:
    handle = await desk.client.start_workflow(
        AbsenceSweepWorkflow.run, SweepInput(every_seconds=int(SWEEP_EVERY.total_seconds())),
        id=f"sweep-{uuid.uuid4().hex[:8]}", task_queue=desk.task_queue)
    desk.started.append(handle.id)
    return handle


def ledger(engine: Engine, case_id: int | None) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.case_id == case_id)
                           .order_by(col(AuditEvent.seq))).all())


async def test_a_missing_heartbeat_is_major_after_period_and_grace_and_resolved_on_return(
    time_env, sqlite_engine: Engine
) -> None:
    engine = sqlite_engine
    inv = make_inventory(engine)
    desk = AbsenceDesk(time_env.client, engine)
    try:
        async with desk.worker:
            t0 = await time_env.get_current_time()
            watch_heartbeat(engine, inv.srv_a, t0)  # every hour, 15 minutes of grace
            heartbeat(engine, inv, inv.srv_a, "SRV-A", t0)  # ... and then nothing
            await start_sweeping(desk)

            await time_env.sleep(72 * MIN)  # sweeps at 0, 5 ... 70 minutes
            assert cases(engine) == [] and expectation(engine, inv.srv_a).state == "ok"

            await time_env.sleep(9 * MIN)  # the sweep at 75 minutes finds it late
            await until(lambda: len(cases(engine, family="heartbeat")) == 1, what="case")
            await until(lambda: cases(engine)[0].criticality == "major", what="major")
            (case,) = cases(engine)
            assert t0 + 75 * MIN <= case.opened_at <= t0 + 80 * MIN + MIN
            assert case.workflow_id == case_workflow_id(heartbeat_fingerprint(inv.code, "SRV-A"))
            classify = [a for a in ledger(engine, case.id) if a.action == "classify"]
            assert classify and classify[0].reason == HEARTBEAT_CLAUSE
            assert classify[0].actor == "system"
            assert expectation(engine, inv.srv_a).state == "missing"

            back = await time_env.get_current_time()
            heartbeat(engine, inv, inv.srv_a, "SRV-A", back)  # the agent is alive again
            await time_env.sleep(SWEEP_EVERY + MIN)
            await until(lambda: cases(engine)[0].state == "resolved", what="resolved")
            assert expectation(engine, inv.srv_a).state == "ok"
            resolved = [a for a in ledger(engine, case.id) if a.action == "resolve"]
            assert resolved[-1].actor == "system" and "rétablissement" in resolved[-1].reason
    finally:
        await desk.cleanup()


async def test_a_link_down_case_mutes_its_sites_heartbeat_cases(
    time_env, sqlite_engine: Engine
) -> None:
    engine = sqlite_engine
    inv = make_inventory(engine)
    desk = AbsenceDesk(time_env.client, engine)
    try:
        async with desk.worker:
            t0 = await time_env.get_current_time()
            for srv, host in ((inv.srv_a, "SRV-A"), (inv.srv_a2, "SRV-A2")):  # Lyon
                watch_heartbeat(engine, srv, t0)
                heartbeat(engine, inv, srv, host, t0)
            watch_heartbeat(engine, inv.srv_b, t0 + 60 * MIN)  # Annecy: fine for a while
            # Annecy's probe says the VPN to SITE-LYON is down, as the router opens it
            link_fp = f"{inv.code}|srv-b|link|vpn|site-lyon"
            link = await desk.client.start_workflow(
                CaseWorkflow.run,
                CaseInput(fingerprint=link_fp, client_id=inv.client_id, server_id=inv.srv_b,
                          host="SRV-B", family="link", check="vpn", target="SITE-LYON",
                          title="SRV-B — VPN vers SITE-LYON coupé", opened_at=t0),
                id=case_workflow_id(link_fp), task_queue=desk.task_queue,
                start_signal="alert",
                start_signal_args=[AlertSignal(event_id=None, status="problem",
                                               received_at=t0, opening=True)])
            await until(lambda: len(cases(engine, family="link")) == 1, what="link case")
            await start_sweeping(desk)

            await time_env.sleep(81 * MIN)
            await until(lambda: {expectation(engine, s).state for s in
                                 (inv.srv_a, inv.srv_a2)} == {"muted"}, what="muted")
            (link_case,) = cases(engine, family="link")

            def notes() -> list[str]:
                return [a.data.get("text", "") for a in ledger(engine, link_case.id)
                        if a.action == "note"]

            await until(lambda: len([n for n in notes() if "pas d'alerte séparée" in n]) == 2,
                        what="the servers' absences noted on the link case")
            assert {n.split(" :")[0] for n in notes() if "séparée" in n} == {"SRV-A", "SRV-A2"}
            # the VPN alert was not re-sent for an hour, and no recovery came: said so, once
            assert len([n for n in notes() if "cessé sans message de rétablissement" in n]) == 1
            assert cases(engine, family="heartbeat") == []  # nobody paged for the servers
            with Session(engine) as s:
                muted = s.exec(select(AbsenceEvent).where(
                    AbsenceEvent.linked_case_id == link_case.id)).all()
            assert {m.server_id for m in muted if m.kind == "heartbeat_muted"} == {
                inv.srv_a, inv.srv_a2}

            # the link is repaired, the Lyon servers still say nothing: now their site pages,
            # once (records.incidents: two watched servers of one site, one site incident)
            await link.execute_update(CaseWorkflow.resolve, ActionInput(
                actor="tech", reason="VPN rétabli par l'opérateur"))
            await until(lambda: cases(engine, family="link")[0].state == "resolved",
                        what="link resolved")
            await time_env.sleep(SWEEP_EVERY + MIN)
            await until(lambda: len(cases(engine, family="site")) == 1,
                        what="the site incident after the link")
            await until(lambda: cases(engine, family="site")[0].criticality == "major",
                        what="major")
            assert cases(engine, family="heartbeat") == []
    finally:
        await desk.cleanup()


async def test_a_silence_keeps_a_missing_heartbeat_quiet_until_it_ends(
    time_env, sqlite_engine: Engine
) -> None:
    engine = sqlite_engine
    inv = make_inventory(engine)
    desk = AbsenceDesk(time_env.client, engine)
    try:
        async with desk.worker:
            t0 = await time_env.get_current_time()
            watch_heartbeat(engine, inv.srv_a, t0)
            heartbeat(engine, inv, inv.srv_a, "SRV-A", t0)
            sil = create_silence(engine, SilenceRequest(
                starts_at=t0, ends_at=t0 + 100 * MIN, reason="remplacement de la carte mère",
                created_by="tech", server_id=inv.srv_a))
            await start_sweeping(desk)
            await time_env.sleep(81 * MIN)
            await until(lambda: expectation(engine, inv.srv_a).state == "silenced",
                        what="silenced")
            assert cases(engine) == []  # recorded, nobody paged
            (hit,) = silence_hits(engine, sil.id or 0)
            assert hit.absence_event_id is not None

            await time_env.sleep(25 * MIN)  # the window closed at 100 minutes
            await until(lambda: [c.criticality for c in cases(engine)] == ["major"],
                        what="the case once the silence is over")
    finally:
        await desk.cleanup()


@pytest.mark.slow
async def test_the_schedules_are_created_once_and_updated_in_place(dev_env) -> None:
    client = dev_env.client
    queue = f"sched-{uuid.uuid4().hex[:6]}"
    first = Settings(task_queue=queue, absence_sweep_seconds=60, backup_audit_at="08:30")
    try:
        assert await ensure_schedules(client, first) == [SWEEP_SCHEDULE_ID, AUDIT_SCHEDULE_ID,
                                                         ERASURE_SCHEDULE_ID]
        await client.get_schedule_handle(SWEEP_SCHEDULE_ID).pause(note="maintenance")
        second = Settings(task_queue=queue, absence_sweep_seconds=120, backup_audit_at="07:45")
        await ensure_schedules(client, second)  # again: updated, not duplicated
        sweep = await client.get_schedule_handle(SWEEP_SCHEDULE_ID).describe()
        assert sweep.schedule.spec.intervals[0].every == timedelta(seconds=120)
        assert sweep.schedule.state.paused  # a person's pause survives a worker restart
        audit = await client.get_schedule_handle(AUDIT_SCHEDULE_ID).describe()
        (cal,) = audit.schedule.spec.calendars
        assert (cal.hour[0].start, cal.minute[0].start) == (7, 45)
        assert (cal.day_of_week[0].start, cal.day_of_week[0].end) == (1, 5)
        assert audit.schedule.spec.time_zone_name == "Europe/Paris"
        ids = [s.id async for s in await client.list_schedules()]
        assert ids.count(SWEEP_SCHEDULE_ID) == 1
    finally:
        for sid in (SWEEP_SCHEDULE_ID, AUDIT_SCHEDULE_ID, ERASURE_SCHEDULE_ID):
            try:
                await client.get_schedule_handle(sid).delete()
            except Exception:
                pass
