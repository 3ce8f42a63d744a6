"""Windows re-cut mid-year (issue 19, finding 6): a server added mid-year under ``max``
counting makes one more visit owed; the new visit gets a window in the future, the visits not
yet booked share the rest of the year with it, confirmed and done visits keep their dates and
windows, and no window is ever backwards. The visit workflow, started with the old window,
takes a proposal in the re-cut one (the console sends the desk's window with it)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import WorkflowUpdateFailedError

from domain.calendar import site_calendar
from messages.visits import AssignConsultant, ProposeDates, VisitInput, VisitRules, VisitState
from models.db import session_scope
from models.tables import Client, Server
from models.visits import ServerScope, Visit
from planning.entitlement import (
    due_windows,
    period_of,
    plan_year,
    plan_year_recut,
    year_containing,
)
from planning.rules import check_dates, visit_rules
from tests.browser.support import make_desk
from tests.conftest import paris_today
from tests.visit_fixtures import visit_desk
from workflows.visit_machine import Act, VisitCore

V = VisitState


def one_server_client(s: Session, code: str) -> int:
    client = Client(code=code, name=f"{code} SA")
    s.add(client)
    s.flush()
    s.add(Server(client_id=client.id or 0, hostname=f"{code}-dc", display_name="DC"))
    s.flush()
    return client.id or 0


def add_server_from(s: Session, cid: int, name: str, day: dt.date) -> None:
    srv = Server(client_id=cid, hostname=name, display_name=name.upper())
    s.add(srv)
    s.flush()
    s.add(ServerScope(server_id=srv.id or 0, in_scope_from=day))
    s.flush()


def windows_of(s: Session, cid: int) -> dict[int, tuple[dt.date, dt.date]]:
    return {v.id or 0: (v.due_start, v.due_end) for v in s.exec(
        select(Visit).where(Visit.client_id == cid)).all()}


def test_a_server_added_in_september_gets_a_window_ahead_and_booked_visits_stay(
        engine: Engine) -> None:
    with Session(engine) as s:
        cid = one_server_client(s, "recut-a")
        first, second = plan_year(s, cid, 2027, "max", today=dt.date(2026, 12, 1))
        assert (first.due_start, second.due_end) == (dt.date(2027, 1, 1), dt.date(2027, 12, 31))
        first.state, first.date = V.REPORT_SENT, dt.date(2027, 3, 10)  # done in March
        s.add(first)
        add_server_from(s, cid, "recut-a-app", dt.date(2027, 9, 1))
        today = dt.date(2027, 9, 15)
        plan = plan_year_recut(s, cid, 2027, "max", today=today)
        [new] = plan.created
        assert plan.recut == [second]
        windows = windows_of(s, cid)
        assert windows[first.id or 0] == (dt.date(2027, 1, 1), dt.date(2027, 7, 1))  # kept
        assert windows[second.id or 0] == (dt.date(2027, 9, 16), dt.date(2027, 11, 7))
        assert windows[new.id or 0] == (dt.date(2027, 11, 8), dt.date(2027, 12, 31))
        assert all(today < a <= b for vid, (a, b) in windows.items() if vid != first.id)
        # the re-cut window is what the planner's check applies now
        days = [d for d in (dt.date(2027, 11, 8) + dt.timedelta(days=k) for k in range(9))
                if site_calendar(None).is_business_day(d)][:2]
        assert check_dates(s, new, days, None, today) is None
        assert plan_year_recut(s, cid, 2027, "max", today=today).created == []  # once
        s.commit()


def test_a_confirmed_visit_keeps_its_date_and_the_new_one_avoids_its_window(
        engine: Engine) -> None:
    with Session(engine) as s:
        cid = one_server_client(s, "recut-b")
        first, second = plan_year(s, cid, 2027, "max")
        first.state, first.date = V.REPORT_WRITTEN, dt.date(2027, 5, 4)
        second.state, second.date = V.CONFIRMED, dt.date(2027, 10, 5)
        s.add_all([first, second])
        add_server_from(s, cid, "recut-b-app", dt.date(2027, 9, 1))
        before = windows_of(s, cid)
        plan = plan_year_recut(s, cid, 2027, "max", today=dt.date(2027, 9, 15))
        [new] = plan.created
        assert plan.recut == [] and {k: v for k, v in windows_of(s, cid).items()
                                     if k != new.id} == before
        assert (new.due_start, new.due_end) == (dt.date(2027, 11, 8), dt.date(2027, 12, 31))
        assert second.date == dt.date(2027, 10, 5) and second.state == V.CONFIRMED
        s.commit()


def test_no_window_is_ever_backwards() -> None:
    start = dt.date(2027, 12, 29)
    for n in range(1, 12):
        for a, b in due_windows(start, dt.date(2027, 12, 31), n):
            assert start <= a <= b <= dt.date(2027, 12, 31)


def test_the_planner_sees_the_re_cut_windows_in_the_console(engine: Engine,
                                                            tmp_path: Path) -> None:
    today = paris_today()
    began = today - dt.timedelta(days=100)  # the contract year began 100 days ago
    mmdd = f"{began.month:02d}-{began.day:02d}"
    desk = make_desk(engine, tmp_path, visit_counting="max", contract_year_start=mmdd)
    with Session(engine) as s:
        cid = one_server_client(s, "recut-c")
        s.commit()
    year = year_containing(today, mmdd)
    http, token = desk.signed_in("planner")
    form = {"year": str(year), "client_id": str(cid), "csrf_token": token}
    http.post("/planning/plan-year", data=form)
    with Session(engine) as s:
        assert len(windows_of(s, cid)) == 2
        add_server_from(s, cid, "recut-c-app", today - dt.timedelta(days=10))
        s.commit()
    page = http.post("/planning/plan-year", data=form, follow_redirects=True)
    assert "1 visite(s) créée(s), 2 fenêtre(s) recoupée(s)" in page.text  # no Temporal here
    end = period_of(year, mmdd)[1]
    with Session(engine) as s:
        windows = sorted(windows_of(s, cid).values())
    assert len(windows) == 3 and windows[0][0] == today + dt.timedelta(days=1)
    assert windows[-1][1] == end and all(a <= b for a, b in windows)
    shown = re.findall(r"(\d\d/\d\d/\d{4}) – (\d\d/\d\d/\d{4})",
                       http.get(f"/planning?year={year}").text)
    for a, b in windows:
        assert (f"{a:%d/%m/%Y}", f"{b:%d/%m/%Y}") in shown


@pytest.mark.slow
async def test_the_workflow_takes_a_proposal_in_its_re_cut_window(
        time_env: Any, sqlite_engine: Engine, tmp_path: Path) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        vid, handle = await desk.new_visit(start_in=10, length=20)
        await handle.execute_update("assign", AssignConsultant("planner", desk.consultant_id))
        with session_scope(sqlite_engine) as s:  # re-cut as plan_year_recut does
            visit = s.get(Visit, vid)
            assert visit is not None
            visit.due_start = visit.due_end + dt.timedelta(days=30)
            visit.due_end = visit.due_start + dt.timedelta(days=30)
            s.add(visit)
        dates = await desk.business_days(vid, 2)
        proposal = ProposeDates("planner", tuple(dates))
        with pytest.raises(WorkflowUpdateFailedError) as old:  # what it knew at its start
            await handle.execute_update("propose", proposal)
        assert "hors de la fenêtre" in str(old.value.cause)
        with Session(sqlite_engine) as s:
            visit = s.get(Visit, vid)
            assert visit is not None
            rules = visit_rules(s, visit)
        await handle.execute_update("propose", ProposeDates("planner", tuple(dates),
                                                            rules=rules))
        view = await desk.wait_for(handle, V.AWAITING_CLIENT)
        assert view.proposed_dates == tuple(dates)


def test_no_page_shows_a_window_backwards(engine: Engine, tmp_path: Path) -> None:
    """A late visit (its window ended) on the suggestion page reads "fenêtre close le ...",
    never "08/12/2026 – 01/04/2026" (issue 19, findings 1 and 9)."""
    desk = make_desk(engine, tmp_path)
    today = paris_today()
    with session_scope(engine) as s:
        from planning.visits import create_visit

        cid = one_server_client(s, "recut-d")
        create_visit(s, cid, "preventive", today - dt.timedelta(days=120),
                     today - dt.timedelta(days=60), contract_year=today.year)
    http, _ = desk.signed_in("planner")
    for page in ("/planning", "/planning/suggest", "/entitlements"):
        text = http.get(f"{page}?year={today.year}").text
        for a, b in re.findall(r"(\d\d/\d\d/\d{4}) – (\d\d/\d\d/\d{4})", text):
            first, last = (dt.datetime.strptime(x, "%d/%m/%Y").date() for x in (a, b))
            assert first <= last, (page, a, b)
    suggest = http.get(f"/planning/suggest?year={today.year}").text
    assert f"fenêtre close le {today - dt.timedelta(days=60):%d/%m/%Y}" in suggest


# --- the late rule on the desk's window (issues 19 A and C together) ------------------------

NOW = dt.datetime(2027, 12, 6, 9, 0, tzinfo=dt.UTC)  # a Monday


def _core(start: str, end: str) -> VisitCore:
    core, _ = VisitCore.open(VisitInput(visit_id=1, client_id=1, due_start=start, due_end=end),
                             site_calendar(None), NOW)
    return core


def _propose(core: VisitCore, dates: tuple[str, ...], rules: VisitRules | None
             ) -> str | None:
    return core.check("propose", Act(actor="planner", dates=dates, rules=rules), NOW)


def test_a_late_visit_is_proposed_after_the_window_the_desk_sends() -> None:
    """The workflow's late rule reads the window sent with the proposal: a visit whose
    *re-cut* window is ahead stays bounded by it, one whose desk window has ended may be
    proposed on any later business day, and the site's own closed days sent with it count."""
    # started with a window long past (late by its own), re-cut to the end of the year
    core = _core("2027-01-01", "2027-03-31")
    assert _propose(core, ("2028-01-10", "2028-01-11"), None) is None  # late: any day
    recut = VisitRules("2027-12-08", "2027-12-31")
    refused = _propose(core, ("2027-12-09", "2028-01-10"), recut)
    assert refused and "hors de la fenêtre" in refused and "31/12/2027" in refused
    assert _propose(core, ("2027-12-09", "2027-12-10"), recut) is None
    # a date agreed by phone is checked the same way (ConfirmDate.rules)
    phone = core.check("confirm", Act(actor="planner", date="2028-01-10", rules=recut), NOW)
    assert phone and "hors de la fenêtre" in phone
    assert core.check("confirm", Act(actor="planner", date="2027-12-10", rules=recut),
                      NOW) is None
    # started with a window ahead; the desk's window has ended: late after *its* window
    core = _core("2028-02-01", "2028-03-31")
    assert _propose(core, ("2027-12-08", "2027-12-09"), None)  # before its start
    ended = VisitRules("2027-11-01", "2027-11-30", site_closed=("2027-12-09",))
    assert _propose(core, ("2027-12-08", "2027-12-10"), ended) is None
    closed = _propose(core, ("2027-12-08", "2027-12-09"), ended)
    assert closed and "jour ouvré du site" in closed


def test_a_continued_run_keeps_the_window_and_site_days_last_sent() -> None:
    """Continue-as-new (bounded history) carries the desk's window and site days, so the
    next run checks dates as the last one did."""
    core = _core("2027-01-01", "2027-03-31")
    rules = VisitRules("2027-12-08", "2027-12-31", site_closed=("2027-12-09",),
                       site_open=("2027-12-25",))
    core.act("propose", Act(actor="planner", dates=("2027-12-08", "2027-12-10"), rules=rules),
             NOW)
    nxt = core.next_input({}, NOW)
    assert (nxt.due_start, nxt.due_end) == ("2027-12-08", "2027-12-31")
    assert (nxt.site_closed, nxt.site_open) == (("2027-12-09",), ("2027-12-25",))
    assert nxt.carried is not None and nxt.carried.saved.proposal == 1
