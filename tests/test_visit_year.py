"""A planner's real year on the time-skipping Temporal server (real activities, real SQLite,
the real console over HTTP where a person acts): a late visit is proposed after its window,
confirmed, done and counted late; a second link after the confirmation shows the booked
date and changes nothing; 500 replayed answers leave one decision and a bounded history; a
long-lived visit continues as new with its state; two open proposals never share a
consultant's day; leave over a confirmed visit is refused or taken with the visit put back
to rescheduling and the client told; a cancelled visit's link shows a clear page."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError

from console.app import create_app
from domain.calendar import BusinessCalendar
from messages.visits import (
    AssignConsultant,
    CancelVisit,
    ClientAnswer,
    ProposeDates,
    SendReport,
    StartVisit,
    VisitState,
    VisitStep,
    VisitView,
    WriteReport,
    visit_workflow_id,
)
from models.visits import ConsultantLeave, Visit
from planning import entitlement as ent
from planning.answers import take_answer
from planning.launch import visit_input
from planning.rules import check_dates, free_days, late_days
from planning.visits import timeline
from tests.browser.support import CSRF_RE, PASSWORD
from tests.visit_fixtures import SECRET, VisitDesk, own_time_server, tokens_in, visit_desk
from workflows.visit import VisitWorkflow

pytestmark = pytest.mark.slow
V = VisitState


@pytest.fixture(scope="module")
async def time_env() -> AsyncIterator[Any]:
    """A time-skipping server of this module's own (these tests skip days)."""
    async with own_time_server() as env:
        yield env


async def desk_today(desk: VisitDesk) -> dt.date:
    return BusinessCalendar().to_local(await desk.now()).date()


def visit_row(desk: VisitDesk, vid: int) -> Visit:
    with Session(desk.engine, expire_on_commit=False) as s:
        visit = s.get(Visit, vid)
        assert visit is not None
        return visit


async def days_after_today(desk: VisitDesk, vid: int, n: int = 3) -> list[str]:
    with Session(desk.engine) as s:
        visit = s.get(Visit, vid)
        assert visit is not None
        return [d.isoformat() for d in free_days(s, visit, desk.consultant_id,
                                                 await desk_today(desk), n)]


async def offered(desk: VisitDesk, vid: int, handle: Any, dates: list[str]) -> list[str]:
    """Assigned to the desk's consultant and proposed; returns the mail's links."""
    await handle.execute_update("assign", AssignConsultant("planner", desk.consultant_id))
    await handle.execute_update("propose", ProposeDates("planner", tuple(dates)))
    await desk.wait_for(handle, V.AWAITING_CLIENT)
    [mail] = await desk.wait_for_mail(vid, VisitStep.PROPOSAL)
    return tokens_in(mail.body)


async def proposed_visit(desk: VisitDesk, n: int = 3
                         ) -> tuple[int, Any, list[str], list[str]]:
    """A new visit offered on the first ``n`` business days of its window: (id, handle,
    dates, the mail's links)."""
    vid, handle = await desk.new_visit()
    dates = await desk.business_days(vid, n)
    return vid, handle, dates, await offered(desk, vid, handle, dates)


async def history_length(handle: Any) -> int:
    return len((await handle.fetch_history()).events)


async def settled_length(handle: Any, within: float = 30) -> int:
    """The history's length once the visit's own follow-ups (mails, ledger) are done."""
    loop = asyncio.get_running_loop()
    until, last = loop.time() + within, -1
    while loop.time() < until:
        n = await history_length(handle)
        if n == last:
            return n
        last = n
        await asyncio.sleep(1.0)
    raise AssertionError("the visit's history kept growing")


