"""Rewrite the initial migration from the models (developer tool, before the first release).

Until the desk is deployed somewhere that must be upgraded in place, the schema is one
migration, regenerated whole whenever a table changes:
    python scripts/regen_initial_migration.py
After the first release, add revisions instead (alembic revision --autogenerate).
"""

import tempfile
from pathlib import Path

from alembic import command

from models.db import MIGRATIONS, alembic_config

for old in (MIGRATIONS / "versions").glob("0001_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as d:
    url = f"sqlite:///{Path(d) / 'gen.sqlite3'}"
    cfg = alembic_config(url)
    command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
