"""Occurrence order (issue 21, finding 3): events are judged by when they happened.

Behind a real MTA, retries delivered problems after their recoveries, and 77 of 150 recovered
cases reopened for problems older than their recovery. Each alert now carries its occurrence
(the source's own time where it gives one, else its receipt); a problem that happened before
the case's last recovery (beyond the clock-skew margin) is a late arrival: linked, on the
ledger, and neither a repeat nor a reopening. On Temporal's time-skipping test server, then
the router's part (which time the signal carries), then the pure core at the margin.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from intake.router import CasePolicy, route_for
from intake.store import accept
from messages.cases import ActivityName, AlertSignal
from models.tables import AlertEventRow
from tests.test_case_machine import opened
from tests.test_case_workflow import desk, env
from tests.test_routing import drain_db_step, probe
from tests.workflow_fixtures import Desk, case_late_problem_after_its_recovery
from vigie.demo import load_demo

__all__ = ["desk", "env"]  # the time-skipping server and a worker with recording fakes


async def test_a_problem_that_happened_before_the_recovery_arrives_late_and_reopens_nothing(
    desk: Desk,
) -> None:
    handle = await case_late_problem_after_its_recovery(desk)
    final = await handle.result()
    actions = [(e.action, e.to_state) for e in final.timeline]
    assert actions[:5] == [("open", "new"), ("recovery", None), ("resolve", "resolved"),
                           ("late_arrival", None), ("repeat", None)]
    assert ("reopen", "reopened") == actions[5]  # only the problem that happened after it
    late = final.timeline[3]
    assert late.actor == "system" and late.data["event_id"] == "503"
    assert late.data["occurred_at"] < late.data["last_recovery_at"]
    assert final.repeat_count == 1  # the late one is no repeat
    ledger = desk.acts.of(ActivityName.APPEND_AUDIT)
    assert [line.action for line in ledger].count("late_arrival") == 1  # in the ledger
    linked = [link.event_id for link in desk.acts.of(ActivityName.LINK_EVENT)]
    assert 503 in linked  # the late event stays on the case


def _row(**fields: object) -> AlertEventRow:
    base: dict[str, object] = {
        "id": 7, "raw_message_id": 1, "idx": 0, "family": "performance", "status": "problem",
        "host": "SRV-DC01", "check": "cpu", "fingerprint": "fp", "client_id": 1,
        "received_at": datetime(2026, 12, 7, 10, 40, tzinfo=UTC), "source_check": "ip",
    }
    return AlertEventRow(**{**base, **fields})


def test_the_router_sends_the_sources_own_time_else_the_receipt() -> None:
    told = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    with_time = route_for(_row(occurred_at=told), CasePolicy(late_margin_seconds=45))
    without = route_for(_row(status="recovery"))
    assert with_time is not None and without is not None
    assert with_time.signal.occurred_at == told  # type: ignore[union-attr]
    assert with_time.start is not None and with_time.start.late_margin_seconds == 45
    assert without.signal.occurred_at == datetime(  # type: ignore[union-attr]
        2026, 12, 7, 10, 40, tzinfo=UTC)


def test_a_mail_retried_late_carries_the_time_its_source_wrote(engine: Engine) -> None:
    """Through the real parser: the probe's ``Occurred-At`` is what the case is told, however
    late the mail server delivered it; a message that gives no time is told its receipt."""
    load_demo(engine)
    late = probe("SRV-DC01", n=1).replace(
        b"Status: PROBLEM\r\n", b"Status: PROBLEM\r\nOccurred-At: 2026-12-07T09:15:00+01:00\r\n")
    accept(engine, late, peer_ip="127.0.0.1")
    accept(engine, probe("SRV-DC01", n=2, status="RECOVERY"), peer_ip="127.0.0.1")
    problem, recovery = drain_db_step(engine)
    told = [route_for(row) for row in (problem, recovery)]
    assert told[0] is not None and told[1] is not None
    assert told[0].signal.occurred_at == datetime(  # type: ignore[union-attr]
        2026, 12, 7, 8, 15, tzinfo=UTC)
    assert told[1].signal.occurred_at == recovery.received_at  # type: ignore[union-attr]


def test_within_the_clock_skew_margin_a_problem_is_still_a_repeat() -> None:
    core, _ = opened(late_margin_seconds=120)
    t = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    core.alert(AlertSignal(event_id=1, status="problem", received_at=t, opening=True,
                           occurred_at=t))
    core.alert(AlertSignal(event_id=2, status="recovery", received_at=t + timedelta(hours=1),
                           occurred_at=t + timedelta(hours=1)))
    skewed = t + timedelta(hours=1) - timedelta(seconds=100)  # inside the 120 s margin
    core.alert(AlertSignal(event_id=3, status="problem", received_at=t + timedelta(hours=2),
                           occurred_at=skewed))
    assert core.state == "reopened" and core.model.repeat_count == 1
    # a signal that carries no occurrence (sent before the rule) is judged on arrival
    core.alert(AlertSignal(event_id=4, status="recovery", received_at=t + timedelta(hours=3)))
    core.alert(AlertSignal(event_id=5, status="problem", received_at=t + timedelta(hours=4)))
    assert core.model.repeat_count == 2
