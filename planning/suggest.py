"""The year's planning suggested for every client at once: a greedy baseline and a CP-SAT model.

Hard rules (never broken by either, checked independently by :func:`violations`):
a visit is booked on a business day of **its site's** calendar, by a consultant who is not on
leave that day and has no other visit that day; a visit is one day. Soft goals (CP-SAT only):
few visits outside their due window (6 consultants cannot always do every visit in its
window: one a day is about 230 visits a year each), dates close to the window's ideal day,
balanced load between consultants, and nearby sites (the same postcode area) grouped in the
same consultant's week.

* :func:`greedy`: visits by due date (earliest deadline first), each on the earliest day from
  its window's start with a free consultant (the least loaded of them), possibly after its
  window when the window is full;
* :func:`cpsat`: ``ortools`` CP-SAT over a few candidate days per visit (those nearest the
  ideal inside the window, some after it, and the greedy day, given as a hint so the solver
  starts from a complete plan).

Pure functions of a :class:`Problem`: the console builds one from the database
(:func:`problem_from_db`), the benchmark (``bench/planner.py``) a synthetic one.
"""

from __future__ import annotations

import datetime as dt
import time
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


@dataclass
class Plan:
    bookings: dict[int, Booking] = field(default_factory=dict)
    unplaced: list[int] = field(default_factory=list)
    solve_s: float = 0.0
    status: str = ""


@lru_cache(maxsize=32)
def _open_days(subdiv: str | None, start: dt.date, end: dt.date,
               closed: frozenset[dt.date] = frozenset(),
               opened: frozenset[dt.date] = frozenset()) -> tuple[dt.date, ...]:
    cal = site_calendar(subdiv, closed=closed, opened=opened)
    out, day = [], start
    while day <= end:
        if cal.is_business_day(day):
            out.append(day)
        day += dt.timedelta(days=1)
    return tuple(out)


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
                plan.bookings[v.key] = Booking(v.key, day, c.id)
                placed = True
                break
        if not placed:
            plan.unplaced.append(v.key)
    plan.solve_s = time.perf_counter() - t0
    plan.status = "greedy"
    return plan


# --- CP-SAT ---------------------------------------------------------------------------------

W_UNPLACED = 100_000
W_OUT = 2_000
W_DAY = 3  # per day away from the ideal (inside the window)
W_LATE_DAY = 20  # per day past the window's end
W_TRIP = 40  # per (week, area) with a visit: nearby sites share weeks


