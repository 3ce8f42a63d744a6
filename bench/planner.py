"""Benchmark of the year's visit planning: the greedy baseline and the CP-SAT model, one run.

    python -m bench.planner [--clients 300] [--consultants 6] [--seconds 30] [--seed 1]

A synthetic year: 300 clients with 1 to 9 servers (about 1,500 visits owed, each with its
due window spread over the year), sites in 15 postcode areas, one in ten in Alsace-Moselle
(its own holidays), 6 consultants with about 25 leave days each. Each planner's plan is
checked by the same independent function (hard violations must be 0), then measured: visits
outside their due window (late or not placed), load spread between consultants, mean
distance to the ideal day, trips (consultant x week x area). The last line is the summary:

    planner: visits=<n> hard_violations=<n> cpsat_s=<s> out_of_window greedy=<n> cpsat=<n>
"""

from __future__ import annotations

import argparse
import datetime as dt
import random

from planning.entitlement import due_windows, ideal_day, owed_for, period_of
from planning.suggest import (
    Consultant,
    Plan,
    Problem,
    VisitNeed,
    cpsat,
    greedy,
    load_spread,
    mean_days_from_ideal,
    out_of_window,
    trips,
    violations,
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


def report(name: str, problem: Problem, plan: Plan) -> int:
    bad = violations(problem, plan)
    print(f"{name:7s} placed={len(plan.bookings)} unplaced={len(plan.unplaced)} "
          f"hard_violations={len(bad)} out_of_window={out_of_window(problem, plan)} "
          f"load_spread={load_spread(problem, plan)} "
          f"days_from_ideal={mean_days_from_ideal(problem, plan):.1f} "
          f"trips={trips(problem, plan)} solve_s={plan.solve_s:.2f} {plan.status}")
    for line in bad[:5]:
        print("   ", line)
    return len(bad)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=300)
    ap.add_argument("--consultants", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=30.0, help="CP-SAT time limit")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    problem = synthetic(args.clients, args.consultants, args.seed)
    capacity = sum(len([d for d in _business_days(problem) if d not in c.leave])
                   for c in problem.consultants)
    print(f"problem: clients={args.clients} visits={len(problem.visits)} "
          f"consultants={args.consultants} consultant_days_in_year={capacity} "
          f"at_least_out_of_window={max(0, len(problem.visits) - capacity)}")
    base = greedy(problem)
    hard = report("greedy", problem, base)
    best = cpsat(problem, time_limit_s=args.seconds, workers=args.workers, hint=base)
    hard += report("cpsat", problem, best)
    print(f"planner: visits={len(problem.visits)} hard_violations={hard} "
          f"cpsat_s={best.solve_s:.1f} out_of_window greedy={out_of_window(problem, base)} "
          f"cpsat={out_of_window(problem, best)}")


def _business_days(problem: Problem) -> list[dt.date]:
    from planning.suggest import _open_days

    first = min(v.start for v in problem.visits)
    last = max(v.end for v in problem.visits)
    return list(_open_days(None, first, last))


if __name__ == "__main__":
    main()
