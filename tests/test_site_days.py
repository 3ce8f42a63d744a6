"""A site's own closed and open days, on top of its subdivision's calendar (issue 19, finding
8): closed in August, open on Whit Monday. The planner's check, the suggester and the visit
workflow read the same calendar (``planning.site_days.calendar_of`` ->
``domain.calendar.site_calendar``): a closed day of the site is never proposed nor suggested,
a public holiday the site works is bookable, and a closure typed after the visit's workflow
started still reaches the workflow's own check."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import WorkflowUpdateFailedError

from domain.calendar import site_calendar
from messages.visits import AssignConsultant, ProposeDates, VisitState
from models.db import session_scope
from models.tables import Client, Site, User
from models.visits import Visit
from planning.optimal import optimal
from planning.rules import check_dates, visit_rules
from planning.site_days import SiteDaysError, add_range, calendar_of, own_days_of, ranges
from planning.suggest import VisitNeed, greedy, is_open, open_days, violations
from planning.suggest_db import problem_from_db
from planning.visits import create_visit
from tests.browser.support import make_desk
from tests.visit_fixtures import visit_desk

WHIT_MONDAY_2028 = dt.date(2028, 6, 5)
TODAY = dt.date(2028, 1, 3)


@pytest.fixture
def site_ids(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        client = Client(code="own-days", name="Jours Propres SA")
        s.add(client)
        s.flush()
        site = Site(client_id=client.id or 0, name="Annecy")
        user = User(username="own-days-consultant", role="consultant", full_name="C. Onsultant")
        s.add_all([site, user])
        s.commit()
        return {"client": client.id or 0, "site": site.id or 0, "user": user.id or 0}


def test_closed_in_august_and_open_on_whit_monday(engine: Engine,
                                                  site_ids: dict[str, int]) -> None:
    with Session(engine) as s:
        add_range(s, site_ids["site"], dt.date(2028, 8, 1), dt.date(2028, 8, 31), False,
                  "congés d'été")
        add_range(s, site_ids["site"], WHIT_MONDAY_2028, None, True, "journée de solidarité")
        s.commit()
        cal = calendar_of(own_days_of(s, site_ids["site"]))
        summer = create_visit(s, site_ids["client"], "preventive", dt.date(2028, 7, 20),
                              dt.date(2028, 9, 20), site_id=site_ids["site"])
        spring = create_visit(s, site_ids["client"], "preventive", dt.date(2028, 5, 1),
                              dt.date(2028, 6, 30), site_id=site_ids["site"])
        # the site's own closure refuses a proposal on it, with the day named
        refused = check_dates(s, summer, [dt.date(2028, 7, 31), dt.date(2028, 8, 16)], None,
                              TODAY)
        assert refused and "16/08/2028 n'est pas un jour ouvré du site" in refused
        assert check_dates(s, summer, [dt.date(2028, 7, 31), dt.date(2028, 9, 1)], None,
                           TODAY) is None
        # a public holiday the site works is bookable there, and only there
        assert site_calendar(None).holiday_name(WHIT_MONDAY_2028)
        assert check_dates(s, spring, [WHIT_MONDAY_2028, dt.date(2028, 6, 6)], None,
                           TODAY) is None
        assert cal.is_business_day(WHIT_MONDAY_2028)
        assert not site_calendar(None).is_business_day(WHIT_MONDAY_2028)
        s.commit()


def test_the_suggester_avoids_a_closed_day_and_uses_a_worked_holiday(
        engine: Engine, site_ids: dict[str, int]) -> None:
    with Session(engine) as s:
        # the week of Whit Monday: Monday worked, Tuesday to Thursday closed
        add_range(s, site_ids["site"], WHIT_MONDAY_2028, None, True)
        add_range(s, site_ids["site"], dt.date(2028, 6, 6), dt.date(2028, 6, 8), False)
        for _ in range(2):
            create_visit(s, site_ids["client"], "preventive", WHIT_MONDAY_2028,
                         dt.date(2028, 6, 9), site_id=site_ids["site"], contract_year=2028)
        s.commit()
        problem = problem_from_db(s, 2028, dt.date(2028, 6, 1))
    for plan in (greedy(problem), optimal(problem)):  # both planners, one calendar hook
        assert violations(problem, plan) == []
        days = sorted(b.day for b in plan.bookings.values())
        assert days == [WHIT_MONDAY_2028, dt.date(2028, 6, 9)]  # never 6, 7 or 8 June


def test_the_planners_calendar_hook_reads_the_site_s_own_days() -> None:
    """``planning.suggest.is_open``/``_open_days`` (every calendar check of the planners,
    the exact one's swaps included) take a site's own days on top of its subdivision."""
    closed, opened = frozenset({dt.date(2028, 6, 7)}), frozenset({WHIT_MONDAY_2028})
    assert not is_open(None, WHIT_MONDAY_2028) and is_open(None, dt.date(2028, 6, 7))
    assert is_open(None, WHIT_MONDAY_2028, closed, opened)
    assert not is_open(None, dt.date(2028, 6, 7), closed, opened)
    need = VisitNeed(key=1, client_id=1, start=WHIT_MONDAY_2028, end=dt.date(2028, 6, 9),
                     ideal=WHIT_MONDAY_2028, closed=closed, opened=opened)
    assert open_days(need, need.end) == (WHIT_MONDAY_2028, dt.date(2028, 6, 6),
                                         dt.date(2028, 6, 8), dt.date(2028, 6, 9))


def test_a_range_must_read_forwards(engine: Engine, site_ids: dict[str, int]) -> None:
    with Session(engine) as s, pytest.raises(SiteDaysError):
        add_range(s, site_ids["site"], dt.date(2028, 8, 31), dt.date(2028, 8, 1), False)


@pytest.mark.slow
async def test_the_workflow_checks_the_site_days_typed_after_it_started(
        time_env: Any, sqlite_engine: Engine, tmp_path: Path) -> None:
    async with visit_desk(time_env, sqlite_engine, tmp_path) as desk:
        vid, handle = await desk.new_visit(start_in=10, length=400)
        await handle.execute_update("assign", AssignConsultant("planner", desk.consultant_id))
        with Session(sqlite_engine) as s:
            visit = s.get(Visit, vid)
            assert visit is not None and visit.site_id is not None
            plain = site_calendar(None)
            day, workdays, holiday = visit.due_start, [], None
            while len(workdays) < 3 or holiday is None:
                if plain.is_business_day(day):
                    workdays.append(day)
                elif day.weekday() < 5 and holiday is None:
                    holiday = day  # a public holiday on a weekday, in the window
                day += dt.timedelta(days=1)
        closed = workdays[0]
        with session_scope(sqlite_engine) as s:
            add_range(s, visit.site_id, closed, None, False, "inventaire")
            add_range(s, visit.site_id, holiday, None, True, "ouvert ce jour férié")
        with Session(sqlite_engine) as s:
            visit = s.get(Visit, vid)
            assert visit is not None
            rules = visit_rules(s, visit)
        # the console sends the desk's facts with the proposal: the workflow refuses the
        # site's own closed day ...
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("propose", ProposeDates(
                "planner", (closed.isoformat(), workdays[1].isoformat()), rules=rules))
        assert "n'est pas un jour ouvré du site" in str(refused.value.cause)
        # ... and takes the public holiday the site works, unknown when it started
        await handle.execute_update("propose", ProposeDates(
            "planner", (holiday.isoformat(), workdays[1].isoformat()), rules=rules))
        view = await desk.wait_for(handle, VisitState.AWAITING_CLIENT)
        assert view.proposed_dates == (holiday.isoformat(), workdays[1].isoformat())


def test_the_administrator_types_a_site_s_own_days_in_french_and_english(
        engine: Engine, tmp_path: Path) -> None:
    desk = make_desk(engine, tmp_path)
    http, token = desk.signed_in("admin")
    cid = desk.clients["client-a"]
    with Session(engine) as s:
        site = s.exec(select(Site).where(Site.client_id == cid)).first()
        assert site is not None and site.id is not None
        site_id = site.id
    base = f"/admin/clients/{cid}"
    page = http.post(f"{base}/site_days", data={
        "site_id": site_id, "kind": "closed", "first": "2028-08-01", "last": "2028-08-31",
        "note": "congés d'été", "csrf_token": token}, follow_redirects=True)
    assert "Jours de fermeture ajoutés au site" in page.text
    assert "fermé du 01/08/2028 au 31/08/2028 : congés d&#39;été" in page.text
    http.get(f"{base}?lang=en")  # the language is remembered
    page = http.post(f"{base}/site_days", data={
        "site_id": site_id, "kind": "open", "first": WHIT_MONDAY_2028.isoformat(),
        "csrf_token": token}, follow_redirects=True)
    assert "Open days added to site" in page.text and "open 05/06/2028" in page.text
    assert "Sites&#39; own days" in page.text
    # backwards, unreadable, or another client's site: refused with a sentence, no 500
    for bad in ({"first": "2028-08-31", "last": "2028-08-01"}, {"first": "31/08/2028"},
                {"first": "2028-08-01", "site_id": "999999"}):
        page = http.post(f"{base}/site_days", data={
            "site_id": site_id, "kind": "closed", "csrf_token": token, **bad},
            follow_redirects=True)
        assert page.status_code == 200 and 'class="flash error"' in page.text, bad
    with Session(engine) as s:
        days = own_days_of(s, site_id)
        rows = ranges(s, site_id)
    assert len(days.closed) == 31 and days.opened == {WHIT_MONDAY_2028} and len(rows) == 2
    gone = http.post(f"{base}/site_days/{rows[0].id}/delete", data={"csrf_token": token},
                     follow_redirects=True)
    assert gone.status_code == 200
    with Session(engine) as s:
        assert len(ranges(s, site_id)) == 1
