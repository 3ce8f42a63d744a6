"""Issue 20: one inventory of personal data; a new column that looks personal must be declared."""

from __future__ import annotations

from sqlmodel import SQLModel

import models.registry  # noqa: F401  (every table on the metadata)
from contracts.inventory import (
    BLOB_TYPES,
    COLUMNS,
    LOOKS_PERSONAL,
    NOT_PERSONAL,
    TEXT_TYPES,
    declared,
)


def undeclared() -> list[str]:
    known = declared()
    missing = []
    for table in SQLModel.metadata.sorted_tables:
        for column in table.columns:
            kind = type(column.type).__name__.upper()
            if kind not in TEXT_TYPES:
                continue
            looks = LOOKS_PERSONAL.search(column.name) or kind in BLOB_TYPES
            if looks and (table.name, column.name) not in known:
                missing.append(f"{table.name}.{column.name}")
    return missing


def test_every_column_that_looks_personal_is_declared() -> None:
    assert undeclared() == [], "declare them in contracts/inventory.py (COLUMNS or NOT_PERSONAL)"


def test_a_new_personal_looking_column_fails_the_check() -> None:
    table = SQLModel.metadata.tables["client"]
    from sqlalchemy import Column, String

    extra = Column("manager_email", String)
    table.append_column(extra)
    try:
        assert undeclared() == ["client.manager_email"]
    finally:
        table._columns.remove(extra)  # leave the metadata as the other tests expect it


def test_the_inventory_names_only_real_columns() -> None:
    tables = SQLModel.metadata.tables
    for table, column in declared():
        assert table in tables and column in tables[table].columns, f"{table}.{column}"
    assert not {(s.table, s.column) for s in COLUMNS} & set(NOT_PERSONAL)
