"""A newcomer's first day: a fresh copy of the repository, ``../shared`` beside it, no
``var/``, and the README's one command, ``make up``.

Nothing is prepared for it: the virtual environment is created and the project installed by
the Makefile, the state folder by the desk itself. The test signs in with the password the
start printed, sees the shared samples' cases on the queue, stops with Ctrl-C, starts again
and is still signed in (the session key kept in ``var/``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser.support import CSRF_RE
from tests.conftest import ROOT, samples_dir
from tests.test_end_to_end import free_port
from vigie.stack import port_free

pytestmark = pytest.mark.slow

READY = "Vigie est prête"
PASSWORD_RE = re.compile(r"Comptes de démonstration : .*? ; mot de passe : (\S+)")


def copy_checkout(dest: Path) -> None:
    """What a clone of this tree holds: the tracked files and the new ones git would add, as
    they are on disk (so the uncommitted change under test is what starts), nothing ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


class Desk:
    """``make up`` in its own process group, as a terminal runs it; Ctrl-C is SIGINT to it."""

    def __init__(self, checkout: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            ["make", "up"], cwd=checkout, env=env, stdout=log.open("ab"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, text: str, occurrences: int, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.output()
            if out.count(text) >= occurrences:
                return out
            assert self.proc.poll() is None, f"make up stopped:\n{out[-4000:]}"
            time.sleep(0.5)
        raise AssertionError(f"{text!r} not printed in {timeout} s:\n{self.output()[-4000:]}")

    def ctrl_c(self, ports: dict[str, int]) -> None:
        """Ctrl-C reaches make and every process of its group; make itself then dies of the
        signal, as in a terminal. What counts: each service stopped and every port freed,
        the Temporal server (its own session) included."""
        os.killpg(self.proc.pid, signal.SIGINT)
        code = self.proc.wait(timeout=90)
        assert code in (0, -signal.SIGINT, 130), (code, self.output()[-3000:])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                if all(port_free("127.0.0.1", port) for port in ports.values()):
                    return
            time.sleep(0.5)
        raise AssertionError(f"processes or ports left after Ctrl-C:\n{self.output()[-3000:]}")


@pytest.fixture
def newcomer(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], dict[str, int]]]:
    checkout = tmp_path / "vigie"
    checkout.mkdir()
    copy_checkout(checkout)
    shutil.copytree(samples_dir().parent, tmp_path / "shared")
    assert not (checkout / "var").exists() and not (checkout / ".venv").exists()
    ports = {k: free_port() for k in ("smtp", "console", "temporal", "ui")}
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("VIGIE_", "MAKE", "VIRTUAL_ENV", "PYTEST"))
        and k not in ("DATABASE_URL", "MFLAGS")
    }
    # the ports only, so the test runs beside anything else on the machine
    env.update(
        VIGIE_SMTP_PORT=str(ports["smtp"]),
        VIGIE_CONSOLE_PORT=str(ports["console"]),
        VIGIE_TEMPORAL_ADDRESS=f"127.0.0.1:{ports['temporal']}",
        VIGIE_TEMPORAL_UI_PORT=str(ports["ui"]),
    )
    yield checkout, env, ports


def sign_in(http: httpx.Client, password: str) -> httpx.Response:
    page = http.get("/login")
    token = CSRF_RE.search(page.text)
    assert token, page.text[:2000]
    return http.post(
        "/login", data={"username": "tech", "password": password, "csrf_token": token.group(1)}
    )


def test_make_up_on_a_fresh_clone_starts_signs_in_and_keeps_the_session_across_a_restart(
    newcomer: tuple[Path, dict[str, str], dict[str, int]], tmp_path: Path
) -> None:
    checkout, env, ports = newcomer
    log = tmp_path / "make-up.log"
    desk = Desk(checkout, env, log)
    try:
        out = desk.wait_for(READY, 1, timeout=600)  # includes creating .venv and installing
        desk.wait_for("messages d'exemple envoyés", 1, timeout=120)
        found = PASSWORD_RE.search(out.split(READY, 1)[1])
        assert found, out[-3000:]
        password = found.group(1)
        key = checkout / "var" / "secret-key"
        assert key.stat().st_mode & 0o777 == 0o600
        again = subprocess.run(
            [str(checkout / ".venv" / "bin" / "vigie"), "demo", "--credentials"],
            cwd=checkout, env=env, check=True, capture_output=True, text=True,
        ).stdout
        assert f"mot de passe : {password}" in again

        http = httpx.Client(base_url=f"http://127.0.0.1:{ports['console']}", timeout=10)
        signed = sign_in(http, password)
        assert signed.status_code == 303 and signed.headers["location"] == "/queue"
        deadline = time.monotonic() + 120
        cases: list[dict] = []
        while time.monotonic() < deadline and not cases:
            cases = http.get("/api/cases").json()
            time.sleep(0.5)
        assert cases, desk.output()[-3000:]
        assert http.get("/queue").status_code == 200
    finally:
        desk.ctrl_c(ports)

    out = desk.output()
    assert "Traceback" not in out and "Fatal Python error" not in out, out[-4000:]
    assert "intake: message #" in out and "case: VIG-" in out
    assert "mail.log" not in out  # the SMTP dialogue stays out of the terminal by default

    desk = Desk(checkout, env, log)  # the second start: no install, same var/
    try:
        out = desk.wait_for(READY, 2, timeout=180)
        assert out.count(f"mot de passe : {password}") >= 2  # shown at every start
        page = http.get("/queue")
        assert page.status_code == 200, "the restart signed the technician out"
        assert "/login" not in str(page.url)
    finally:
        desk.ctrl_c(ports)
    http.close()
    assert "Fatal Python error" not in desk.output(), desk.output()[-4000:]
