"""The shipped SMTP load balancer (``deploy/haproxy.cfg``), checked and run with Debian's
HAProxy (issue 21, finding 13): connections to a dead intake are redispatched to a live one,
with retries, and each intake is health-checked with an SMTP dialogue."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "deploy" / "haproxy.cfg"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def directives(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def test_haproxy_accepts_the_shipped_configuration() -> None:
    if not Path(HAPROXY).exists():
        pytest.fail("haproxy is missing: scripts/ensure-tools installs it")
    checked = subprocess.run([HAPROXY, "-c", "-f", str(CFG)], capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_shipped_configuration_redispatches_retries_and_checks_smtp() -> None:
    cfg = directives(CFG.read_text())
    assert ["option", "redispatch", "1"] in cfg or ["option", "redispatch"] in cfg
    (retries,) = [words for words in cfg if words[0] == "retries"]
    assert int(retries[1]) >= 2
    sends = [" ".join(words[2:]) for words in cfg if words[:2] == ["tcp-check", "send"]]
    expects = [words[-1] for words in cfg if words[:2] == ["tcp-check", "expect"]]
    assert sends[0].startswith("EHLO") and sends[-1] == "QUIT\\r\\n"
    assert expects == ["220", "250", "221"]  # greeting, EHLO, QUIT: an SMTP server answers
    (server,) = [words for words in cfg if words[0] == "server-template"]
    assert "send-proxy-v2" in server
    defaults = [words for words in cfg if words[0] == "default-server"]
    assert defaults and "check" in defaults[0]
