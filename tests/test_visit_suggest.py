"""The year's suggested plan keeps every hard rule (site calendar, one visit a day per
consultant, leave, days held by open proposals, never a past day, a visit given to someone
stays theirs); the exact planner reaches the fewest visits outside their window that an
independent max-flow finds, on years short of consultants planned on any day (a December
included); a late visit gets the least late days after its window; each row of a
suggestion can be sent (2-3 dates, no day of a consultant offered twice); and the planner
sees it in the console."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bench.planner import exact_minimum, hard_violations, synthetic
from console.i18n_visits import suggestion_reason
from domain.calendar import site_calendar
from models.tables import User
from models.visits import Visit
from planning.optimal import group_areas, optimal
from planning.suggest import (
    Booking,
    Consultant,
    Plan,
    Problem,
    VisitNeed,
    greedy,
    is_open,
    offers,
    open_days,
    out_of_window,
    trips,
    violations,
)
from planning.suggest_db import problem_from_db
from tests.browser.support import make_desk
from tests.conftest import paris_today

GOOD_FRIDAY = dt.date(2027, 3, 26)


def small() -> Problem:
    # four Moselle visits owed the week of Good Friday, two consultants, one on leave
    week = (dt.date(2027, 3, 22), dt.date(2027, 3, 26))
    visits = tuple(VisitNeed(key=k, client_id=k, start=week[0], end=week[1], ideal=GOOD_FRIDAY,
                             subdiv="57", area="57") for k in range(1, 5))
    people = (Consultant(1, leave=frozenset({dt.date(2027, 3, 22), dt.date(2027, 3, 23)})),
              Consultant(2))
    return Problem(visits, people, horizon_end=dt.date(2027, 4, 30))


def as_of(problem: Problem, today: dt.date, late_days: int = 120) -> Problem:
    """The problem as the desk builds it on ``today`` (``problem_from_db``): nothing before
    tomorrow, so a visit whose window has passed starts after its end (a late visit)."""
    tomorrow = today + dt.timedelta(days=1)
    needs = []
    for v in problem.visits:
        start = max(v.start, tomorrow)
        needs.append(replace(v, start=start, ideal=min(max(v.ideal, start), max(start, v.end))))
    horizon = max(max(v.end for v in needs), today) + dt.timedelta(days=late_days)
    return Problem(tuple(needs), problem.consultants, horizon)


def test_the_greedy_plan_keeps_the_hard_rules() -> None:
    problem = small()
    plan = greedy(problem)
    assert violations(problem, plan) == []
    days = [b.day for b in plan.bookings.values()]
    assert GOOD_FRIDAY not in days  # a Moselle site is closed on Good Friday
    assert all(site_calendar("57").is_business_day(d) for d in days)
    on_leave = [b for b in plan.bookings.values() if b.consultant == 1
                and b.day in problem.consultants[0].leave]
    assert on_leave == []
    assert len({(b.consultant, b.day) for b in plan.bookings.values()}) == 4  # one a day


def test_the_checker_finds_what_a_plan_breaks() -> None:
    problem = small()
    bad = Plan(bookings={1: Booking(1, GOOD_FRIDAY, 2), 2: Booking(2, dt.date(2027, 3, 22), 1),
                         3: Booking(3, dt.date(2027, 3, 24), 2),
                         4: Booking(4, dt.date(2027, 3, 24), 2)})
    found = violations(problem, bad)
    assert any("jour ouvré" in v for v in found)
    assert any("congé" in v for v in found)
    assert any("deux visites" in v for v in found)


def test_a_full_week_puts_out_exactly_the_visits_that_cannot_fit() -> None:
    # the Moselle week of Good Friday: 4 business days, consultant 1 off two of them, so
    # 4 + 2 consultant-days for 8 visits: exactly 2 outside, the first days after it
    p = small()
    extra = tuple(replace(p.visits[0], key=k, client_id=k) for k in (5, 6, 7, 8))
    problem = Problem(p.visits + extra, p.consultants, p.horizon_end)
    plan = optimal(problem, time_limit_s=20)
    assert violations(problem, plan) == []
    assert out_of_window(problem, plan) == exact_minimum(problem) == 2
    late = sorted(b.day for b in plan.bookings.values() if b.day > dt.date(2027, 3, 26))
    assert late == [dt.date(2027, 3, 30)] * 2  # Easter Monday closed: Tuesday, both of them
    assert all(b.reason for b in plan.bookings.values())


@pytest.mark.parametrize(("seed", "clients", "consultants", "today"), [
    (2, 60, 1, dt.date(2026, 12, 31)),  # before the year: one consultant for 310 visits
    (4, 120, 2, dt.date(2027, 6, 14)),  # mid-year: the first half's windows are late
    (5, 60, 1, dt.date(2027, 12, 7)),  # December: almost every window has passed
    (7, 150, 3, dt.date(2027, 9, 1)),
])
def test_the_exact_planner_reaches_the_independent_minimum(
        seed: int, clients: int, consultants: int, today: dt.date) -> None:
    problem = as_of(synthetic(clients=clients, consultants=consultants, seed=seed), today)
    plan = optimal(problem, time_limit_s=60)
    base = greedy(problem)
    minimum = exact_minimum(problem)
    assert out_of_window(problem, plan) == minimum <= out_of_window(problem, base)
    assert minimum > 0  # the instance is really short of consultants
    assert violations(problem, plan) == [] and hard_violations(problem, plan, today) == []
    assert len(plan.bookings) + len(plan.unplaced) == len(problem.visits)
    # a visit left unplaced had no day left at all: every consultant busy on every open day
    # of its site from its start to the horizon
    used = Counter(b.day for b in plan.bookings.values())
    for v in (v for v in problem.visits if v.key in plan.unplaced):
        for day in open_days(v, problem.horizon_end):
            free = sum(1 for c in problem.consultants if day not in c.leave)
            assert used[day] == free, (v, day)
    assert all(b.reason for b in plan.bookings.values())


def test_a_late_visit_gets_the_least_late_days_never_a_past_one() -> None:
    # Friday 4 December 2026: three visits whose windows ended in May, August and November,
    # one consultant, who is off on Monday the 7th
    today = dt.date(2026, 12, 4)
    owed = tuple(VisitNeed(key=k, client_id=k, start=dt.date(2026, 1 + 3 * k, 1),
                           end=dt.date(2026, 2 + 3 * k, 28), ideal=dt.date(2026, 2 + 3 * k, 1),
                           area="69") for k in (1, 2, 3))
    people = (Consultant(1, leave=frozenset({dt.date(2026, 12, 7)})),)
    problem = as_of(Problem(owed, people, dt.date(2027, 1, 31)), today)
    plan = optimal(problem, time_limit_s=20)
    days = sorted(b.day for b in plan.bookings.values())
    assert days == [dt.date(2026, 12, 8), dt.date(2026, 12, 9), dt.date(2026, 12, 10)]
    assert all(b.day > today and b.day > v.end for v in problem.visits
               for b in [plan.bookings[v.key]])
    assert all("fenêtre passée" in b.reason for b in plan.bookings.values())
    # the rows can be sent: post-window dates, never a day already offered
    rows = offers(problem, plan)
    assert all(2 <= len(d) <= 3 for d in rows.values())
    assert all(d > today and d not in people[0].leave for d in rows[1] + rows[2] + rows[3])
    assert len(set(rows[1] + rows[2] + rows[3])) == sum(len(r) for r in rows.values())


def check_rows(problem: Problem, plan: Plan, rows: dict[int, tuple[dt.date, ...]]) -> None:
    """Sendable rows: 2-3 dates, the booked day first, open at the site, the consultant free
    (no leave, no held day), never in the past, no day of a consultant offered twice."""
    needs = {v.key: v for v in problem.visits}
    cons = {c.id: c for c in problem.consultants}
    seen: Counter[tuple[int, dt.date]] = Counter()
    for key, days in rows.items():
        if not days:
            continue
        b, v = plan.bookings[key], needs[key]
        c = cons[b.consultant]
        assert 2 <= len(days) <= 3 and days[0] == b.day
        for d in days:
            assert site_calendar(v.subdiv).is_business_day(d)
            assert d >= v.start and d not in c.leave and d not in c.busy
            seen[(c.id, d)] += 1
    assert max(seen.values(), default=1) == 1


def test_rows_of_a_short_year_can_all_be_sent_without_clashing() -> None:
    # December, two consultants for 60 clients; one consultant holds three days of an open
    # proposal (Consultant.busy, from the Visit table in the console)
    base = as_of(synthetic(clients=60, consultants=2, seed=3), dt.date(2027, 12, 7))
    held = frozenset({dt.date(2027, 12, 8), dt.date(2027, 12, 9), dt.date(2027, 12, 10)})
    first = replace(base.consultants[0], busy=held)
    problem = Problem(base.visits, (first, *base.consultants[1:]), base.horizon_end)
    plan = optimal(problem, time_limit_s=60)
    rows = offers(problem, plan)
    check_rows(problem, plan, rows)
    assert not any(b.day in held for b in plan.bookings.values() if b.consultant == first.id)
    # the rows to send soonest can be sent: each consultant's first booked row
    for c in problem.consultants:
        mine = sorted((b.day, k) for k, b in plan.bookings.items() if b.consultant == c.id)
        assert rows[mine[0][1]]
    sendable = [k for k, d in rows.items() if d]
    assert len(sendable) >= len(rows) // 3  # a full year: a row lends its days to a later one
    # once sent, every proposal is accepted: the hard rules hold for every row's dates
    late = [v for v in problem.visits if v.start > v.end]
    assert late and all(min(rows[v.key]) > v.end for v in late if rows.get(v.key))


def test_rows_of_a_roomy_year_offer_three_dates() -> None:
    problem = synthetic(clients=20, consultants=3, seed=6)
    plan = optimal(problem, time_limit_s=20)
    rows = offers(problem, plan)
    check_rows(problem, plan, rows)
    assert all(len(d) == 3 for d in rows.values()) and len(rows) == len(problem.visits)


def test_grouping_areas_never_costs_a_day_and_saves_trips() -> None:
    problem = synthetic(clients=120, consultants=2, seed=8)
    plan = optimal(problem, time_limit_s=60)
    base = greedy(problem)
    assert trips(problem, plan) < trips(problem, base)
    # the swap pass on the greedy plan's days: the same distance to the ideal days, the
    # same visits outside, each day as many visits, fewer (area, week) pairs
    needs = {v.key: v for v in problem.visits}
    days = {k: b.day for k, b in base.bookings.items()}
    before = dict(days)

    def pairs(d: dict[int, dt.date]) -> int:
        return len({(needs[k].area, day.isocalendar()[:2]) for k, day in d.items()})

    def distance(d: dict[int, dt.date]) -> int:
        return sum(abs((day - needs[k].ideal).days) for k, day in d.items())

    assert group_areas(problem, days, deadline=time.perf_counter() + 60) > 0
    assert Counter(days.values()) == Counter(before.values())
    assert distance(days) == distance(before)
    assert sum(days[k] > needs[k].end for k in days) == sum(before[k] > needs[k].end
                                                          for k in before)
    assert pairs(days) < pairs(before)
    assert all(is_open(needs[k].subdiv, d) and needs[k].start <= d for k, d in days.items())


def test_every_reason_reads_in_english() -> None:
    problem = as_of(synthetic(clients=60, consultants=1, seed=5), dt.date(2027, 10, 4))
    pinned = replace(problem.visits[-1], consultant=1)
    problem = Problem((*problem.visits[:-1], pinned), problem.consultants, problem.horizon_end)
    reasons = {b.reason for plan in (optimal(problem, time_limit_s=60), greedy(problem))
               for b in plan.bookings.values()}
    assert any("fenêtre passée" in r for r in reasons) and any("idéal" in r for r in reasons)
    assert any("tournée" in r for r in reasons) and any("désigné" in r for r in reasons)
    for reason in reasons:
        english = suggestion_reason("en", reason)
        assert not re.search(r"[éèàù]|\b(jour|fenêtre|le|la|de|du|les)\b", english), english
        assert suggestion_reason("fr", reason) == reason


def test_the_time_limit_covers_building_the_model() -> None:
    # no time at all: the model's building uses it up, the greedy plan comes back instead
    problem = synthetic(clients=40, consultants=2, seed=1)
    plan = optimal(problem, time_limit_s=0)
    assert plan.status.startswith("greedy") and violations(problem, plan) == []
    assert len(plan.bookings) + len(plan.unplaced) == len(problem.visits)
    assert optimal(problem, time_limit_s=60).status == "optimal"


def test_a_visit_given_to_a_consultant_stays_theirs() -> None:
    p = small()
    mine = VisitNeed(key=9, client_id=9, start=dt.date(2027, 3, 22), end=dt.date(2027, 3, 26),
                     ideal=dt.date(2027, 3, 24), consultant=1)
    problem = Problem((*p.visits, mine), p.consultants, p.horizon_end)
    for plan in (greedy(problem), optimal(problem, time_limit_s=20)):
        assert plan.bookings[9].consultant == 1 and violations(problem, plan) == []
    assert out_of_window(problem, optimal(problem, time_limit_s=20)) == exact_minimum(problem)


ROW = re.compile(r'<tr data-visit="(\d+)".*?</tr>', re.S)
OFFERED = re.compile(r'name="date\d" value="([\d-]+)"')


def offered_by_row(html: str) -> dict[int, list[str]]:
    return {int(m.group(1)): OFFERED.findall(m.group(0)) for m in ROW.finditer(html)}


def test_the_planner_gets_the_suggestion_in_the_console(engine: Engine, tmp_path: Path) -> None:
    desk = make_desk(engine, tmp_path)
    http, token = desk.signed_in("planner")
    year = paris_today().year + 1
    # next year's visits (no Temporal here: the rows are made, their workflows wait)
    http.post("/planning/plan-year", data={"year": str(year), "csrf_token": token})
    page = http.get(f"/planning/suggest?year={year}")
    assert page.status_code == 200 and 'id="suggestions"' in page.text
    assert page.text.count("Proposer ces dates") == 4 + 4 + 2  # clients A, B and C
    first = offered_by_row(page.text)
    assert all(2 <= len(d) <= 3 for d in first.values())
    assert "jour idéal" in page.text or "du jour idéal" in page.text
    # another visit is offered to its client on the days the first row offers: those days
    # are held until answered, so the suggestion offers them no more
    shown, other = sorted(first)[:2]
    with Session(engine) as s:
        conseil = s.exec(select(User).where(User.username == "conseil")).one()
        held = s.get(Visit, other)
        assert held is not None
        held.state, held.consultant_id = "proposed", conseil.id
        held.proposed_dates = first[shown]
        s.add(held)
        s.commit()
    again = offered_by_row(http.get(f"/planning/suggest?year={year}").text)
    assert other not in again and len(again) == len(first) - 1
    assert all(2 <= len(d) <= 3 for d in again.values())
    assert not set(first[shown]) & {d for days in again.values() for d in days}
    english = http.get(f"/planning/suggest?year={year}&lang=en")
    assert english.status_code == 200 and "jour idéal" not in english.text
    greedy_page = http.get(f"/planning/suggest?year={year}&method=greedy&lang=en")
    assert greedy_page.status_code == 200 and "the first free day of the window" in greedy_page.text
    assert desk.signed_in("manager")[0].get("/planning/suggest").status_code == 403


def test_in_december_the_desk_suggests_late_visits_after_their_window(
        engine: Engine, tmp_path: Path) -> None:
    # the demo's visits of a year, planned from 7 December of that year: most windows have
    # passed; one visit is already offered on three days, which stay held
    desk = make_desk(engine, tmp_path)
    http, token = desk.signed_in("planner")
    year = paris_today().year + 1
    http.post("/planning/plan-year", data={"year": str(year), "csrf_token": token})
    today = dt.date(year, 12, 7)
    with Session(engine) as s:
        conseil = s.exec(select(User).where(User.username == "conseil")).one()
        held = s.exec(select(Visit).where(Visit.contract_year == year)).first()
        assert held is not None
        offered = [dt.date(year, 12, 8), dt.date(year, 12, 9), dt.date(year, 12, 10)]
        held.state, held.consultant_id = "proposed", conseil.id
        held.proposed_dates = [d.isoformat() for d in offered]
        s.add(held)
        s.commit()
        problem = problem_from_db(s, year, today)
    assert held.id not in {v.key for v in problem.visits}
    late = [v for v in problem.visits if v.start > v.end]
    assert len(late) >= 5 and all(v.start == today + dt.timedelta(days=1) for v in late)
    plan = optimal(problem, time_limit_s=30)
    assert violations(problem, plan) == [] and hard_violations(problem, plan, today) == []
    assert out_of_window(problem, plan) == exact_minimum(problem)
    for v in late:
        b = plan.bookings[v.key]
        assert b.day > today and b.day > v.end and "fenêtre passée" in b.reason
        assert b.day not in offered  # conseil's held days
    rows = offers(problem, plan)
    check_rows(problem, plan, rows)
    assert all(not set(rows[v.key]) & set(offered) for v in late)
    assert sum(1 for v in late if rows[v.key]) >= len(late) // 2