@asynccontextmanager
async def console(desk: VisitDesk, role: str | None = None
                  ) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The real console on this desk's database and Temporal, in this event loop; signed in
    as the demo user of ``role`` (with its CSRF token), or anonymous (a client's link)."""
    from tests.browser.support import ROLE_USERS

    settings = desk.settings.model_copy(update={"temporal_address": "time-skipping",
                                                "secret_key": "year-test-key"})
    app = create_app(settings, desk.engine)
    app.state.services._client = desk.client
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
        token = ""
        if role:
            page = await http.get("/login")
            found = CSRF_RE.search(page.text)
            assert found
            await http.post("/login", data={"username": ROLE_USERS[role],
                                            "password": PASSWORD,
                                            "csrf_token": found.group(1)})
            home = await http.get("/", follow_redirects=True)
            found = CSRF_RE.search(home.text)
            assert found, home.text[:500]
            token = found.group(1)
        yield http, token


def flash_of(page: str) -> str:
    found = re.search(r'class="flash[^"]*"[^>]*>(.*?)</', page, re.S)
    return found.group(1).strip() if found else ""


async def test_a_late_visit_is_proposed_after_its_window_confirmed_done_and_counted_late(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        vid, handle = await desk.new_visit(start_in=-90, length=40)  # closed 50 days ago
        today = await desk_today(desk)
        visit = visit_row(desk, vid)
        with Session(desk.engine) as s:
            late_before = ent.counts(s, visit.client_id, visit.contract_year, 0, today).late
            assert late_days(s, visit, today) > 0
        in_window = await desk.business_days(vid, 2)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("propose", ProposeDates("planner", tuple(in_window)))
        assert "pas dans le futur" in str(refused.value.cause)
        dates = await days_after_today(desk, vid)
        assert all(d > visit.due_end.isoformat() for d in dates)
        with Session(desk.engine) as s:  # the console's rules agree
            assert check_dates(s, visit, [dt.date.fromisoformat(d) for d in dates],
                               desk.consultant_id, today) is None
        links = await offered(desk, vid, handle, dates)
        outcome = await take_answer(desk.client, SECRET, links[0], await desk.now())
        assert outcome.decided and outcome.state == V.CONFIRMED and outcome.date == dates[0]
        day = dt.date.fromisoformat(dates[0])
        await time_env.sleep(dt.datetime.combine(day, dt.time(8, 0), dt.UTC)
                             - await desk.now())
        await handle.execute_update("start", StartVisit("conseil"))
        await handle.execute_update("write_report", WriteReport("conseil", "RAS", "aucune"))
        for _ in range(200):  # the report is built by an activity first
            try:
                await handle.execute_update("send_report", SendReport("conseil"))
                break
            except WorkflowUpdateFailedError:
                await asyncio.sleep(0.1)
        await handle.result()
        done = visit_row(desk, vid)
        assert done.state == V.REPORT_SENT and done.date == day
        with Session(desk.engine) as s:
            assert late_days(s, done, day) >= 1  # booked after its window: late
            counted = ent.counts(s, done.client_id, done.contract_year, 0, today)
        assert counted.late == late_before and counted.done >= 1  # still counted late


async def test_a_second_link_after_confirmation_shows_the_confirmed_date_and_changes_nothing(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        vid, handle, dates, links = await proposed_visit(desk)
        async with console(desk) as (http, _):
            first = await http.post(f"/visits/answer/{links[1]}")
            assert first.status_code == 200
            assert "confirmée le" in first.text and str(int(dates[1][8:])) in first.text
            await desk.wait_for_mail(vid, VisitStep.CONFIRMED)
            events = await settled_length(handle)
            for other in (links[0], links[2], links[3]):  # the other dates, "none suits"
                for method in ("get", "post"):
                    page = await getattr(http, method)(f"/visits/answer/{other}")
                    assert page.status_code == 200
                    shown = flash_of(page.text)
                    day = dt.date.fromisoformat(dates[1])
                    assert "confirmée le" in shown and f" {day.day} " in shown, shown
                    assert "—" not in shown and 'id="answer-form"' not in page.text
        assert await history_length(handle) == events  # nothing reached the workflow
        view = await desk.wait_for(handle, V.CONFIRMED)
        assert view.date == dates[1]
        with Session(desk.engine) as s:
            assert [e.action for e in timeline(s, vid)].count("client_answer") == 1
        async with console(desk, "planner") as (http, _):  # the visit's page after it
            page = (await http.get(f"/visits/{vid}")).text
        assert 'id="visit-proposed"' not in page  # no open proposal any more
        assert 'data-step="visit_proposal"' in page and 'data-step="visit_confirmed"' in page
        assert "/visits/answer/…" in page and links[0] not in page  # read, not answered
        await handle.execute_update("cancel", CancelVisit("planner", "fin du test"))


async def test_500_replayed_answers_leave_one_decision_and_a_bounded_history(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        vid, handle, dates, links = await proposed_visit(desk)
        before = await settled_length(handle)
        now = await desk.now()
        outcomes = []
        for batch in range(10):  # 50 at once, every link of the mail mixed
            outcomes += await asyncio.gather(*(
                take_answer(desk.client, SECRET, links[(batch + i) % 4], now)
                for i in range(50)))
        # concurrent copies of the deciding link are one update (its id): they all read it
        decided = {(o.answer.date, o.date) for o in outcomes if o.decided}
        assert len(decided) == 1 and len(outcomes) == 500
        state = outcomes[-1].state
        assert all(o.state == state for o in outcomes[-50:])
        # bypassing the console's check, the workflow's validator refuses them all
        for d in [*dates, None]:
            with pytest.raises(WorkflowUpdateFailedError):
                await handle.execute_update("answer", ClientAnswer(1, d), id=f"again-{d}")
        grown = await settled_length(handle) - before
        assert grown < 60, grown  # one decision's events (and its mail), not one per link
        with Session(desk.engine) as s:
            lines = timeline(s, vid)
        assert [e.action for e in lines].count("client_answer") == 1
        assert not [e for e in lines if e.action == "client_answer_refused"]
        if state != V.CANCELLED:
            await handle.execute_update("cancel", CancelVisit("planner", "fin du test"))


async def test_a_long_lived_visit_continues_as_new_with_its_state(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        vid, old = await desk.new_visit()
        await old.execute_update("cancel", CancelVisit("planner", "remplacée ci-dessous"))
        with Session(desk.engine) as s:  # a fresh row whose run continues past 60 events
            from planning.visits import create_visit

            first = visit_row(desk, vid)
            row = create_visit(s, first.client_id, "preventive", first.due_start,
                               first.due_end, site_id=first.site_id)
            s.commit()
            vid = row.id or 0
            inp = replace(visit_input(s, row, desk.settings), history_limit=60)
        started = await desk.client.start_workflow(VisitWorkflow.run, inp,
                                                   id=visit_workflow_id(vid),
                                                   task_queue=desk.queue)
        first_run = started.result_run_id
        handle = desk.client.get_workflow_handle(visit_workflow_id(vid))  # the latest run
        for i in range(12):  # each assignment: an update, a ledger line, a projection
            await handle.execute_update("assign", AssignConsultant(
                "planner", desk.consultant_id, f"tour {i}"))
        dates = await desk.business_days(vid, 3)
        links = await offered(desk, vid, handle, dates)
        latest = desk.client.get_workflow_handle(visit_workflow_id(vid))
        assert (await latest.describe()).run_id != first_run
        was = await desk.client.get_workflow_handle(visit_workflow_id(vid),
                                                    run_id=first_run).describe()
        assert was.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
        outcome = await take_answer(desk.client, SECRET, links[2], await desk.now())
        assert outcome.state == V.CONFIRMED and outcome.date == dates[2]
        assert await history_length(latest) < 60 + 60  # the limit, and one burst past it
        with Session(desk.engine) as s:
            seqs = [e.seq for e in timeline(s, vid)]
            actions = [e.action for e in timeline(s, vid)]
        assert seqs == list(range(1, len(seqs) + 1))  # the ledger runs on, no line twice
        assert actions.count("plan") == 1 and actions.count("assign") == 13
        await latest.execute_update("cancel", CancelVisit("planner", "fin du test"))


async def test_two_open_proposals_never_share_a_consultant_s_day(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        a, handle_a = await desk.new_visit("client-a")
        b, handle_b = await desk.new_visit("client-b")
        today = await desk_today(desk)
        days = await desk.business_days(a, 4)
        links = await offered(desk, a, handle_a, days[:2])
        await handle_b.execute_update("assign",
                                      AssignConsultant("planner", desk.consultant_id))
        with Session(desk.engine) as s:
            visit_b = s.get(Visit, b)
            assert visit_b is not None
            wanted = [dt.date.fromisoformat(d) for d in days[1:3]]
            refused = check_dates(s, visit_b, wanted, desk.consultant_id, today)
            assert refused and "en attente de réponse" in refused
            assert days[0] not in [d.isoformat() for d in free_days(
                s, visit_b, desk.consultant_id, today, 10)]
        async with console(desk, "planner") as (http, token):
            r = await http.post(f"/visits/{b}/act/propose", data={
                "date1": days[1], "date2": days[2], "csrf_token": token})
            assert r.status_code == 303
            page = await http.get(f"/visits/{b}")
            assert "en attente de réponse" in page.text
        assert (await handle_b.query("view", result_type=VisitView)).state == V.PLANNED
        await take_answer(desk.client, SECRET, links[0], await desk.now())  # A on days[0]
        await desk.wait_for(handle_a, V.CONFIRMED)
        with Session(desk.engine) as s:  # the hold on days[1] ends with A's answer
            visit_b = s.get(Visit, b)
            assert visit_b is not None
            assert check_dates(s, visit_b, wanted, desk.consultant_id, today) is None
        for h in (handle_a, handle_b):
            await h.execute_update("cancel", CancelVisit("planner", "fin du test"))


async def test_two_planners_sending_the_same_day_at_the_same_moment_one_is_refused(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        visits = [await desk.new_visit(code) for code in ("client-a", "client-b", "client-c")]
        days = await desk.business_days(visits[0][0], 3)
        async with console(desk, "planner") as (http, token):
            sent = await asyncio.gather(*(http.post(f"/visits/{vid}/act/propose", data={
                "date1": days[0], "date2": days[i + 1], "csrf_token": token,
                "consultant_id": str(desk.consultant_id)}) for i, (vid, _) in
                enumerate(visits[:2])))
            assert all(r.status_code == 303 for r in sent)
        views = [await h.query("view", result_type=VisitView) for _, h in visits[:2]]
        offered_first = [v for v in views if days[0] in v.proposed_dates]
        assert len(offered_first) == 1, views  # the day went to one client only
        with Session(desk.engine) as s:
            from models.visits import VisitHold

            held = s.exec(select(VisitHold).where(VisitHold.day == dt.date.fromisoformat(
                days[0]))).all()
            assert [h.visit_id for h in held] == [offered_first[0].visit_id]
        for _, h in visits:
            await h.execute_update("cancel", CancelVisit("planner", "fin du test"))


async def confirmed_visit(desk: VisitDesk) -> tuple[int, Any, str]:
    vid, handle, dates, links = await proposed_visit(desk, 2)
    await take_answer(desk.client, SECRET, links[0], await desk.now())
    await desk.wait_for(handle, V.CONFIRMED)
    return vid, handle, dates[0]


async def test_leave_over_a_confirmed_visit_is_refused_or_taken_with_the_visit_rescheduled(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        vid, handle, day = await confirmed_visit(desk)
        form = {"user_id": str(desk.consultant_id), "start": day, "end": day,
                "note": "formation"}
        async with console(desk, "planner") as (http, token):
            r = await http.post("/planning/leave", data={**form, "csrf_token": token})
            assert r.status_code == 303
            page = await http.get(r.headers["location"])
            assert "Congé refusé" in page.text
            with Session(desk.engine) as s:
                assert s.exec(select(ConsultantLeave).where(
                    ConsultantLeave.user_id == desk.consultant_id)).all() == []
            assert (await handle.query("view", result_type=VisitView)).state == V.CONFIRMED
            # a closure the desk learns of: the inbox says so, with its action
            with Session(desk.engine) as s:
                s.add(ConsultantLeave(user_id=desk.consultant_id,
                                      day=dt.date.fromisoformat(day), note="malade"))
                s.commit()
            rows = (await http.get("/api/planning/inbox")).json()["rows"]
            hit = [r for r in rows if r["visit_id"] == vid]
            assert [r["kind"] for r in hit] == ["leave_hit"] and hit[0]["url"].endswith(
                "#reschedule")
            with Session(desk.engine) as s:
                for row in s.exec(select(ConsultantLeave)).all():
                    s.delete(row)
                s.commit()
            r = await http.post("/planning/leave", data={**form, "over": "reschedule",
                                                          "csrf_token": token})
            page = await http.get(r.headers["location"])
            assert "1 visite(s) remise(s) à replanifier" in page.text
        view = await desk.wait_for(handle, V.RESCHEDULED)
        assert view.date is None and any(day in line for line in view.history)
        [told] = await desk.wait_for_mail(vid, VisitStep.DATE_DROPPED)
        label = dt.date.fromisoformat(day)
        assert told.recipient.endswith("<claire.durand@client-a.example>")
        assert f" {label.day} " in told.subject and "congé du consultant" in told.body
        with Session(desk.engine) as s:
            assert s.exec(select(ConsultantLeave).where(
                ConsultantLeave.user_id == desk.consultant_id,
                col(ConsultantLeave.day) == label)).first() is not None
        await handle.execute_update("cancel", CancelVisit("planner", "fin du test"))


async def test_a_cancelled_visit_s_link_shows_a_clear_page_and_no_button(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        _, handle, _, links = await proposed_visit(desk, 2)
        await handle.execute_update("cancel", CancelVisit("planner", "client parti"))
        await handle.result()
        async with console(desk) as (http, _):
            for method in ("get", "post"):
                page = await getattr(http, method)(f"/visits/answer/{links[0]}")
                assert page.status_code == 200, page.text[:300]
                assert "annulée" in flash_of(page.text)
                assert "Confirmer ce choix" not in page.text


async def test_replanifier_takes_a_phone_date_or_new_dates_and_tells_the_client(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        vid, handle, first = await confirmed_visit(desk)
        later = await desk.business_days(vid, 3, skip=6)
        async with console(desk, "planner") as (http, token):
            page = (await http.get(f"/visits/{vid}")).text
            assert 'id="reschedule"' in page and 'name="phone_date"' in page
            await http.post(f"/visits/{vid}/act/reschedule", data={
                "reason": "client indisponible", "phone_date": later[0], "csrf_token": token})
            view = await desk.wait_for(handle, V.CONFIRMED)
            assert view.date == later[0]  # booked at once, on a day never mailed
            [dropped] = await desk.wait_for_mail(vid, VisitStep.DATE_DROPPED)
            day = dt.date.fromisoformat(first)
            assert f" {day.day} " in dropped.subject and "client indisponible" in dropped.body
            await desk.wait_for_mail(vid, VisitStep.CONFIRMED, count=2)
            await http.post(f"/visits/{vid}/act/reschedule", data={
                "reason": "travaux", "date1": later[1], "date2": later[2],
                "csrf_token": token})
            view = await desk.wait_for(handle, V.AWAITING_CLIENT)
            assert view.proposal == 2 and view.proposed_dates == tuple(later[1:])
            await desk.wait_for_mail(vid, VisitStep.DATE_DROPPED, count=2)
            # a refused follow-up changes nothing: a Sunday by phone is not a visit day
            sunday = dt.date.fromisoformat(later[0])
            sunday += dt.timedelta(days=6 - sunday.weekday())
            r = await http.post(f"/visits/{vid}/act/reschedule", data={
                "reason": "x", "phone_date": sunday.isoformat(), "csrf_token": token})
            assert "ouvré" in flash_of((await http.get(r.headers["location"])).text)
        assert (await handle.query("view", result_type=VisitView)).state == V.AWAITING_CLIENT
        await handle.execute_update("cancel", CancelVisit("planner", "fin du test"))
