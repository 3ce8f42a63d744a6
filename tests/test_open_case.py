"""Opening a case in one transaction (``records.cases.open_case_at_once``), on both databases:
the row, its first ledger lines, its projection and its event links, written once whatever
the retries, and completed by a retry that carries more."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from messages.cases import AuditInput, CaseInput, CaseSnapshot, OpenCaseInput, OpeningInput
from models.tables import AuditEvent, Case
from models.types import utcnow
from records.cases import open_case, open_case_at_once


def opening(lines: int, repeats: int, at_offset: float = 0.0) -> OpeningInput:
    at = utcnow()
    case = CaseInput(fingerprint="fp-open-at-once", client_id=None, server_id=None, host="h",
                     family="service", check="service", target="t", title="h — t",
                     opened_at=at)
    audit = [AuditInput(case_id=0, seq=n, at=at, action="open" if n == 1 else "repeat",
                        actor="system", from_state=None, to_state="new")
             for n in range(1, lines + 1)]
    snap = CaseSnapshot(case_id=0, state="new", criticality=None, repeat_count=repeats,
                        last_seen=at, recovered=False, assignee=None, demande_ref=None,
                        l1_deadline=None, updated_at=at + timedelta(seconds=at_offset))
    return OpeningInput("case-open-at-once", "run-1", case, audit, snap, [])


def test_the_case_its_ledger_and_projection_are_written_once(engine: Engine) -> None:
    first, created = open_case_at_once(engine, opening(lines=1, repeats=0))
    again, created_again = open_case_at_once(engine, opening(lines=1, repeats=0))
    assert (created, created_again) == (True, False)
    assert again == first and first.ref == f"VIG-{first.case_id:06d}"
    with Session(engine) as s:
        assert len(s.exec(select(Case)).all()) == 1
        assert len(s.exec(select(AuditEvent)).all()) == 1


def test_a_retried_first_task_that_carries_more_completes_the_case(engine: Engine) -> None:
    """The worker died after the commit; the retried first task also holds the alerts that
    arrived meanwhile: their lines and the newer projection are written, nothing twice."""
    open_case_at_once(engine, opening(lines=1, repeats=0))
    open_case_at_once(engine, opening(lines=3, repeats=2, at_offset=5))
    with Session(engine) as s:
        (case,) = s.exec(select(Case)).all()
        seqs = sorted(a.seq for a in s.exec(select(AuditEvent)).all())
    assert seqs == [1, 2, 3]
    assert case.repeat_count == 2


def test_a_case_opened_by_an_unverified_source_is_flagged_whichever_way_it_opens(
    engine: Engine,
) -> None:
    """The source flag (issue 11) reaches the row on the one-step path and on the old one,
    so an unverified case never mutes, resolves or closes anything (records.absence)."""
    flagged = opening(lines=1, repeats=0)
    flagged = replace(flagged, case=replace(flagged.case, source_verified=False,
                                            source_check="unverified"))
    one_step, _ = open_case_at_once(engine, flagged)
    legacy, _ = open_case(engine, OpenCaseInput("case-legacy", "run-1", flagged.case))
    trusted, _ = open_case_at_once(engine, replace(opening(lines=1, repeats=0),
                                                   workflow_id="case-trusted"))
    with Session(engine) as s:
        flags = {c.id: c.source_verified for c in s.exec(select(Case)).all()}
    assert flags == {one_step.case_id: False, legacy.case_id: False, trusted.case_id: True}


def test_a_new_case_opens_in_few_statements(engine: Engine) -> None:
    """Issue 24: a first attempt inserts the row at once (no lookup by run first), writes
    its ledger line without looking for it, and links its event by one UPDATE: the row, its
    reference and projection, the line, the link (a client's code is one SELECT more)."""
    from sqlalchemy import event

    from models.tables import AlertEventRow, RawMessage

    with Session(engine) as s:
        raw = RawMessage(channel="smtp", data=b"x", sha256="0" * 64, received_at=utcnow())
        s.add(raw)
        s.flush()
        ev = AlertEventRow(raw_message_id=raw.id or 0, idx=0, family="service",
                           status="problem", check="service", received_at=utcnow())
        s.add(ev)
        s.commit()
        event_id = ev.id or 0
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement.split()[0].upper())

    event.listen(engine, "before_cursor_execute", count)
    try:
        first, created = open_case_at_once(
            engine, replace(opening(lines=1, repeats=0), event_ids=[event_id]))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert created
    assert sorted(statements) == ["INSERT", "INSERT", "UPDATE", "UPDATE"]
    with Session(engine) as s:
        assert s.get(AlertEventRow, event_id).case_id == first.case_id  # type: ignore[union-attr]
