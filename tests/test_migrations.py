"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import models.registry  # noqa: F401  (every table on the metadata)
from models.db import migrate


def test_migrated_schema_matches_the_models(engine: Engine, db_url: str) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], f"models and migrations differ (scripts/regen_initial_migration.py): {diff}"
    migrate(db_url)  # applying again at the next start is a no-op
