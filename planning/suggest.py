"""The year's planning suggested for every client at once, and the rows a planner sends.

Hard rules (never broken, checked independently by :func:`violations`): a visit is booked on
a business day of **its site's** calendar, by a consultant who is not on leave that day and
has no other visit (nor open proposal) that day; a visit is one day, never in the past.

* :func:`greedy`: the baseline, visits by due date (earliest deadline first), each on the
  earliest day from its window's start with a free consultant (the least loaded of them),
  possibly after its window when the window is full;
* :func:`planning.optimal.optimal`: the exact planner (a min-cost flow: the fewest visits
  outside their window, then lateness, closeness to the ideal day, trips);
* :func:`offers`: the 2-3 dates each row of a suggestion offers, no day offered twice for
  one consultant.

Pure functions of a :class:`Problem`: the console builds one from the database
(:func:`planning.suggest_db.problem_from_db`), the benchmark (``bench/planner.py``) a
synthetic one.
"""

from __future__ import annotations

import datetime as dt
import time
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

from domain.calendar import site_calendar


@dataclass(frozen=True)
class VisitNeed:
    key: int
    client_id: int
    start: dt.date
    end: dt.date
    ideal: dt.date
    subdiv: str | None = None
    area: str = ""  # postcode area (first two digits), "" when the site has none
    consultant: int | None = None  # already given to someone: keep them
    closed: frozenset[dt.date] = frozenset()  # the site's own closed days (site_days)
    opened: frozenset[dt.date] = frozenset()  # the site's own open days (a holiday worked)


@dataclass(frozen=True)
class Consultant:
    id: int
    leave: frozenset[dt.date] = frozenset()
    busy: frozenset[dt.date] = frozenset()  # days already taken by visits outside the problem


@dataclass(frozen=True)
class Problem:
    visits: tuple[VisitNeed, ...]
    consultants: tuple[Consultant, ...]
    horizon_end: dt.date  # the last day a visit may be put on (late visits included)


@dataclass(frozen=True)
class Booking:
    visit: int
    day: dt.date
    consultant: int
    reason: str = ""  # why this day, in a few words (shown beside the booking)


@dataclass
class Plan:
    bookings: dict[int, Booking] = field(default_factory=dict)
    unplaced: list[int] = field(default_factory=list)
    solve_s: float = 0.0
    status: str = ""


Days = frozenset[dt.date]
NO_DAYS: Days = frozenset()


@lru_cache(maxsize=1024)
def _year_days(subdiv: str | None, year: int, closed: Days = NO_DAYS, opened: Days = NO_DAYS
               ) -> tuple[dt.date, ...]:
    """A site calendar's business days of one year (built once: planning asks thousands of
    times), with the site's own closed and open days on top (``planning.site_days``)."""
    cal = site_calendar(subdiv, closed=closed, opened=opened)
    out, day = [], dt.date(year, 1, 1)
    while day.year == year:
        if cal.is_business_day(day):
            out.append(day)
        day += dt.timedelta(days=1)
    return tuple(out)


@lru_cache(maxsize=4096)
def _open_days(subdiv: str | None, start: dt.date, end: dt.date,
               closed: Days = NO_DAYS, opened: Days = NO_DAYS) -> tuple[dt.date, ...]:
    out: list[dt.date] = []
    for year in range(start.year, end.year + 1):
        days = _year_days(subdiv, year, closed, opened)
        out.extend(days[bisect_left(days, start):bisect_right(days, end)])
    return tuple(out)


def is_open(subdiv: str | None, day: dt.date, closed: Days = NO_DAYS,
            opened: Days = NO_DAYS) -> bool:
    """Is a site of this calendar open that day (the one check of the planners' rules); a
    site's own closed and open days (``VisitNeed.closed``/``opened``) on top."""
    days = _year_days(subdiv, day.year, closed, opened)
    i = bisect_left(days, day)
    return i < len(days) and days[i] == day


def site_is_open(v: VisitNeed, day: dt.date) -> bool:
    """Is ``v``'s site open that day (its subdivision and its own days)."""
    return is_open(v.subdiv, day, v.closed, v.opened)


def open_days(v: VisitNeed, until: dt.date) -> tuple[dt.date, ...]:
    return _open_days(v.subdiv, v.start, until, v.closed, v.opened)


def _allowed(c: Consultant, v: VisitNeed) -> bool:
    return v.consultant is None or v.consultant == c.id


# --- greedy ---------------------------------------------------------------------------------


def greedy(problem: Problem) -> Plan:
    t0 = time.perf_counter()
    taken: dict[int, set[dt.date]] = {c.id: set(c.busy) for c in problem.consultants}
    load: dict[int, int] = defaultdict(int)
    plan = Plan()
    for v in sorted(problem.visits, key=lambda x: (x.end, x.start, x.key)):
        placed = False
        for day in open_days(v, problem.horizon_end):
            free = [c for c in problem.consultants if _allowed(c, v)
                    and day not in c.leave and day not in taken[c.id]]
            if free:
                c = min(free, key=lambda x: (load[x.id], x.id))
                taken[c.id].add(day)
                load[c.id] += 1
                why = ("fenêtre passée : le premier jour libre" if v.start > v.end
                       else "fenêtre pleine : le premier jour libre après" if day > v.end
                       else "le premier jour libre de la fenêtre")
                plan.bookings[v.key] = Booking(v.key, day, c.id, why)
                placed = True
                break
        if not placed:
            plan.unplaced.append(v.key)
    plan.solve_s = time.perf_counter() - t0
    plan.status = "greedy"
    return plan


# --- measures (independent of the planners) --------------------------------------------------


