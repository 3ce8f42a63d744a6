"""``bench.intake`` measures what it says (issue 24): the held server answers each ``250``
only after the wait it is given, and that wait is the one the durable server's senders
measured in the same round, so ``held/bare`` is the ceiling the commit's latency alone
leaves to the durable rate."""

from __future__ import annotations

import re
import smtplib
import subprocess
import sys
import time
from pathlib import Path

from bench.intake import start_server

ROOT = Path(__file__).resolve().parents[1]


def test_the_held_server_answers_after_its_wait_and_not_before(tmp_path: Path) -> None:
    proc, port = start_server("held", f"sqlite:///{tmp_path}/unused.sqlite3", hold_ms=400)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            started = time.monotonic()
            smtp.sendmail("bench@client-a.example", ["alerts@desk.example"],
                          b"Subject: held\r\n\r\nbody\r\n")
            waited = time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait(10)
    assert waited >= 0.4


def test_the_held_round_waits_what_the_durable_senders_waited() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.intake", "--messages", "120", "--rounds", "1",
         "--connections", "4", "--burst", "0", "--latency", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True).stdout
    measured = re.search(r"a sender waited ([0-9.]+) ms for its commit", out)
    held = re.search(r"each 250 after ([0-9.]+) ms, no work", out)
    assert measured and held, out
    assert measured.group(1) == held.group(1) and float(held.group(1)) > 0
    lines = out.strip().splitlines()
    assert lines[-2].startswith("held/bare: ") and lines[-1].startswith("durable/bare: ")
