"""The visit workflow on the time-skipping Temporal server, with the real activities and a real
SQLite database: the client confirms through the signed link of the mail; without an answer
the reminders go out and the planner is alerted; a reschedule keeps the history; the day
before, the consultant and the client are reminded; an expired or tampered link is refused;
a visit never runs past its day."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import WorkflowUpdateFailedError

from messages.visits import (
    AssignConsultant,
    CancelVisit,
    ClientAnswer,
    ProposeDates,
    RescheduleVisit,
    SendReport,
    StartVisit,
    VisitState,
    VisitStep,
    WriteReport,
)
from models.visits import Visit, VisitReport
from planning import checklist
from planning.answers import answer_from_link
from planning.links import LinkRefused, read_answer
from planning.visits import timeline
from tests.visit_fixtures import (
    SECRET,
    own_time_server,
    settled_history,
    tokens_in,
    visit_desk,
)

pytestmark = pytest.mark.slow
V = VisitState


@pytest.fixture(scope="module")
async def time_env() -> AsyncIterator[Any]:
    """A time-skipping test server of this module's own (see ``own_time_server``)."""
    async with own_time_server() as env:
        yield env


async def proposed(desk: Any, vid: int, handle: Any, skip: int = 0) -> list[str]:
    dates = await desk.business_days(vid, 3, skip=skip)
    await handle.execute_update("assign", AssignConsultant("planner", desk.consultant_id))
    await handle.execute_update("propose", ProposeDates("planner", tuple(dates)))
    await desk.wait_for(handle, V.AWAITING_CLIENT)
    return dates


