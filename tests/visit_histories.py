"""Visit scenarios whose histories ``tests/test_replay.py`` replays (recorded by
``python -m tests.record_histories --visits``, which writes only the visit files)."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlmodel import Session

from models.db import make_engine, migrate
from planning import checklist
from planning.answers import answer_from_link
from tests.visit_fixtures import SECRET, VisitDesk, tokens_in, visit_desk
from workflows.visit_types import (
    AssignConsultant,
    CancelVisit,
    ProposeDates,
    RescheduleVisit,
    SendReport,
    StartVisit,
    VisitState,
    VisitStep,
    WriteReport,
)

V = VisitState


async def confirmed_reported_and_sent(desk: VisitDesk) -> Any:
    """Proposed, confirmed by link, day-before reminders, run, reported, sent."""
    vid, handle = await desk.new_visit()
    dates = await desk.business_days(vid, 3)
    await handle.execute_update("assign", AssignConsultant("planner", desk.consultant_id))
    await handle.execute_update("propose", ProposeDates("planner", tuple(dates)))
    [mail] = await desk.wait_for_mail(vid, VisitStep.PROPOSAL)
    await answer_from_link(desk.client, SECRET, tokens_in(mail.body)[0], await desk.now())
    await desk.wait_for(handle, V.CONFIRMED)
    day = dt.date.fromisoformat(dates[0])
    eve = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(12, 0), dt.UTC)
    await desk.env.sleep(eve - await desk.now())
    await desk.wait_for_mail(vid, VisitStep.DAY_BEFORE_CONSULTANT)
    await handle.execute_update("start", StartVisit("conseil"))
    with Session(desk.engine) as s:
        for it in checklist.items_of(s, vid):
            checklist.save_answer(s, vid, it.key, "ok", "", "conseil")
        s.commit()
    await handle.execute_update("write_report", WriteReport("conseil", "RAS", "aucune"))
    for _ in range(200):
        try:
            await handle.execute_update("send_report", SendReport("conseil"))
            break
        except Exception:
            await desk.env.sleep(dt.timedelta(seconds=1))
    await handle.result()
    return handle


async def unanswered_rescheduled_cancelled(desk: VisitDesk) -> Any:
    """No answer: reminders, planner alerted; rescheduled, proposed again, cancelled."""
    vid, handle = await desk.new_visit()
    dates = await desk.business_days(vid, 2)
    await handle.execute_update("propose", ProposeDates("planner", tuple(dates)))
    await desk.wait_for(handle, V.AWAITING_CLIENT)
    await desk.env.sleep(dt.timedelta(hours=170))
    await desk.wait_for_mail(vid, VisitStep.PLANNER_ALERT)
    await handle.execute_update("reschedule", RescheduleVisit("planner", "pas de réponse"))
    later = await desk.business_days(vid, 2, skip=4)
    await handle.execute_update("propose", ProposeDates("planner", tuple(later)))
    await desk.wait_for(handle, V.AWAITING_CLIENT)
    await handle.execute_update("cancel", CancelVisit("planner", "client résilié"))
    await handle.result()
    return handle


async def proposed_with_the_desk_s_rules(desk: VisitDesk) -> Any:
    """Issue 19 part C: the window re-cut and a site's own closed day after the workflow
    started reach it with the proposal (``ProposeDates.rules``); then cancelled."""
    from models.db import session_scope
    from models.visits import Visit
    from planning.rules import visit_rules
    from planning.site_days import add_range

    vid, handle = await desk.new_visit(start_in=10, length=20)
    with session_scope(desk.engine) as s:
        visit = s.get(Visit, vid)
        assert visit is not None and visit.site_id is not None
        visit.due_start = visit.due_end + dt.timedelta(days=30)
        visit.due_end = visit.due_start + dt.timedelta(days=30)
        s.add(visit)
    first = dt.date.fromisoformat((await desk.business_days(vid, 1))[0])
    with session_scope(desk.engine) as s:
        add_range(s, visit.site_id, first, None, False, "inventaire")
    dates = await desk.business_days(vid, 2, skip=1)
    with Session(desk.engine) as s:
        row = s.get(Visit, vid)
        assert row is not None
        rules = visit_rules(s, row)
    await handle.execute_update("propose", ProposeDates("planner", tuple(dates), rules=rules))
    await desk.wait_for(handle, V.AWAITING_CLIENT)
    await handle.execute_update("cancel", CancelVisit("planner", "client résilié"))
    await handle.result()
    return handle


VISIT_SCENARIOS: dict[str, Callable[[VisitDesk], Awaitable[Any]]] = {
    "visit_confirmed_reported_and_sent": confirmed_reported_and_sent,
    "visit_unanswered_rescheduled_cancelled": unanswered_rescheduled_cancelled,
    "visit_proposed_with_the_desk_s_rules": proposed_with_the_desk_s_rules,
}


async def record_visits(env: Any, histories: Path) -> list[Path]:
    import json

    written = []
    for name, scenario in VISIT_SCENARIOS.items():
        with tempfile.TemporaryDirectory() as d:
            url = f"sqlite:///{Path(d) / 'vigie.sqlite3'}"
            migrate(url)
            engine = make_engine(url)
            async with visit_desk(env, engine, Path(d)) as desk:
                handle = await scenario(desk)
                history = await desk.client.get_workflow_handle(handle.id).fetch_history()
            engine.dispose()
        path = histories / f"{name}.json"
        if path.exists():  # recordings are added, never replaced
            continue
        path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
        written.append(path)
    return written
