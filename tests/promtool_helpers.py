"""Running ``promtool test rules`` (Debian's ``prometheus`` package) from pytest.

A test writes its rule file and its unit-test file into a temporary folder and reads
promtool's verdict; a missing promtool is a failure, not a skip (``scripts/ensure-tools``
installs it in CI).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool missing: install Debian's prometheus package (scripts/ensure-tools)"
    return found


def run_rule_tests(folder: Path, rules_text: str, tests: list[dict[str, Any]],
                   evaluation_interval: str = "1m") -> subprocess.CompletedProcess[str]:
    """Writes ``rules.yml`` and ``tests.yml`` into ``folder`` and runs promtool on them."""
    (folder / "rules.yml").write_text(rules_text)
    doc = {"rule_files": ["rules.yml"], "evaluation_interval": evaluation_interval,
           "tests": tests}
    (folder / "tests.yml").write_text(yaml.safe_dump(doc, sort_keys=False, width=4096))
    return subprocess.run([promtool(), "test", "rules", "tests.yml"], cwd=folder,
                          capture_output=True, text=True, timeout=300)


def passes(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == 0


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr)[-6000:]


def runs(values: list[float]) -> str:
    """promtool's expanding notation for a list of samples: runs of equal steps are written
    ``a+bxn`` (n further samples), so a day of one-minute samples stays one short line."""
    out: list[str] = []
    i = 0
    while i < len(values):
        j = i
        step = values[i + 1] - values[i] if i + 1 < len(values) else 0.0
        while j + 1 < len(values) and abs((values[j + 1] - values[j]) - step) < 1e-9:
            j += 1
        count = j - i
        out.append(f"{_num(values[i])}{'+' if step >= 0 else ''}{_num(step)}x{count}" if count
                   else _num(values[i]))
        i = j + 1
    return " ".join(out)


def _num(value: float) -> str:
    return f"{value:.12g}"
