"""Benchmark of the year's visit planning: the exact minimum, the greedy baseline and the
exact planner, on the same synthetic years.

    python -m bench.planner [--clients 300] [--seeds 1-8] [--big 600] [--consultants 6]

A synthetic year: 300 clients with 1 to 9 servers (about 1,500 visits owed, each with its
due window spread over the year), sites in 15 postcode areas, one in ten in Alsace-Moselle
(its own holidays), 6 consultants with about 25 leave days each, planned the day before the
year starts. For each seed the bench computes, **by itself**, the fewest visits that must be
outside their window (a plain max-flow: visits to the business days of their window, each
day taking as many visits as consultants are free, ``n - max flow``), then runs each planner
(wall time includes building its model) and checks its plan with its own checker (leave,
one visit a day per consultant, closed days of the site, past dates, unknown visits). It
then measures the suggestion's rows: sendable (2-3 dates), pairwise disjoint per consultant.
The last line is the summary:

    planner: visits=<n> hard_violations=0 seeds_at_minimum=<k>/8 wall_s_600=<s>
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from collections import Counter

from domain.calendar import site_calendar
from planning.entitlement import due_windows, ideal_day, owed_for, period_of
from planning.optimal import optimal
from planning.suggest import (
    Consultant,
    Plan,
    Problem,
    VisitNeed,
    greedy,
    load_spread,
    mean_days_from_ideal,
    offers,
    out_of_window,
    trips,
)

AREAS = ("01", "07", "26", "38", "42", "69", "73", "74", "21", "71", "39", "25", "57", "67", "68")
ALSACE_MOSELLE = {"57": "57", "67": "6AE", "68": "6AE"}


def synthetic(clients: int, consultants: int, seed: int, year: int = 2027) -> Problem:
    rng = random.Random(seed)
    start, end = period_of(year)
    visits: list[VisitNeed] = []
    key = 0
    for cid in range(1, clients + 1):
        servers = rng.choice([1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5, 6, 7, 8, 9])
        # one site in ten is in Alsace-Moselle, with the local holidays
        area = rng.choice(AREAS[-3:]) if rng.random() < 0.1 else rng.choice(AREAS[:-3])
        for window in due_windows(start, end, owed_for(servers)):
            key += 1
            visits.append(VisitNeed(key=key, client_id=cid, start=window[0], end=window[1],
                                    ideal=ideal_day(window), subdiv=ALSACE_MOSELLE.get(area),
                                    area=area))
    people = []
    for c in range(1, consultants + 1):
        leave: set[dt.date] = set()
        while len(leave) < 25:  # a few weeks of holidays and odd days
            first = start + dt.timedelta(days=rng.randrange(0, 360))
            for i in range(rng.choice([1, 1, 2, 5])):
                leave.add(first + dt.timedelta(days=i))
        people.append(Consultant(id=c, leave=frozenset(leave)))
    return Problem(tuple(visits), tuple(people), horizon_end=end + dt.timedelta(days=120))


def exact_minimum(problem: Problem) -> int:
    """The fewest visits outside their window, by a max-flow of its own (not the planner's
    code path): source -> visit (1) -> open day of its window (1) -> sink (free consultants
    that day). Every consultant can do every visit, so a day's count is all that matters."""
    from ortools.graph.python import max_flow

    cal = {}
    days: dict[dt.date, int] = {}
    tails: list[int] = []
    heads: list[int] = []
    n = len(problem.visits)
    for i, v in enumerate(problem.visits, start=1):
        cal.setdefault(v.subdiv, site_calendar(v.subdiv))
        d = v.start
        while d <= v.end:
            if cal[v.subdiv].is_business_day(d):
                node = days.setdefault(d, n + 1 + len(days))
                tails.append(i)
                heads.append(node)
            d += dt.timedelta(days=1)
    sink = n + 1 + len(days)
    flow = max_flow.SimpleMaxFlow()
    for i in range(1, n + 1):
        flow.add_arc_with_capacity(0, i, 1)
    for t, h in zip(tails, heads, strict=True):
        flow.add_arc_with_capacity(t, h, 1)
    for d, node in days.items():
        free = sum(1 for c in problem.consultants if d not in c.leave and d not in c.busy)
        flow.add_arc_with_capacity(node, sink, free)
    assert flow.solve(0, sink) == flow.OPTIMAL
    return n - flow.optimal_flow()


