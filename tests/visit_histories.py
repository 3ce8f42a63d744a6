"""Visit scenarios whose histories ``tests/test_replay.py`` replays (recorded by
``python -m tests.record_histories --visits``, which writes only the visit files)."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlmodel import Session

from domain.calendar import BusinessCalendar
from messages.visits import (
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
from models.db import make_engine, migrate
from models.visits import Visit
from planning import checklist
from planning.answers import answer_from_link
from planning.visits import create_visit
from tests.visit_fixtures import SECRET, VisitDesk, tokens_in, visit_desk

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


async def late_answered_once_rescheduled_by_phone(desk: VisitDesk) -> Any:
    """Issue 19: a late visit proposed after its window, answered by link (the ``answer``
    update) and the other links replayed; rescheduled (the dropped date mailed to the
    client, a patch marker) and booked again on a date agreed by phone; cancelled."""
    from messages.visits import ConfirmDate
    from planning.answers import take_answer
    from planning.rules import free_days

    vid, handle = await desk.new_visit(start_in=-60, length=30)
    today = BusinessCalendar().to_local(await desk.now()).date()
    with Session(desk.engine) as s:
        visit = s.get(Visit, vid)
        assert visit is not None
        days = [d.isoformat() for d in free_days(s, visit, None, today, 5)]
    await handle.execute_update("assign", AssignConsultant("planner", desk.consultant_id))
    await handle.execute_update("propose", ProposeDates("planner", tuple(days[:3])))
    [mail] = await desk.wait_for_mail(vid, VisitStep.PROPOSAL)
    links = tokens_in(mail.body)
    for token in [links[0], *links]:
        await take_answer(desk.client, SECRET, token, await desk.now())
    await desk.wait_for(handle, V.CONFIRMED)
    await desk.wait_for_mail(vid, VisitStep.CONFIRMED)
    await handle.execute_update("reschedule", RescheduleVisit("planner",
                                                              "congé du consultant"))
    await desk.wait_for_mail(vid, VisitStep.DATE_DROPPED)
    await handle.execute_update("confirm", ConfirmDate("planner", days[4], "au téléphone"))
    await desk.wait_for_mail(vid, VisitStep.CONFIRMED, count=2)
    await handle.execute_update("cancel", CancelVisit("planner", "client résilié"))
    await handle.result()
    return handle


async def continued_as_new(desk: VisitDesk, last_run: bool = False) -> Any:
    """Issue 19: a run past its history limit continues as new, carrying its state (the
    first run's history is recorded, and the last run's under ``.carried``)."""
    from dataclasses import replace

    from messages.visits import visit_workflow_id
    from planning.launch import visit_input
    from workflows.visit import VisitWorkflow

    vid, first = await desk.new_visit()
    await first.execute_update("cancel", CancelVisit("planner", "remplacée"))
    with Session(desk.engine) as s:
        row = s.get(Visit, vid)
        assert row is not None
        new = create_visit(s, row.client_id, "preventive", row.due_start, row.due_end,
                           site_id=row.site_id)
        s.commit()
        inp = replace(visit_input(s, new, desk.settings), history_limit=40)
    started = await desk.client.start_workflow(VisitWorkflow.run, inp,
                                               id=visit_workflow_id(new.id or 0),
                                               task_queue=desk.queue)
    handle = desk.client.get_workflow_handle(started.id)
    for i in range(6):
        await handle.execute_update("assign", AssignConsultant("planner", desk.consultant_id,
                                                               f"tour {i}"))
    await handle.execute_update("cancel", CancelVisit("planner", "fin"))
    await handle.result()
    if last_run:
        return desk.client.get_workflow_handle(started.id,
                                               run_id=(await handle.describe()).run_id)
    return desk.client.get_workflow_handle(started.id, run_id=started.result_run_id)


async def continued_as_new_last_run(desk: VisitDesk) -> Any:
    return await continued_as_new(desk, last_run=True)


VISIT_SCENARIOS: dict[str, Callable[[VisitDesk], Awaitable[Any]]] = {
    "visit_confirmed_reported_and_sent": confirmed_reported_and_sent,
    "visit_unanswered_rescheduled_cancelled": unanswered_rescheduled_cancelled,
    "visit_late_answered_once_rescheduled_by_phone": late_answered_once_rescheduled_by_phone,
    "visit_continued_as_new": continued_as_new,
    "visit_continued_as_new.carried": continued_as_new_last_run,
    "visit_proposed_with_the_desk_s_rules": proposed_with_the_desk_s_rules,
}


async def record_visits(env: Any, histories: Path) -> list[Path]:
    import json

    written = []
    for name, scenario in VISIT_SCENARIOS.items():
        if (histories / f"{name}.json").exists():  # recordings are added, never replaced
            continue
        with tempfile.TemporaryDirectory() as d:
            url = f"sqlite:///{Path(d) / 'vigie.sqlite3'}"
            migrate(url)
            engine = make_engine(url)
            async with visit_desk(env, engine, Path(d)) as desk:
                handle = await scenario(desk)
                history = await desk.client.get_workflow_handle(
                    handle.id, run_id=handle.run_id).fetch_history()  # the run returned
            engine.dispose()
        path = histories / f"{name}.json"
        if path.exists():  # recordings are added, never replaced
            continue
        path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
        written.append(path)
    return written
