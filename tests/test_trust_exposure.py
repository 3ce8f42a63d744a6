"""Issue 21, finding 9: what the desk exposed without being asked.

* every ``/metrics`` endpoint listened on all interfaces, with no setting: now
  ``VIGIE_METRICS_HOST``, loopback by default;
* ``vigie.sqlite3`` and ``temporal.sqlite3`` were 0644: every file under ``var/`` is now
  created 0600, and one left by an older version is narrowed at the next start;
* an ``X-Forwarded-For`` from a trusted proxy was not checked to be an address
  (``garbage<script>`` was stored in the sign-in log): now ignored and logged.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import stat
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from base import metrics
from base.settings import Settings
from models.db import make_engine
from tests.browser.support import PASSWORD, make_desk
from tests.test_trust_signin import attempts, browser, served, try_sign_in

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def reaches(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def test_metrics_listen_on_loopback_unless_told_otherwise() -> None:
    assert Settings().metrics_host == "127.0.0.1"
    port = free_port()
    assert metrics.serve(port, "test-default")
    assert reaches("127.0.0.1", port)
    # not on every interface: the same port is still free on another address
    with socket.socket() as other:
        other.bind(("127.0.0.2", port))
    # the setting moves it: 127.0.0.3 only
    moved = free_port()
    assert metrics.serve(moved, "test-moved", "127.0.0.3")
    assert reaches("127.0.0.3", moved) and not reaches("127.0.0.1", moved)


def test_every_service_passes_the_metrics_address() -> None:
    source = (ROOT / "vigie" / "services.py").read_text()
    calls = re.findall(r"metrics\.serve\(([^)]*)\)", source)
    assert len(calls) == 4  # worker, intake, router, console
    assert all(c.rstrip().endswith("settings.metrics_host") for c in calls), calls


def test_the_desk_database_is_created_0600_with_its_journal(tmp_path: Path) -> None:
    old = os.umask(0o022)  # what a newcomer's shell has: files 0644 unless told
    try:
        db = tmp_path / "var" / "vigie.sqlite3"
        engine: Engine = make_engine(f"sqlite:///{db}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            wal = db.with_name(db.name + "-wal")
            assert wal.exists()
            assert mode(wal) == 0o600
        assert mode(db) == 0o600
        engine.dispose()
        # a file an older version left 0644 is narrowed when the desk opens it again
        os.chmod(db, 0o644)
        make_engine(f"sqlite:///{db}").dispose()
        assert mode(db) == 0o600
    finally:
        os.umask(old)


def test_the_temporal_dev_server_files_are_0600(tmp_path: Path) -> None:
    from vigie.stack import start_temporal

    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    old_db = var / "temporal.sqlite3-shm"  # left 0644 by an older start
    old_db.write_bytes(b"")
    os.chmod(old_db, 0o644)
    settings = Settings(var_dir=var, temporal_address=f"127.0.0.1:{free_port()}",
                        temporal_ui_port=free_port())
    old = os.umask(0o022)
    try:
        proc = start_temporal(settings)
    finally:
        os.umask(old)
    try:
        db = var / "temporal.sqlite3"
        deadline = time.monotonic() + 60
        while not db.exists():
            assert time.monotonic() < deadline, "the dev server wrote no database"
            time.sleep(0.2)
        made = sorted(p for p in var.iterdir())
        assert {p.name: oct(mode(p)) for p in made} == {p.name: "0o600" for p in made}
        assert mode(var) == 0o700
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def test_a_forwarded_for_that_is_no_address_is_ignored_and_logged(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    desk = make_desk(engine, tmp_path, trusted_proxies="127.0.0.1")
    with caplog.at_level(logging.WARNING, logger="vigie.console"), served(desk) as srv:
        with browser(srv, "127.0.0.1") as proxy:
            assert try_sign_in(proxy, "admin", PASSWORD, forwarded="garbage<script>") == 303
        with browser(srv, "127.0.0.1") as proxy:
            assert try_sign_in(proxy, "admin", PASSWORD, forwarded="2001:db8::7") == 303
        with browser(srv, "127.0.0.1") as proxy:
            assert try_sign_in(proxy, "tech", "wrong", forwarded="203.0.113.9") == 401
    # the garbage is not stored: the proxy's own address stands for that request
    assert attempts(engine) == [("127.0.0.1", "ok"), ("2001:db8::7", "ok"),
                                ("203.0.113.9", "bad_password")]
    warned = [r.getMessage() for r in caplog.records if "X-Forwarded-For" in r.getMessage()]
    assert warned and all("'garbage<script>'" in w for w in warned)  # the form, the post