def _candidates(v: VisitNeed, horizon_end: dt.date, inside: int, after: int,
                extra: dt.date | None) -> list[dt.date]:
    days = open_days(v, horizon_end)
    in_window = [d for d in days if d <= v.end]
    in_window.sort(key=lambda d: (abs((d - v.ideal).days), d))
    late = [d for d in days if d > v.end]
    step = max(1, len(late[: after * 8]) // max(1, after))
    chosen = set(in_window[:inside]) | set(late[: after * 8: step][:after])
    if extra is not None:
        chosen.add(extra)
    return sorted(chosen)


def cpsat(problem: Problem, time_limit_s: float = 30.0, workers: int = 2,
          hint: Plan | None = None, span_days: int = 42, trip_weight: int = W_TRIP) -> Plan:
    """The CP-SAT plan (ortools is imported here: heavy, and not needed by the console's
    greedy suggestion), in two steps.

    1. **Days**, by CP-SAT over overlapping six-week spans of the year in turn (a large
       neighbourhood search driven by hand: one model for the whole year is too big for the
       solver to improve on a two-core machine, a span's model is solved well in a second
       or two). In a span, each visit now in it gets one boolean per business day of its
       site in the span (from its window's start); on each day no more visits than
       consultants free that day, and a visit given to someone needs that one free, once a
       day. Minimised: visits left unplaced, late visits and their lateness, the distance to
       the ideal day, and the (week, area) trips so that nearby sites share weeks. The
       current plan is the hint, so a span never gets worse; the greedy plan starts it.
    2. **Consultants**, day by day (:func:`_assign`): a visit given to someone keeps them,
       the others go to a free consultant, preferring the one already in that area that
       week, then the least loaded. Step 1's counts make it always possible.
    """
    from ortools.sat.python import cp_model

    t0 = time.perf_counter()
    base = hint if hint is not None else greedy(problem)
    needs = {v.key: v for v in problem.visits}
    day_of = {vk: b.day for vk, b in base.bookings.items()}
    unplaced = set(base.unplaced)
    free_count: dict[dt.date, int] = {}
    owners_free: dict[tuple[int, dt.date], bool] = {}
    first = min((v.start for v in problem.visits), default=problem.horizon_end)
    spans = []
    a = first
    while a <= problem.horizon_end:
        spans.append((a, min(problem.horizon_end, a + dt.timedelta(days=span_days - 1))))
        a += dt.timedelta(days=span_days // 2)
    budget = time_limit_s / max(1, len(spans))
    status_seen: set[str] = set()

    def free(day: dt.date) -> int:
        if day not in free_count:
            free_count[day] = sum(1 for c in problem.consultants
                                  if day not in c.leave and day not in c.busy)
        return free_count[day]

    def owner_free(cid: int, day: dt.date) -> bool:
        key = (cid, day)
        if key not in owners_free:
            c = next((x for x in problem.consultants if x.id == cid), None)
            owners_free[key] = c is not None and day not in c.leave and day not in c.busy
        return owners_free[key]

    for lo, hi in spans:
        sub = [needs[vk] for vk, d in day_of.items() if lo <= d <= hi]
        sub += [needs[vk] for vk in unplaced if needs[vk].start <= hi]
        if not sub:
            continue
        model = cp_model.CpModel()
        x: dict[tuple[int, dt.date], cp_model.IntVar] = {}
        by_day: dict[dt.date, list[cp_model.IntVar]] = defaultdict(list)
        by_owner: dict[tuple[int, dt.date], list[cp_model.IntVar]] = defaultdict(list)
        by_trip: dict[tuple[tuple[int, int], str], list[cp_model.IntVar]] = defaultdict(list)
        cost: list[cp_model.LinearExprT] = []
        u_vars: dict[int, cp_model.IntVar] = {}
        for v in sub:
            options = []
            for day in _open_days(v.subdiv, max(lo, v.start), hi, v.closed, v.opened) \
                    if max(lo, v.start) <= hi \
                    else ():
                if free(day) == 0 or (v.consultant is not None
                                      and not owner_free(v.consultant, day)):
                    continue
                var = model.new_bool_var(f"x{v.key}_{day.toordinal()}")
                x[(v.key, day)] = var
                options.append(var)
                by_day[day].append(var)
                if v.consultant is not None:
                    by_owner[(v.consultant, day)].append(var)
                if v.area and trip_weight:
                    by_trip[(day.isocalendar()[:2], v.area)].append(var)
                penalty = (W_DAY * abs((day - v.ideal).days) if day <= v.end
                           else W_OUT + W_LATE_DAY * (day - v.end).days)
                if penalty:
                    cost.append(penalty * var)
            if v.key in unplaced:
                u = model.new_bool_var(f"u{v.key}")
                u_vars[v.key] = u
                options.append(u)
                cost.append(W_UNPLACED * u)
            model.add_exactly_one(options)
        for day, group in by_day.items():
            model.add(sum(group) <= free(day))
        for group in by_owner.values():
            if len(group) > 1:
                model.add_at_most_one(group)
        current_trips = {(day_of[v.key].isocalendar()[:2], v.area) for v in sub
                         if v.key in day_of and v.key not in unplaced}
        for key, group in by_trip.items():
            y = model.new_bool_var(f"t{key[0][0]}_{key[0][1]}_{key[1]}")
            for var in group:
                model.add_implication(var, y)
            model.add_hint(y, key in current_trips)
            cost.append(trip_weight * y)
        for (vk, day), var in x.items():
            model.add_hint(var, day_of.get(vk) == day and vk not in unplaced)
        for u in u_vars.values():
            model.add_hint(u, True)
        model.minimize(sum(cost))
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = budget
        solver.parameters.num_workers = workers
        solver.parameters.random_seed = 7
        status = solver.solve(model)
        status_seen.add(solver.status_name(status))
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            continue  # keep the span as it was: never worse, never invented
        for v in sub:
            if v.key in u_vars and solver.boolean_value(u_vars[v.key]):
                continue
            for (vk, day), var in x.items():
                if vk == v.key and solver.boolean_value(var):
                    day_of[vk] = day
                    unplaced.discard(vk)
                    break
    plan = Plan(status="+".join(sorted(status_seen)) or "HINT")
    plan.unplaced = sorted(unplaced)
    _assign(problem, {vk: d for vk, d in day_of.items() if vk not in unplaced}, plan)
    plan.solve_s = time.perf_counter() - t0
    return plan


def _assign(problem: Problem, days: dict[int, dt.date], plan: Plan) -> None:
    """Step 2: consultants for the chosen days (see :func:`cpsat`)."""
    needs = {v.key: v for v in problem.visits}
    load: dict[int, int] = defaultdict(int)
    area_week: dict[tuple[tuple[int, int], str], dict[int, int]] = defaultdict(
        lambda: defaultdict(int))
    per_day: dict[dt.date, list[int]] = defaultdict(list)
    for vk, day in days.items():
        per_day[day].append(vk)
    for day in sorted(per_day):
        free = [c.id for c in problem.consultants if day not in c.leave and day not in c.busy]
        todo = sorted(per_day[day], key=lambda k: (needs[k].consultant is None, k))
        for vk in todo:
            v = needs[vk]
            if v.consultant is not None:
                pick = v.consultant
            else:
                week = area_week[(day.isocalendar()[:2], v.area)]
                pick = min(free, key=lambda c: (-week.get(c, 0), load[c], c))
            free.remove(pick)
            load[pick] += 1
            area_week[(day.isocalendar()[:2], v.area)][pick] += 1
            plan.bookings[vk] = Booking(vk, day, pick)


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
        if not site_calendar(v.subdiv, closed=v.closed, opened=v.opened).is_business_day(b.day):
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


def trips(problem: Problem, plan: Plan) -> int:
    needs = {v.key: v for v in problem.visits}
    return len({(b.consultant, b.day.isocalendar()[:2], needs[b.visit].area or str(b.visit))
                for b in plan.bookings.values()})


def alternatives(problem: Problem, plan: Plan, key: int, n: int = 2) -> list[dt.date]:
    """Other days the same consultant could do this visit (for a 2-3 date proposal): free,
    not on leave, business days of the site, nearest the booked day inside the window."""
    b = plan.bookings.get(key)
    if b is None:
        return []
    v = next(x for x in problem.visits if x.key == key)
    c = next(x for x in problem.consultants if x.id == b.consultant)
    taken = {x.day for x in plan.bookings.values() if x.consultant == c.id} | set(c.busy)
    pool = [d for d in open_days(v, max(v.end, b.day)) if d not in taken and d not in c.leave]
    pool.sort(key=lambda d: (d > v.end, abs((d - b.day).days), d))
    return pool[:n]
