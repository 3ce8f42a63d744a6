"""The command line: ``vigie parse`` prints a message's events; ``vigie send`` delivers a
folder of .eml files to an SMTP intake."""

from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy.engine import Engine

from intake.smtp import IntakeHandler, make_smtp_factory
from tests.conftest import samples_dir
from tests.smtp_helpers import ServerThread
from tests.test_intake_smtp import stored


def test_vigie_parse_json_prints_the_events_of_one_message() -> None:
    sample = samples_dir() / "031_arcserve_en_failed.eml"
    out = subprocess.run(
        [sys.executable, "-m", "vigie", "parse", str(sample), "--json"],
        check=True, capture_output=True, text=True,
    ).stdout
    (event,) = json.loads(out)
    expected = json.loads(sample.with_suffix("").with_suffix(".expected.json").read_text())[0]
    for key in ("family", "status", "host", "check", "target", "backup_result"):
        assert event[key] == expected[key], key


def test_vigie_send_delivers_a_folder_to_the_intake(sqlite_engine: Engine) -> None:
    handler = IntakeHandler(sqlite_engine, frozenset({"alerts@desk.example"}))
    with ServerThread(make_smtp_factory(handler, max_bytes=10_000_000)) as srv:
        out = subprocess.run(
            [sys.executable, "-m", "vigie", "send", str(samples_dir()), "--host", "127.0.0.1",
             "--port", str(srv.port)],
            check=True, capture_output=True, text=True,
        ).stdout
    n = len(list(samples_dir().glob("*.eml")))
    assert f"{n} messages envoyés" in out
    assert len(stored(sqlite_engine)) == n
