"""Dell OpenManage Server Administrator alerts, mailed by an alert-action script.

Subject ``Dell OMSA <event> Alert on <HOST>``: the OMSA event code names the part and its
gravity (``...warn`` is a warning, ``...fail`` a failure).
"""

from __future__ import annotations

import re

from parsers.event import AlertEvent, Family, Severity, Status
from parsers.hardware import component_check
from parsers.hosts import looks_like_host, short_host
from parsers.mime import Envelope
from parsers.textutil import fold, one_line

name = "dell"
PRODUCT = "dell-omsa"

_SUBJECT_RES = (
    re.compile(
        r"\bDell\s+(?:OpenManage\s+)?(?:OMSA\s+|Server Administrator\s+)?"
        r"(?P<code>[A-Za-z][A-Za-z0-9_-]*)\s+(?:Alert|Alerte|Alarm|Event)\s+"
        r"(?:on|sur|auf|for|from|de)\s+(?P<host>\S+)",
        re.IGNORECASE,
    ),
    re.compile(
        r"\bOMSA\s+(?:Alert|Alerte|Alarm)\s*[:-]?\s*(?P<code>[A-Za-z][A-Za-z0-9_-]*)"
        r"(?:\s+(?:on|sur|auf|for|from|de)\s+(?P<host>\S+))?",
        re.IGNORECASE,
    ),
)
_REPORTED_ON = re.compile(r"\b(?:reported|detected|signal[ée]e?)\s+(?:on|sur)\s+(\S+)", re.I)

# Prefix of the normalised OMSA event code -> hardware check (first match wins).
_CODE_CHECKS: tuple[tuple[str, str], ...] = (
    ("storagectrlbattery", "battery"),
    ("battery", "battery"),
    ("powersupply", "power_supply"),
    ("systempower", "power_supply"),
    ("power", "power_supply"),
    ("temp", "temperature"),
    ("fan", "fan"),
    ("mem", "memory"),
    ("processor", "processor"),
    ("cpu", "processor"),
    ("pdisk", "physical_disk"),
    ("vdisk", "raid"),
    ("storagectrl", "raid"),
    ("storagesys", "raid"),
    ("nic", "nic"),
)
_KNOWN_OTHER = (
    "volt",
    "intrusion",
    "hardwarelog",
    "watchdog",
    "enclosure",
    "removable",
    "current",
    "amp",
    "redun",
    "systempeak",
    "log",
    "chassis",
)


def _check(code: str, body: str) -> str | None:
    for prefix, check in _CODE_CHECKS:
        if code.startswith(prefix):
            return check
    if code.startswith("redun"):
        folded = fold(body)
        for word, check in (
            ("fan", "fan"),
            ("memory", "memory"),
            ("nic", "nic"),
            ("network", "nic"),
        ):
            if word in folded:
                return check
        return "power_supply"
    if code.startswith(_KNOWN_OTHER):
        return "other"
    return None


def _gravity(code: str) -> tuple[Status, Severity]:
    if re.search(r"(?:normal|ok|restored|good|clear(?:ed)?)$", code):
        return Status.RECOVERY, Severity.INFO
    if "prefail" in code:
        return Status.PROBLEM, Severity.WARNING
    if "lost" in code:
        return Status.PROBLEM, Severity.MAJOR
    if "fail" in code or code in ("powersupply", "intrusion"):
        return Status.PROBLEM, Severity.CRITICAL
    if "warn" in code or "degrad" in code or "full" in code:
        return Status.PROBLEM, Severity.WARNING
    return Status.PROBLEM, Severity.WARNING


def parse(env: Envelope) -> list[AlertEvent] | None:
    """One hardware event per OMSA alert mail, or None when it is not one."""
    match = None
    for pattern in _SUBJECT_RES:
        match = pattern.search(env.subject)
        if match:
            break
    if match is None:
        return None
    code = re.sub(r"[^a-z0-9]", "", match["code"].lower())
    check = _check(code, env.text)
    if check is None and "omsa" not in fold(env.subject + env.text):
        return None  # "Dell <word> Alert on X" without a known code: not ours to guess
    status, severity = _gravity(code)
    description = next((ln.strip() for ln in env.text.split("\n") if ln.strip()), "")
    if check is None:  # unlisted code: let the description name the part
        check = component_check(description)

    host = None
    for candidate in (match["host"], _reported_on(env.text), _sender_host(env)):
        if candidate and looks_like_host(candidate.strip(".,;:\"'")):
            host = short_host(candidate)
            break

    return [
        AlertEvent(
            family=Family.HARDWARE,
            status=status,
            host=host,
            check=check,
            target=None,
            severity=severity,
            backup_result=None,
            product=PRODUCT,
            summary=one_line(description or env.subject),
            extra={"omsa_event": match["code"]},
        )
    ]


def _reported_on(text: str) -> str | None:
    found = _REPORTED_ON.search(text)
    return found.group(1).rstrip(".") if found else None


def _sender_host(env: Envelope) -> str | None:
    if not env.sender:
        return None
    local = env.sender.split("@", 1)[0]
    return None if local in ("omsa", "dell", "alert", "alerts", "noreply", "root") else local
