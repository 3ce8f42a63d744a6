"""Erasure that reaches every store the inventory (``contracts.inventory``) declares.

Two scopes. **A whole client**: every column the inventory declares for the client's rows gets
its treatment (deleted, blanked, or a stable pseudonym where a ledger must keep its shape), and
rows of nobody in particular (triage, the sign-in log) are found by the client's identifiers.
**One contact** (left the company): the rows naming that person, wherever they are, have the
person's name, address and numbers replaced by the contact's pseudonym; the client and its
other people are untouched.

The same person always gets the same pseudonym (``contact-12``, ``utilisateur-7``,
``personne-3``), so the case ledger keeps one actor per person and every SLA figure
recomputes identically. The database's own copies go too: SQLite runs with
``secure_delete`` (freed pages are zeroed), and :func:`compact` ends an erasure with a WAL
checkpoint and ``VACUUM``; on PostgreSQL ``VACUUM`` of the touched tables.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, LargeBinary, Table, func, or_, select, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

import models.registry  # noqa: F401  (every table on the metadata)
from contracts.inventory import BLANK, DELETE, FREE_TEXT_KEYS, LEDGER, PSEUDONYM, columns_of

MIN_NEEDLE = 4  # shorter identifiers ("Al") would erase innocent words


@dataclass
class Identities:
    """The identifiers of the people erased, each with its pseudonym (longest first)."""

    pseudonyms: dict[str, str] = field(default_factory=dict)
    _pattern: re.Pattern[str] | None = None

    def add(self, value: str | None, pseudonym: str) -> None:
        value = (value or "").strip()
        if len(value) >= MIN_NEEDLE and value.lower() not in self.pseudonyms:
            self.pseudonyms[value.lower()] = pseudonym
            self._pattern = None
        digits = re.sub(r"\D", "", value)
        if value.startswith("+") or (len(digits) >= 9 and len(digits) >= len(value) - 6):
            for form in {digits, "0" + digits[2:] if digits.startswith("33") else digits}:
                if len(form) >= 9 and form not in self.pseudonyms:
                    self.pseudonyms[form] = pseudonym
                    self._pattern = None

    @property
    def needles(self) -> list[str]:
        return sorted(self.pseudonyms, key=len, reverse=True)

    def scrub(self, value: str) -> str:
        if not value or not self.pseudonyms:
            return value
        if self._pattern is None:
            self._pattern = re.compile("|".join(re.escape(n) for n in self.needles),
                                       re.IGNORECASE)
        return self._pattern.sub(lambda m: self.pseudonyms[m.group(0).lower()], value)

    def scrub_any(self, value: Any) -> Any:
        """Text, JSON or bytes with every identifier replaced by its pseudonym."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, bytes):
            return self.scrub(value.decode("utf-8", "replace")).encode()
        if isinstance(value, dict | list):
            return json.loads(self.scrub(json.dumps(value, ensure_ascii=False)))
        return value


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


def primary(table: Table) -> Any:
    return next(iter(table.primary_key.columns))


def _empty(table: Table, column: str) -> Any:
    col = table.c[column]
    if isinstance(col.type, LargeBinary):
        return None if col.nullable else b""
    if isinstance(col.type, JSON):
        return {}
    return ""


def _ids(s: Session, table: str, where: Any) -> list[Any]:
    t = _table(table)
    key = primary(t)
    return [r[0] for r in s.execute(select(key).where(where)).all()]


def _in(table: str, column: str, values: Iterable[Any]) -> Any:
    values = list(values)
    return _table(table).c[column].in_(values or [-1])


@dataclass
class Touched:
    """What an erasure changed: rows per table (the summary, and which tables to vacuum)."""

    rows: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, n: int) -> None:
        if n:
            self.rows[table] = self.rows.get(table, 0) + n

    @property
    def tables(self) -> list[str]:
        return sorted(self.rows)


def _contains_any(s: Session, table: str, columns: Iterable[str], needles: list[str]) -> Any:
    """A condition: one of the columns (cast to text) contains one of the identifiers."""
    t = _table(table)
    dialect = s.get_bind().dialect.name
    terms = []
    for c in columns:
        col = t.c[c]
        for n in needles:
            if isinstance(col.type, LargeBinary):
                raw = n.encode()
                terms.append(func.instr(col, raw) > 0 if dialect == "sqlite"
                             else text(f"position(:n{len(terms)} in {table}.{c}) > 0")
                             .bindparams(**{f"n{len(terms)}": raw}))
            else:
                pattern = "%" + n.replace("\\", "\\\\").replace("%", "\\%").replace(
                    "_", "\\_") + "%"
                terms.append(func.lower(func.cast(col, _text_type())).like(
                    pattern.lower(), escape="\\"))
    return or_(*terms) if terms else text("1=0")


def _text_type() -> Any:
    from sqlalchemy import Text

    return Text()


def rows_naming(s: Session, table: str, columns: Iterable[str], ids: Identities) -> list[Any]:
    if not ids.needles:
        return []
    return _ids(s, table, _contains_any(s, table, columns, ids.needles))


def apply(s: Session, table: str, where_ids: list[Any], ids: Identities, touched: Touched,
          *, scrub_only: bool = False, pseudonym: dict[str, Any] | None = None) -> None:
    """The inventory's treatment of ``table`` on the rows ``where_ids``: blank columns are
    emptied (or scrubbed of the identifiers when ``scrub_only``), pseudonym columns scrubbed
    (or set from ``pseudonym``), delete rows deleted (or scrubbed when ``scrub_only``)."""
    if not where_ids:
        return
    t = _table(table)
    key = primary(t)
    stores = columns_of(table)
    if not scrub_only and any(x.treatment == DELETE for x in stores):
        s.execute(t.delete().where(key.in_(where_ids)))
        touched.add(table, len(where_ids))
        return
    blank = [x.column for x in stores if x.treatment == BLANK and not scrub_only]
    scrubbed = [x.column for x in stores if x.column not in blank]
    ledger = {x.column for x in stores if x.treatment == LEDGER}
    if blank:
        s.execute(update(t).where(key.in_(where_ids)).values(
            {c: _empty(t, c) for c in blank}))
    changed = set(where_ids) if blank else set()
    if scrubbed:
        rows = s.execute(select(key, *[t.c[c] for c in scrubbed]).where(
            key.in_(where_ids))).all()
        for row in rows:
            values = {}
            for c, old in zip(scrubbed, row[1:], strict=True):
                if c in ledger and isinstance(old, dict) and not scrub_only:
                    old_kept = {k: v for k, v in old.items() if k not in FREE_TEXT_KEYS}
                    new = ids.scrub_any(old_kept)
                else:
                    new = (pseudonym or {}).get(c, ids.scrub_any(old))
                if callable(new):
                    new = new(row[0], old)
                if new != old:
                    values[c] = new
            if values:
                s.execute(update(t).where(key == row[0]).values(values))
                changed.add(row[0])
    touched.add(table, len(changed))


def compact(engine: Engine, tables: Iterable[str]) -> None:
    """The database's own copies of what was erased: SQLite writes the WAL back and rebuilds
    the file (``secure_delete`` already zeroed the freed pages); PostgreSQL vacuums."""
    tables = [t for t in tables if t in SQLModel.metadata.tables]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        elif engine.dialect.name == "postgresql":
            for name in tables:
                conn.exec_driver_sql(f'VACUUM "{name}"')


__all__ = ["PSEUDONYM", "Identities", "Touched", "apply", "compact", "rows_naming"]
