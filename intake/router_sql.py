"""The router's per-batch statements, built once (``intake.router``).

At 20 new problems a second each nudge finds one message, so a batch costs what its claim
and its record cost: building these statements anew for every batch (SQLAlchemy's
expression objects, their coercions and cache keys) was a good part of that. Built once
here with bound parameters, each batch only binds its values.

Parameters: ``now``, ``until`` (times), ``me`` (the router's name), ``n`` (batch size),
``ids`` (a list of ids: an expanding parameter), ``newest`` (an outbox id).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.sql import Select, Update

from models.tables import AlertEventRow, Outbox, RawMessage

OUTBOX: Any = Outbox.__table__  # type: ignore[attr-defined]
EVENTS: Any = AlertEventRow.__table__  # type: ignore[attr-defined]

_IDS = bindparam("ids", expanding=True)

# not done, due, and either never claimed or past its lease
CLAIMABLE = (
    OUTBOX.c.done_at.is_(None),
    or_(OUTBOX.c.next_attempt_at.is_(None), OUTBOX.c.next_attempt_at <= bindparam("now")),
    or_(OUTBOX.c.lease_until.is_(None), OUTBOX.c.lease_until < bindparam("now")),
)


@lru_cache(maxsize=8)
def candidates(batch: int, pg: bool) -> Select[Any]:
    """The oldest claimable rows (PostgreSQL: those no other transaction has locked)."""
    q = select(OUTBOX.c.id, OUTBOX.c.claimed_by).where(*CLAIMABLE).order_by(
        OUTBOX.c.id).limit(batch)
    return q.with_for_update(skip_locked=True) if pg else q


# the conditional UPDATE is the claim; RETURNING names the rows it took (SQLite >= 3.35)
CLAIM: Update = (
    update(OUTBOX).where(OUTBOX.c.id.in_(_IDS), *CLAIMABLE)
    .values(claimed_by=bindparam("me"), lease_until=bindparam("until"))
    .returning(OUTBOX.c.id)
)

# an older message than the batch's newest, not in the batch, not done yet
OLDER_PENDING: Select[Any] = select(OUTBOX.c.id).where(
    OUTBOX.c.done_at.is_(None), OUTBOX.c.id < bindparam("newest"),
    OUTBOX.c.id.not_in(_IDS)).limit(1)

# the batch's outbox rows with their messages (ORM objects: parsing writes the message)
LOAD: Select[Any] = select(Outbox, RawMessage).join(
    RawMessage, RawMessage.id == Outbox.raw_message_id).where(  # type: ignore[arg-type]
    Outbox.id.in_(_IDS))  # type: ignore[union-attr]


def _ids_in_order(table: Any, pg: bool) -> Any:
    """``id IN ids``; on PostgreSQL through a sub-select that locks the rows by ascending id
    first, the order every transaction of the desk takes them in (no circular wait)."""
    if not pg:
        return table.c.id.in_(_IDS)
    return table.c.id.in_(select(table.c.id).where(table.c.id.in_(_IDS))
                          .order_by(table.c.id).with_for_update())


@lru_cache(maxsize=4)
def mark_routed(pg: bool) -> Update:
    """Events Temporal acknowledged (a second mark keeps the first time)."""
    return update(EVENTS).where(_ids_in_order(EVENTS, pg), EVENTS.c.routed_at.is_(None)
                                ).values(routed_at=bindparam("now"))


@lru_cache(maxsize=4)
def mark_done(pg: bool) -> Update:
    """Messages whose every event was told: done, released."""
    return update(OUTBOX).where(_ids_in_order(OUTBOX, pg)).values(
        done_at=bindparam("now"), last_error="", lease_until=None)