async def test_the_client_confirms_a_date_through_the_signed_link_of_the_mail(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        vid, handle = await desk.new_visit()
        dates = await proposed(desk, vid, handle)
        [mail] = await desk.wait_for_mail(vid, VisitStep.PROPOSAL)
        assert mail.recipient.endswith("<claire.durand@client-a.example>")
        links = tokens_in(mail.body)
        assert len(links) == 4  # one per date, and "none of these suit"
        answer, state = await answer_from_link(desk.client, SECRET, links[1], await desk.now())
        assert answer.date == dates[1] and state == V.CONFIRMED
        view = await desk.wait_for(handle, V.CONFIRMED)
        assert view.date == dates[1]
        await desk.wait_for_mail(vid, VisitStep.CONFIRMED)
        with Session(desk.engine) as s:
            visit = s.get(Visit, vid)
            assert visit is not None and visit.state == V.CONFIRMED
            assert visit.date == dt.date.fromisoformat(dates[1])
            actions = [e.action for e in timeline(s, vid)]
        assert actions[:5] == ["plan", "assign", "propose", "proposal_sent", "client_answer"]
        await handle.execute_update("cancel", CancelVisit("planner", "fin du test"))


async def test_no_answer_brings_reminders_then_the_planner_is_alerted(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        vid, handle = await desk.new_visit()
        await proposed(desk, vid, handle)
        assert desk.mails(vid, VisitStep.REMINDER) == []
        await time_env.sleep(dt.timedelta(hours=49))
        [first] = await desk.wait_for_mail(vid, VisitStep.REMINDER)
        assert len(tokens_in(first.body)) == 4  # the same choices again
        assert desk.mails(vid, VisitStep.PLANNER_ALERT) == []
        await time_env.sleep(dt.timedelta(hours=48))
        await desk.wait_for_mail(vid, VisitStep.REMINDER, count=2)
        await time_env.sleep(dt.timedelta(hours=72))
        [alert] = await desk.wait_for_mail(vid, VisitStep.PLANNER_ALERT)
        assert alert.recipient == "planning@desk.example"
        assert "aucune réponse" in alert.body
        view = await desk.wait_for(handle, V.AWAITING_CLIENT)  # still waiting, planner acts
        assert [e.action for e in view.timeline][-1] == "mail_outcome"
        assert "deadline" in [e.action for e in view.timeline]
        await handle.execute_update("cancel", CancelVisit("planner", "fin du test"))


async def test_a_reschedule_keeps_the_history_of_earlier_dates(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        vid, handle = await desk.new_visit()
        first = await proposed(desk, vid, handle)
        [mail] = await desk.wait_for_mail(vid, VisitStep.PROPOSAL)
        await answer_from_link(desk.client, SECRET, tokens_in(mail.body)[0], await desk.now())
        await desk.wait_for(handle, V.CONFIRMED)
        with pytest.raises(WorkflowUpdateFailedError):  # a reason is required
            await handle.execute_update("reschedule", RescheduleVisit("planner", " "))
        await handle.execute_update("reschedule",
                                    RescheduleVisit("planner", "client indisponible"))
        second = await desk.business_days(vid, 2, skip=5)
        await handle.execute_update("propose", ProposeDates("planner", tuple(second)))
        view = await desk.wait_for(handle, V.AWAITING_CLIENT)
        assert view.proposal == 2 and view.proposed_dates == tuple(second)
        assert any(first[0] in line and "abandonnée" in line for line in view.history)
        assert any(line.startswith("proposition 1") for line in view.history)
        # the first proposal's links no longer answer anything, and reach nothing
        old = tokens_in(mail.body)[1]
        events = await settled_history(handle)  # the new proposal's lines all written
        _, state = await answer_from_link(desk.client, SECRET, old, await desk.now())
        assert state == V.AWAITING_CLIENT
        assert len((await handle.fetch_history()).events) == events
        with Session(desk.engine) as s:
            lines = timeline(s, vid)
        assert [e.action for e in lines].count("propose") == 2
        assert [e.action for e in lines].count("client_answer") == 1
        assert any(e.action == "reschedule" and e.reason == "client indisponible"
                   for e in lines)
        await handle.execute_update("cancel", CancelVisit("planner", "fin du test"))


async def test_the_consultant_and_the_client_are_reminded_the_day_before(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        vid, handle = await desk.new_visit()
        dates = await proposed(desk, vid, handle)
        [mail] = await desk.wait_for_mail(vid, VisitStep.PROPOSAL)
        await answer_from_link(desk.client, SECRET, tokens_in(mail.body)[0], await desk.now())
        await desk.wait_for(handle, V.CONFIRMED)
        assert desk.mails(vid, VisitStep.DAY_BEFORE_CLIENT) == []
        day = dt.date.fromisoformat(dates[0])
        eve = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(10, 30),
                                  dt.timezone(dt.timedelta(hours=1)))
        await time_env.sleep(eve - await desk.now())
        [client_mail] = await desk.wait_for_mail(vid, VisitStep.DAY_BEFORE_CLIENT)
        [consultant] = await desk.wait_for_mail(vid, VisitStep.DAY_BEFORE_CONSULTANT)
        assert "claire.durand@client-a.example" in client_mail.recipient
        assert "camille.conseil@desk.example" in consultant.recipient
        assert "demain" in client_mail.subject.lower()
        await handle.execute_update("cancel", CancelVisit("planner", "fin du test"))


async def test_an_expired_or_tampered_link_is_refused(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        vid, handle = await desk.new_visit()
        await proposed(desk, vid, handle)
        [mail] = await desk.wait_for_mail(vid, VisitStep.PROPOSAL)
        token = tokens_in(mail.body)[0]
        tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
        with pytest.raises(LinkRefused, match="pas valide"):
            await answer_from_link(desk.client, SECRET, tampered, await desk.now())
        with pytest.raises(LinkRefused, match="pas valide"):
            read_answer("another-key", token, await desk.now())
        await time_env.sleep(dt.timedelta(hours=169))
        with pytest.raises(LinkRefused, match="expiré"):
            await answer_from_link(desk.client, SECRET, token, await desk.now())
        # a late answer that reached the workflow some other way changes nothing either
        answer = read_answer(SECRET, token, (await desk.now()) - dt.timedelta(hours=2))
        await handle.signal("client_answer", ClientAnswer(answer.proposal, answer.date))
        for _ in range(50):
            view = await desk.wait_for(handle, V.AWAITING_CLIENT)
            if view.timeline[-1].action == "client_answer_refused":
                break
            await asyncio.sleep(0.1)
        assert view.timeline[-1].action == "client_answer_refused"
        assert "échéance" in view.timeline[-1].reason
        await handle.execute_update("cancel", CancelVisit("planner", "fin du test"))


async def test_a_visit_ends_with_its_day_and_lists_the_items_left_open(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        vid, handle = await desk.new_visit()
        await proposed(desk, vid, handle)
        [mail] = await desk.wait_for_mail(vid, VisitStep.PROPOSAL)
        await answer_from_link(desk.client, SECRET, tokens_in(mail.body)[0], await desk.now())
        await desk.wait_for(handle, V.CONFIRMED)
        await handle.execute_update("start", StartVisit("conseil"))
        with Session(desk.engine) as s:
            for key in ("alerting", "access_control", "backups"):
                checklist.save_answer(s, vid, key, "ok", "vu", "conseil")
            s.commit()
        await time_env.sleep(dt.timedelta(hours=25))  # the day ends before the report
        view = await desk.wait_for(handle, V.REPORT_WRITTEN)
        assert any(e.action == "day_over" and e.actor == "system" for e in view.timeline)
        with Session(desk.engine) as s:
            visit = s.get(Visit, vid)
            assert visit is not None
            assert "Onduleurs" in visit.open_items and "Sauvegardes des serveurs" not in \
                visit.open_items
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update("write_report", WriteReport("conseil", "trop tard"))
        # built (the report activity), then sent to the team with the PDF
        for _ in range(100):
            try:
                await handle.execute_update("send_report", SendReport("conseil"))
                break
            except WorkflowUpdateFailedError:
                await time_env.sleep(dt.timedelta(seconds=1))
        [sent] = await desk.wait_for_mail(vid, VisitStep.REPORT)
        assert sent.recipient == "equipe@desk.example"
        assert "application/pdf" in sent.raw
        result = await handle.result()
        assert result["state"] == V.REPORT_SENT
        with Session(desk.engine) as s:
            report = s.exec(select(VisitReport).where(VisitReport.visit_id == vid)).one()
            assert report.pdf and report.pdf.startswith(b"%PDF")


async def test_the_worker_starts_the_workflow_of_every_open_visit_row_once(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    from messages.visits import VisitView
    from planning.launch import ensure_visit_workflows

    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        from planning.entitlement import plan_year

        with Session(desk.engine) as s:  # rows without workflows (as the demo leaves them)
            for v in s.exec(select(Visit).where(Visit.state == "planned")).all():
                s.delete(v)  # the demo's, numbered from 1: other tests' ids here
            s.flush()
            ids = [v.id or 0 for v in plan_year(s, desk.clients["client-a"], 2031)]
            s.commit()
        assert len(ids) == 4  # 2 + (3 − 1)
        started = await ensure_visit_workflows(desk.client, desk.engine, desk.settings)
        assert started == len(ids)
        views = [await desk.client.get_workflow_handle(f"visit-{vid}").query(
            "view", result_type=VisitView) for vid in ids]
        assert {v.state for v in views} == {"planned"}
        # again (next worker start): the same runs, nothing restarted
        runs = [(await desk.client.get_workflow_handle(f"visit-{vid}").describe()).run_id
                for vid in ids]
        await ensure_visit_workflows(desk.client, desk.engine, desk.settings)
        again = [(await desk.client.get_workflow_handle(f"visit-{vid}").describe()).run_id
                 for vid in ids]
        assert runs == again
        for vid in ids:
            await desk.client.get_workflow_handle(f"visit-{vid}").execute_update(
                "cancel", CancelVisit("planner", "fin du test"))
