"""A generation number for the reference data every routed message is judged against.

The router matches each message to a client and server and checks its source against that
client's rules, and silences and inhibition rules decide whether an event opens a case.
Reloading all of it (clients, sender domains, servers, aliases, source rules, contract
statuses, the case policy, silences, inhibition rules) for every batch cost most of a
one-message batch, and grows with the fleet. So the router keeps what it loaded for as long
as ``ref_stamp``'s generation stays the same.

The generation moves in the same transaction as the change, for every change made through a
Session, whoever makes it (console, intake, planner, demo loader, CSV import): ORM objects
flushed, and bulk ``insert``/``update``/``delete`` statements on those tables. A change made
outside the ORM (raw SQL at a ``psql`` prompt) is not seen this way; the router also reloads
once a minute whatever the generation says (``intake.router.REFERENCE_MAX_AGE``).

A server's heartbeat time, which the router itself writes for every heartbeat, is not
reference data: it does not move the generation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect, update
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlmodel import Field, SQLModel, select

from models.auth import Policy
from models.contracts import Contract
from models.expectations import Silence
from models.incidents import InhibitionRule
from models.tables import Client, SenderDomain, Server, ServerAlias
from models.trust import SourceRule

REFERENCE = (Client, SenderDomain, Server, ServerAlias, SourceRule, Contract, Policy, Silence,
             InhibitionRule)
REFERENCE_TABLES = frozenset(cls.__tablename__ for cls in REFERENCE)  # type: ignore[attr-defined]
# columns whose change is not reference data (written by the router for every heartbeat)
VOLATILE: dict[type, frozenset[str]] = {Server: frozenset({"last_heartbeat_at"})}
_MOVED = "vigie_reference_moved"


class RefStamp(SQLModel, table=True):
    """One row (id 1): bumped by every change to the reference data (see the module)."""

    __tablename__ = "ref_stamp"
    id: int = Field(default=1, primary_key=True)
    generation: int = 0


_GENERATION = select(RefStamp.generation).where(RefStamp.id == 1)  # read for every batch


def generation(s: Session) -> int | None:
    """The current generation; None when the row is missing (then nothing is cached)."""
    return s.execute(_GENERATION).scalar()


def _bump(connection: Any) -> None:
    connection.execute(update(RefStamp).where(RefStamp.id == 1)  # type: ignore[arg-type]
                       .values(generation=RefStamp.generation + 1))


def _edited(obj: object) -> bool:
    """A reference row changed in something other than its volatile columns."""
    volatile = VOLATILE.get(type(obj), frozenset())
    return any(a.history.has_changes() for a in inspect(obj).attrs if a.key not in volatile)


@event.listens_for(Session, "before_flush")
def _note_reference_changes(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    if session.info.get(_MOVED):
        return
    if any(isinstance(o, REFERENCE) for o in (*session.new, *session.deleted)) or any(
        isinstance(o, REFERENCE) and _edited(o) for o in session.dirty
    ):
        session.info[_MOVED] = "pending"


@event.listens_for(Session, "after_flush")
def _move_generation(session: Session, _flush: UOWTransaction) -> None:
    if session.info.get(_MOVED) == "pending":
        _bump(session.connection())
        session.info[_MOVED] = "done"  # once per transaction is enough


@event.listens_for(Session, "do_orm_execute")
def _bulk_statements(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in REFERENCE_TABLES:
        if state.is_update and table.name == Server.__tablename__:  # type: ignore[union-attr]
            values = getattr(state.statement, "_values", None) or {}
            names = {getattr(k, "key", str(k)) for k in values}
            if names and names <= VOLATILE[Server]:
                return
        _bump(state.session.connection())


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, _transaction: Any) -> None:
    """Any transaction's end, savepoints included: a savepoint rolled back took its bump
    with it, so the next change bumps again (a bump too many only costs the router a
    reload)."""
    session.info.pop(_MOVED, None)