def violations(problem: Problem, plan: Plan) -> list[str]:
    """Every hard rule a plan breaks, in words; empty for a valid plan."""
    out: list[str] = []
    needs = {v.key: v for v in problem.visits}
    cons = {c.id: c for c in problem.consultants}
    seen: dict[tuple[int, dt.date], int] = {}
    for b in plan.bookings.values():
        v, c = needs.get(b.visit), cons.get(b.consultant)
        if v is None or c is None:
            out.append(f"visite {b.visit} : visite ou consultant inconnu")
            continue
        if not site_is_open(v, b.day):
            out.append(f"visite {b.visit} : {b.day} n'est pas un jour ouvré du site")
        if b.day in c.leave:
            out.append(f"visite {b.visit} : consultant {c.id} en congé le {b.day}")
        if b.day in c.busy:
            out.append(f"visite {b.visit} : consultant {c.id} déjà pris le {b.day}")
        if v.consultant is not None and v.consultant != c.id:
            out.append(f"visite {b.visit} : confiée à {v.consultant}, pas à {c.id}")
        if b.day < v.start:
            out.append(f"visite {b.visit} : avant l'ouverture de sa fenêtre")
        other = seen.get((c.id, b.day))
        if other is not None:
            out.append(f"consultant {c.id} : deux visites le {b.day} ({other}, {b.visit})")
        seen[(c.id, b.day)] = b.visit
    return out


def out_of_window(problem: Problem, plan: Plan) -> int:
    needs = {v.key: v for v in problem.visits}
    late = sum(1 for b in plan.bookings.values() if b.day > needs[b.visit].end)
    return late + len(plan.unplaced)


def load_spread(problem: Problem, plan: Plan) -> int:
    loads = {c.id: 0 for c in problem.consultants}
    for b in plan.bookings.values():
        loads[b.consultant] += 1
    return max(loads.values()) - min(loads.values()) if loads else 0


def mean_days_from_ideal(problem: Problem, plan: Plan) -> float:
    needs = {v.key: v for v in problem.visits}
    gaps = [abs((b.day - needs[b.visit].ideal).days) for b in plan.bookings.values()]
    return sum(gaps) / len(gaps) if gaps else 0.0


def trip_key(v: VisitNeed, day: dt.date) -> tuple[str, tuple[int, int]]:
    """Same postcode area, same ISO week: one trip (a site without a postcode is its own)."""
    return (v.area or f"#{v.key}", day.isocalendar()[:2])


def trips(problem: Problem, plan: Plan) -> int:
    """Trips: a consultant's visits in date order, a new trip each time the next visit is in
    another area or another week (consecutive same-area visits of a week are one trip)."""
    needs = {v.key: v for v in problem.visits}
    by_consultant: dict[int, list[Booking]] = defaultdict(list)
    for b in plan.bookings.values():
        by_consultant[b.consultant].append(b)
    count = 0
    for rows in by_consultant.values():
        prev = None
        for b in sorted(rows, key=lambda x: (x.day, x.visit)):
            key = trip_key(needs[b.visit], b.day)
            count += key != prev
            prev = key
    return count


def offers(problem: Problem, plan: Plan, size: int = 3, late_span: int = 21
           ) -> dict[int, tuple[dt.date, ...]]:
    """The dates each booked visit's row offers: its booked day first, then one or two more
    days of the same consultant, so that the row can be sent as a 2-3 date proposal; ``()``
    for a row that cannot be sent in this suggestion.

    Within one suggestion no day of a consultant is offered twice (sending every row is
    accepted), and days held already (leave, visits, open proposals: ``Consultant.busy``)
    are never offered. Alternatives are business days of the site from the visit's start
    (never in the past), inside its window or, for a visit booked after its window, after
    the window within ``late_span`` days of its booked day. Free days come first, nearest
    the booked day. When a consultant has no free day left there (a full year), the row
    borrows the **latest** day booked for another of their visits: that later visit's row
    is not sendable now (it waits for this proposal's answer, which frees the days not
    chosen), so the rows to send soonest are the ones that can be sent. Rows are taken in
    order of their booked day.
    """
    needs = {v.key: v for v in problem.visits}
    cons = {c.id: c for c in problem.consultants}
    by_consultant: dict[int, list[Booking]] = defaultdict(list)
    for b in plan.bookings.values():
        by_consultant[b.consultant].append(b)
    out: dict[int, tuple[dt.date, ...]] = {}
    for cid, rows in by_consultant.items():
        c = cons.get(cid)
        held = set(c.leave | c.busy) if c is not None else set()
        booked = {b.day for b in rows}
        offered: set[dt.date] = set()
        for b in sorted(rows, key=lambda x: (x.day, x.visit)):
            v = needs[b.visit]
            if b.day in offered or b.day in held:
                out[b.visit] = ()  # offered by an earlier row: sent after that answer
                continue
            if b.day <= v.end:
                pool = list(open_days(v, v.end))
            else:
                pool = [d for d in open_days(v, b.day + dt.timedelta(days=late_span))
                        if d > v.end and abs((d - b.day).days) <= late_span]
            pool = [d for d in pool if d != b.day and d not in held and d not in offered]
            free = sorted((d for d in pool if d not in booked),
                          key=lambda d: (abs((d - b.day).days), d))
            alts = free[: size - 1]
            if not alts:
                lent = [d for d in pool if d > b.day]
                alts = [max(lent)] if lent else []
            if not alts:
                out[b.visit] = ()
                continue
            out[b.visit] = (b.day, *sorted(alts))
            offered.update(out[b.visit])
    return out


def alternatives(problem: Problem, plan: Plan, key: int, n: int = 2) -> list[dt.date]:
    """The other days one row offers (see :func:`offers`, which gives every row at once)."""
    return list(offers(problem, plan, size=n + 1).get(key, ())[1:])
