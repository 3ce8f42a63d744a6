"""Database side of a case: open it, keep its projection, write the ledger, register Demandes.

The data layer under ``activities.cases`` (Temporal wrappers) and the console. Every
function here is idempotent: a retry after a crash (worker killed after the commit but
before Temporal heard of it) finds its own earlier write and returns the same answer.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from messages.cases import (
    AuditInput,
    CaseSnapshot,
    DemandeInput,
    DemandeResult,
    LinkEventInput,
    OpenCaseInput,
    OpenCaseResult,
    OpeningInput,
    TransferInput,
)
from models.db import session_scope
from models.tables import AlertEventRow, AuditEvent, Case, Client, Demande
from models.types import utcnow

log = logging.getLogger("vigie.cases")


def case_ref(case_id: int) -> str:
    return f"VIG-{case_id:06d}"


def demande_ref(demande_id: int) -> str:
    return f"DEM-{demande_id:06d}"


def _open(s: Session, inp: OpenCaseInput | OpeningInput) -> tuple[Case, bool]:
    """The case row of this run, created if missing; True when created here."""
    found = _case_by_run(s, inp.workflow_id, inp.run_id)
    if found is not None:
        return found, False
    return _insert(s, inp), True


def _insert(s: Session, inp: OpenCaseInput | OpeningInput) -> Case:
    """The case row of this run, inserted (IntegrityError: the run has one already)."""
    c = inp.case
    row = Case(
        workflow_id=inp.workflow_id,
        run_id=inp.run_id,
        fingerprint=c.fingerprint,
        client_id=c.client_id,
        server_id=c.server_id,
        host=c.host,
        family=c.family,
        check=c.check,
        target=c.target,
        title=c.title,
        source_verified=c.source_verified,
        opened_at=c.opened_at,
        last_seen=c.opened_at,
        updated_at=utcnow(),
    )
    s.add(row)
    s.flush()  # IntegrityError: a concurrent attempt of the same run won the race
    row.ref = case_ref(row.id or 0)
    log.info("case: %s ouvert (%s, client %s, %s)", row.ref, c.host, c.client_id, c.title)
    return row


def open_case(engine: Engine, inp: OpenCaseInput) -> tuple[OpenCaseResult, bool]:
    """The case row alone (the first of the four opening steps of older case runs); True
    when created by this call."""
    created = False
    with session_scope(engine) as s:
        code = _client_code(s, inp.case.client_id)
        try:
            row, created = _open(s, inp)
        except IntegrityError:  # a concurrent retry won the race
            s.rollback()
            row = _case_by_run(s, inp.workflow_id, inp.run_id)
            assert row is not None
        return OpenCaseResult(case_id=row.id or 0, ref=row.ref, client_code=code), created


def open_case_at_once(engine: Engine, inp: OpeningInput) -> tuple[OpenCaseResult, bool]:
    """Case row, first ledger lines, projection and event links in one transaction (one
    commit, one round trip from the workflow); True when this call created the case.

    Every part is idempotent on its own, and every part is applied even when the row is
    already there: a first workflow task retried after a worker died (its local activity had
    committed) may carry more than the first attempt did (the alerts that arrived meanwhile
    come in the same task), and those lines must be written too.

    Few statements (issue 24): the row is inserted straight away (a first attempt is the
    rule; a retry's insert fails on the run's unique key and finds the row instead), a new
    row's ledger lines are not looked for first, and an event is linked by one UPDATE.
    """
    with session_scope(engine) as s:
        code = _client_code(s, inp.case.client_id)
        try:
            row, created = _insert(s, inp), True
        except IntegrityError:  # a retry, or a concurrent attempt of the same run won
            s.rollback()
            found = _case_by_run(s, inp.workflow_id, inp.run_id)
            assert found is not None
            row, created = found, False
        case_id = row.id or 0
        for line in inp.lines:
            _append_audit(s, replace(line, case_id=case_id), fresh=created)
        if inp.snapshot is not None and (created or row.updated_at <= inp.snapshot.updated_at):
            _apply_snapshot(row, replace(inp.snapshot, case_id=case_id))
            s.add(row)
        for event_id in inp.event_ids:
            s.exec(update(AlertEventRow)  # type: ignore[call-overload]
                   .where(col(AlertEventRow.id) == event_id,
                          or_(col(AlertEventRow.case_id).is_(None),
                              col(AlertEventRow.case_id) != case_id))
                   .values(case_id=case_id))
        return OpenCaseResult(case_id=case_id, ref=row.ref, client_code=code), created


def _append_audit(s: Session, inp: AuditInput, *, fresh: bool = False) -> None:
    """The line, unless written already; ``fresh``: its case row was created in this very
    transaction, so it has no line yet (no need to look)."""
    exists = None if fresh else s.exec(
        select(AuditEvent.id).where(AuditEvent.case_id == inp.case_id, AuditEvent.seq == inp.seq)
    ).first()
    if exists is not None:
        return
    s.add(
        AuditEvent(
            case_id=inp.case_id,
            seq=inp.seq,
            at=inp.at,
            action=inp.action,
            actor=inp.actor,
            from_state=inp.from_state,
            to_state=inp.to_state,
            reason=inp.reason,
            data=dict(inp.data),
            policy_version=inp.policy_version,
        )
    )


def append_audit(engine: Engine, inp: AuditInput) -> None:
    with session_scope(engine) as s:
        _append_audit(s, inp)


def _apply_snapshot(row: Case, snap: CaseSnapshot) -> None:
    row.state = snap.state
    row.closed = snap.state == "closed"
    row.criticality = snap.criticality
    row.repeat_count = snap.repeat_count
    row.last_seen = snap.last_seen
    row.recovered = snap.recovered
    row.assignee = snap.assignee
    row.demande_ref = snap.demande_ref
    row.l1_deadline = snap.l1_deadline
    row.updated_at = snap.updated_at


def save_case(engine: Engine, snap: CaseSnapshot) -> None:
    with session_scope(engine) as s:
        row = s.get(Case, snap.case_id)
        if row is None:
            raise ValueError(f"case {snap.case_id} not found")
        if row.updated_at > snap.updated_at:
            return  # an older snapshot retried after a newer one: keep the newer
        _apply_snapshot(row, snap)
        s.add(row)


def _link_event(s: Session, case_id: int, event_id: int) -> None:
    ev = s.get(AlertEventRow, event_id)
    if ev is not None and ev.case_id != case_id:
        ev.case_id = case_id
        s.add(ev)


def link_event(engine: Engine, inp: LinkEventInput) -> None:
    with session_scope(engine) as s:
        _link_event(s, inp.case_id, inp.event_id)


def register_demande(engine: Engine, inp: DemandeInput) -> DemandeResult:
    with session_scope(engine) as s:
        found = s.exec(select(Demande).where(Demande.case_id == inp.case_id)).first()
        if found is None:
            found = Demande(
                case_id=inp.case_id,
                opened_at=inp.at,
                opened_by=inp.actor,
                summary=inp.summary,
            )
            s.add(found)
            s.flush()
            found.ref = inp.external_ref or demande_ref(found.id or 0)
        return DemandeResult(demande_id=found.id or 0, ref=found.ref)


def transfer_to_level2(engine: Engine, inp: TransferInput) -> None:
    """Registers the L1 -> L2 transfer on the Demande; telling level 2 is a communication."""
    with session_scope(engine) as s:
        d = s.exec(select(Demande).where(Demande.case_id == inp.case_id)).first()
        if d is None:
            d = Demande(case_id=inp.case_id, opened_at=inp.at, opened_by=inp.by)
            s.add(d)
            s.flush()
            d.ref = inp.demande_ref or demande_ref(d.id or 0)
        if d.level >= 2:
            return
        d.level = 2
        d.transferred_at = inp.at
        d.transferred_by = inp.by
        d.transfer_reason = inp.reason
        s.add(d)


def _client_code(s: Session, client_id: int | None) -> str:
    if client_id is None:
        return ""
    return s.exec(select(Client.code).where(Client.id == client_id)).first() or ""


def _case_by_run(s: Session, workflow_id: str, run_id: str) -> Case | None:
    return s.exec(
        select(Case).where(Case.workflow_id == workflow_id, Case.run_id == run_id)
    ).first()
