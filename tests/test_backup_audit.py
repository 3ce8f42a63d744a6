"""The daily backup audit: each expected job's day from the results received (worst wins),
``not_received`` when none came, cases for the bad days, the 7-day report and its mail.

A Monday-to-Friday job is not received on a Tuesday, and is not expected on a Saturday: shown
on both databases, and through the audit workflow on a time-skipping Temporal server.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

from aiosmtpd.smtp import SMTP
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import WorkflowExecutionStatus

from activities.absence import mail_backup_report
from domain.absence import (
    RunSeen,
    backup_fingerprint,
    backup_window,
    days_to_audit,
    decide_day,
    render_backup_report,
)
from domain.calendar import default_calendar
from intake.router import route_for
from messages.absence import BackupAuditInput, BackupAuditResult
from models.db import session_scope
from models.expectations import BackupDay
from models.tables import AlertEventRow, BackupJob, BackupRun, Communication
from records.absence import (
    AbsencePolicy,
    audit_backup_days,
    backup_report,
    mark_opened,
)
from tests.smtp_helpers import ServerThread
from tests.test_absence_support import (
    AbsenceDesk,
    Inventory,
    cases,
    ingest,
    make_inventory,
    tar_status,
    until,
)
from workflows.absence import BackupAuditWorkflow

PARIS = ZoneInfo("Europe/Paris")
TUESDAY = date(2026, 11, 24)
SATURDAY = date(2026, 11, 28)
WEDNESDAY_MORNING = datetime(2026, 11, 25, 8, 30, tzinfo=PARIS)
CALENDAR = default_calendar()


def expect_job(engine: Engine, inv: Inventory, schedule: str = "0 22 * * 1-5",
               multi: str = "worst", grace: int = 360) -> BackupJob:
    """The tar backup of srv-a (the source names no job: known by host and product)."""
    with session_scope(engine) as s:
        job = BackupJob(client_id=inv.client_id, server_id=inv.srv_a, name=None,
                        product="tar", schedule=schedule, grace_minutes=grace,
                        multi_result=multi)
        s.add(job)
        s.flush()
        return job


def result_at(engine: Engine, inv: Inventory, status: str, at: datetime) -> AlertEventRow:
    """A backup result that arrived at ``at`` (the real intake path, then dated)."""
    ingest(engine, tar_status(inv, "srv-a", status))
    with session_scope(engine) as s:
        run = s.exec(select(BackupRun).order_by(col(BackupRun.id).desc())).first()
        assert run is not None
        ev = s.get(AlertEventRow, run.event_id)
        assert ev is not None
        run.received_at = ev.received_at = at
        run.occurred_at = None
        s.add_all([run, ev])
        return ev


def days_of(engine: Engine) -> dict[date, str]:
    with Session(engine) as s:
        return {d.day: d.status for d in s.exec(select(BackupDay)).all()}


# --- the rules, without a database ----------------------------------------------------------


def test_the_window_of_a_day_and_the_worst_result() -> None:
    w = backup_window(TUESDAY, "0 22 * * 1-5", "Europe/Paris", 360)
    assert w is not None
    assert w.first_slot == datetime(2026, 11, 24, 22, tzinfo=PARIS)
    assert w.start == datetime(2026, 11, 24, 4, tzinfo=PARIS)  # Monday's window ended
    assert w.end == datetime(2026, 11, 25, 4, tzinfo=PARIS)
    assert backup_window(SATURDAY, "0 22 * * 1-5", "Europe/Paris", 360) is None
    t = w.first_slot
    runs = [RunSeen(1, t + timedelta(minutes=30), "failed"),
            RunSeen(2, t + timedelta(hours=2), "success"),
            RunSeen(3, t + timedelta(days=1), "cancelled")]  # Wednesday's: not counted
    assert decide_day(w, runs, t + timedelta(days=1)).status == "failed"
    assert decide_day(w, runs, t + timedelta(days=1), rule="last").status == "success"
    assert decide_day(w, [], t + timedelta(hours=1)).status == "pending"
    assert decide_day(w, [], t + timedelta(hours=7)).status == "not_received"


def test_a_business_morning_audits_every_day_since_the_previous_one() -> None:
    monday = date(2026, 11, 30)
    assert days_to_audit(monday, CALENDAR.is_business_day) == [
        date(2026, 11, 27), date(2026, 11, 28), date(2026, 11, 29)]
    assert days_to_audit(date(2026, 11, 25), CALENDAR.is_business_day) == [TUESDAY]
    # Tuesday after Easter Monday 2027: Friday to Monday
    assert days_to_audit(date(2027, 3, 30), CALENDAR.is_business_day) == [
        date(2027, 3, 26) + timedelta(days=i) for i in range(4)]


# --- the audit on both databases --------------------------------------------------------------


def test_a_mon_fri_job_is_not_received_on_tuesday_but_not_on_saturday(engine: Engine) -> None:
    inv = make_inventory(engine)
    job = expect_job(engine, inv)
    summary, orders = audit_backup_days(engine, [TUESDAY, SATURDAY], WEDNESDAY_MORNING)
    assert days_of(engine) == {TUESDAY: "not_received"}  # Saturday: nothing expected
    assert summary.statuses == {"not_received": 1} and summary.cases_opened == 1
    (order,) = orders
    assert order.case.fingerprint == backup_fingerprint(inv.code, "srv-a", None)
    assert "non reçue" in order.case.title and order.signal.event_id < 0  # type: ignore[operator]
    # a retried audit gives the same case the same event (ignored the second time)
    _, (again,) = audit_backup_days(engine, [TUESDAY], WEDNESDAY_MORNING)
    assert again.signal.event_id == order.signal.event_id
    mark_opened(engine, again, WEDNESDAY_MORNING)
    assert audit_backup_days(engine, [TUESDAY], WEDNESDAY_MORNING)[1] == []
    # the late success that finally comes is routed to that very case, and resolves it
    late = result_at(engine, inv, "Success!", WEDNESDAY_MORNING + timedelta(hours=1))
    route = route_for(late)
    assert route is not None and route.workflow_id == order.workflow_id
    assert route.start is None and route.signal.status == "recovery"
    assert job.id is not None


def test_a_job_known_since_tuesday_noon_owes_nothing_for_monday(engine: Engine) -> None:
    """Imported on Tuesday at noon (Paris), the Mon-Fri 22:00 job is judged from Tuesday's
    22:00 on: Monday opens no "not received" case, Tuesday does."""
    inv = make_inventory(engine)
    job = expect_job(engine, inv)
    with session_scope(engine) as s:
        row = s.get(BackupJob, job.id)
        assert row is not None
        row.created_at = datetime(2026, 11, 24, 12, 0, tzinfo=PARIS)
        s.add(row)
    monday = TUESDAY - timedelta(days=1)
    summary, orders = audit_backup_days(engine, [monday, TUESDAY], WEDNESDAY_MORNING)
    assert days_of(engine) == {TUESDAY: "not_received"}  # Monday: not judged at all
    assert summary.cases_opened == 1 and len(orders) == 1
    report = backup_report(engine, TUESDAY, days=2, now=WEDNESDAY_MORNING)
    assert report.rows[0].cells == ["before", "not_received"]
    assert report.problems([monday, TUESDAY])[0][1] == TUESDAY


def test_several_results_the_same_day_worst_wins_unless_the_job_says_last(
    engine: Engine,
) -> None:
    inv = make_inventory(engine)
    worst = expect_job(engine, inv)
    tuesday_night = datetime(2026, 11, 24, 22, 40, tzinfo=PARIS)
    failed = result_at(engine, inv, "Failed!!!", tuesday_night)
    result_at(engine, inv, "Success!", tuesday_night + timedelta(hours=2))
    summary, orders = audit_backup_days(engine, [TUESDAY], WEDNESDAY_MORNING)
    assert summary.statuses == {"failed": 1}
    (order,) = orders  # the router had not opened a case for it (not routed here)
    assert order.signal.event_id == failed.id and order.case.fingerprint == failed.fingerprint
    with session_scope(engine) as s:
        job = s.get(BackupJob, worst.id)
        assert job is not None
        job.multi_result = "last"
        s.add(job)
    summary, _ = audit_backup_days(engine, [TUESDAY], WEDNESDAY_MORNING)
    assert summary.statuses == {"success": 1}


def test_a_failure_the_router_already_opened_a_case_for_is_linked(engine: Engine) -> None:
    inv = make_inventory(engine)
    expect_job(engine, inv)
    ev = result_at(engine, inv, "Failed!!!", datetime(2026, 11, 24, 23, 0, tzinfo=PARIS))
    from models.tables import Case

    with session_scope(engine) as s:
        case = Case(workflow_id="case-bk", run_id="r", fingerprint=ev.fingerprint,
                    family="backup", opened_at=ev.received_at)
        s.add(case)
        s.flush()
        row = s.get(AlertEventRow, ev.id)
        assert row is not None
        row.case_id = case.id
        s.add(row)
    summary, orders = audit_backup_days(engine, [TUESDAY], WEDNESDAY_MORNING)
    assert (orders, summary.cases_linked) == ([], 1)


# --- the report and its mail ---------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(envelope.content)  # type: ignore[attr-defined]
        return "250 OK"


def test_the_report_matrix_and_its_mail_to_the_team(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    inv = make_inventory(engine)
    expect_job(engine, inv)
    result_at(engine, inv, "Success!", datetime(2026, 11, 23, 22, 30, tzinfo=PARIS))  # Mon
    result_at(engine, inv, "Failed!!!", datetime(2026, 11, 25, 22, 30, tzinfo=PARIS))  # Wed
    now = datetime(2026, 11, 30, 8, 30, tzinfo=PARIS)
    report = backup_report(engine, date(2026, 11, 29), days=7, now=now)
    (row,) = report.rows
    assert report.days[0] == TUESDAY - timedelta(days=1)
    assert row.cells == ["success", "not_received", "failed", "not_received", "not_received",
                         "none", "none"]
    data = report.as_dict()
    assert data["rows"][0]["cells"][2]["category"] == "failed"  # type: ignore[index]
    subject, text, html = render_backup_report(report)
    assert "Sauvegardes du dim. 29/11" in subject
    assert "KO" in text and "non reçue" in html

    inbox = Inbox()
    with ServerThread(lambda: SMTP(inbox)) as smtp:
        pol = AbsencePolicy(smtp_relay_host="127.0.0.1", smtp_relay_port=smtp.port,
                            smtp_relay_tls="none", team_email="equipe@desk.example",
                            mail_from="vigie@desk.example")
        monday_focus = [date(2026, 11, 27), date(2026, 11, 28), date(2026, 11, 29)]
        sent = mail_backup_report(engine, pol, date(2026, 11, 29), now, monday_focus)
        assert sent == "envoyé à equipe@desk.example"
        assert mail_backup_report(engine, pol, date(2026, 11, 29), now) == "déjà envoyé"
    (raw,) = inbox.messages
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["To"] == "equipe@desk.example"
    assert msg["Subject"] == render_backup_report(report, monday_focus)[0] == (
        "[Vigie] Sauvegardes du ven. 27/11 au dim. 29/11 : 1 à traiter (1 travaux suivis)")
    body = msg.get_body(("plain",))
    assert body is not None and "À traiter" in body.get_content()
    assert "non reçue (ven. 27/11)" in body.get_content()
    assert msg.get_body(("html",)) is not None
    with Session(engine) as s:
        (comm,) = s.exec(select(Communication)).all()
    assert (comm.key, comm.status) == ("backup-report:2026-11-29", "sent")
    off = AbsencePolicy()
    assert mail_backup_report(engine, off, date(2026, 11, 29), now).startswith("désactivé")


# --- the audit workflow, on business mornings, with skipped time --------------------------------


def next_morning(after: datetime, weekday: int) -> datetime:
    """The next ``weekday`` at 08:30 Paris after ``after`` whose day and the day before are
    business days (so a Tuesday holiday never blurs the scenario)."""
    day = after.astimezone(PARIS).date() + timedelta(days=1)
    while not (day.weekday() == weekday and CALENDAR.is_business_day(day)
               and (weekday == 0 or CALENDAR.is_business_day(day - timedelta(days=1)))):
        day += timedelta(days=1)
    return datetime.combine(day, time(8, 30), tzinfo=PARIS)


async def run_audit(desk: AbsenceDesk) -> BackupAuditResult:
    """Starts the audit and reads its result from the history once it completed.

    Not ``handle.result()``: waiting on a result unlocks the test server's time skipping,
    and a workflow that ends at once (a skipped morning) can then let the clock race ahead
    to the next timer anywhere on the server, years away.
    """
    wid = f"audit-{uuid.uuid4().hex[:8]}"
    desk.started.append(wid)
    handle = await desk.client.start_workflow(
        BackupAuditWorkflow.run, BackupAuditInput(send_report=False), id=wid,
        task_queue=desk.task_queue)
    for _ in range(200):
        if (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED:
            break
        await asyncio.sleep(0.05)
    history = await handle.fetch_history()
    done = history.events[-1].workflow_execution_completed_event_attributes
    (result,) = await desk.client.data_converter.decode(done.result.payloads,
                                                        [BackupAuditResult])
    return result


async def test_the_audit_workflow_on_business_mornings(time_env, sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    inv = make_inventory(engine)
    expect_job(engine, inv)
    desk = AbsenceDesk(time_env.client, engine)
    try:
        async with desk.worker:
            wednesday = next_morning(await time_env.get_current_time(), 2)
            await time_env.sleep(wednesday - await time_env.get_current_time())
            result = await run_audit(desk)
            tuesday = wednesday.date() - timedelta(days=1)
            assert result.audit is not None and result.audit.days == [tuesday.isoformat()]
            assert result.audit.statuses == {"not_received": 1}
            await until(lambda: len(cases(engine, family="backup")) == 1, what="backup case")
            (case,) = cases(engine, family="backup")
            assert case.fingerprint == backup_fingerprint(inv.code, "srv-a", None)

            saturday = wednesday + timedelta(days=3)
            await time_env.sleep(saturday - await time_env.get_current_time())
            assert (await run_audit(desk)).skipped  # not a business morning

            monday = next_morning(saturday, 0)
            await time_env.sleep(monday - await time_env.get_current_time())
            result = await run_audit(desk)
            assert result.audit is not None and len(result.audit.days) >= 3
            audited = days_of(engine)
            # Friday not received; Saturday and Sunday were never expected
            friday = monday.date() - timedelta(days=3)
            assert audited == {tuesday: "not_received", friday: "not_received"}
            await until(lambda: [c.repeat_count for c in cases(engine, family="backup")]
                        == [case.repeat_count + 1], what="Friday folded into the same case")
            assert datetime.now(UTC) < monday  # the virtual clock really moved, not the wall
    finally:
        await desk.cleanup()