def hard_violations(problem: Problem, plan: Plan, today: dt.date) -> list[str]:
    """The bench's own checker of a plan's hard rules."""
    needs = {v.key: v for v in problem.visits}
    cons = {c.id: c for c in problem.consultants}
    bad: list[str] = []
    per_day = Counter((b.consultant, b.day) for b in plan.bookings.values())
    bad += [f"{c} x{k} on {d}" for (c, d), k in per_day.items() if k > 1]
    for b in plan.bookings.values():
        v, c = needs.get(b.visit), cons.get(b.consultant)
        if v is None or c is None:
            bad.append(f"unknown visit or consultant {b}")
            continue
        if b.day in c.leave or b.day in c.busy:
            bad.append(f"{b.visit}: consultant {c.id} not free on {b.day}")
        if not site_calendar(v.subdiv).is_business_day(b.day):
            bad.append(f"{b.visit}: site closed on {b.day}")
        if b.day <= today or b.day < v.start:
            bad.append(f"{b.visit}: {b.day} in the past or before its window")
    return bad


def offer_faults(problem: Problem, plan: Plan, rows: dict[int, tuple[dt.date, ...]]) -> int:
    """Offered days a consultant would be asked twice, or that are held, closed or booked."""
    needs = {v.key: v for v in problem.visits}
    cons = {c.id: c for c in problem.consultants}
    seen: Counter[tuple[int, dt.date]] = Counter()
    faults = 0
    for key, days in rows.items():
        if not days:
            continue
        c, v = cons[plan.bookings[key].consultant], needs[key]
        faults += not 2 <= len(days) <= 3
        for d in days:
            seen[(c.id, d)] += 1
            faults += d in c.leave or d in c.busy or d < v.start
            faults += not site_calendar(v.subdiv).is_business_day(d)
    return faults + sum(k - 1 for k in seen.values())


def lateness(problem: Problem, plan: Plan) -> int:
    needs = {v.key: v for v in problem.visits}
    return sum(max(0, (b.day - needs[b.visit].end).days) for b in plan.bookings.values())


def run(clients: int, consultants: int, seed: int, seconds: float) -> dict[str, float]:
    problem = synthetic(clients, consultants, seed)
    today = min(v.start for v in problem.visits) - dt.timedelta(days=1)
    minimum = exact_minimum(problem)
    out: dict[str, float] = {"visits": len(problem.visits), "minimum": minimum, "hard": 0}
    for name, solve in (("greedy", greedy),
                        ("optimal", lambda p: optimal(p, time_limit_s=seconds))):
        t0 = time.perf_counter()
        plan = solve(problem)
        wall = time.perf_counter() - t0
        bad = hard_violations(problem, plan, today)
        out["hard"] += len(bad)
        out[name] = out_of_window(problem, plan)
        out[f"{name}_s"] = wall
        print(f"  {name:7s} out_of_window={out[name]} (minimum {minimum}) "
              f"unplaced={len(plan.unplaced)} lateness_days={lateness(problem, plan)} "
              f"days_from_ideal={mean_days_from_ideal(problem, plan):.1f} "
              f"trips={trips(problem, plan)} load_spread={load_spread(problem, plan)} "
              f"hard_violations={len(bad)} wall_s={wall:.2f}")
        for line in bad[:5]:
            print("     ", line)
    t0 = time.perf_counter()
    rows = offers(problem, plan)
    sendable = sum(1 for d in rows.values() if d)
    soon = [k for k, b in plan.bookings.items() if b.day <= today + dt.timedelta(days=42)]
    faults = offer_faults(problem, plan, rows)
    out["hard"] += faults
    print(f"  rows    sendable={sendable}/{len(rows)} "
          f"three_dates={sum(1 for d in rows.values() if len(d) == 3)} "
          f"sendable_first_6_weeks={sum(1 for k in soon if rows[k])}/{len(soon)} "
          f"faults={faults} wall_s={time.perf_counter() - t0:.2f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=300)
    ap.add_argument("--seeds", default="1-8", help="a range a-b or one seed")
    ap.add_argument("--big", type=int, default=600, help="clients of the last run (0: none)")
    ap.add_argument("--consultants", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=55.0, help="the planner's time limit")
    args = ap.parse_args()
    lo, _, hi = args.seeds.partition("-")
    seeds = range(int(lo), int(hi or lo) + 1)
    at_min, hard, visits = 0, 0, 0
    for seed in seeds:
        print(f"seed={seed} clients={args.clients}")
        r = run(args.clients, args.consultants, seed, args.seconds)
        at_min += r["optimal"] == r["minimum"]
        hard += int(r["hard"])
        visits = int(r["visits"])
    wall_big = 0.0
    if args.big:
        print(f"seed=1 clients={args.big}")
        r = run(args.big, args.consultants, 1, args.seconds)
        hard += int(r["hard"])
        wall_big = r["optimal_s"]
    print(f"planner: visits={visits} hard_violations={hard} "
          f"seeds_at_minimum={at_min}/{len(seeds)} wall_s_{args.big}={wall_big:.1f}")


if __name__ == "__main__":
    main()
