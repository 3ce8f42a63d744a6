"""The desk's own probe format (``shared/docs/alert-event.md``): exact, field by field.

The monitoring agent and technicians' scripts write ``Key: value`` lines; every known key
maps to an event field, every other key is kept in ``extra``. A bad value never crashes
the parse: the field is left empty and ``extra`` says why.
"""

from __future__ import annotations

import re

from parsers.dates import parse_iso
from parsers.event import AlertEvent, BackupResult, Family, Severity, Status
from parsers.hosts import short_host
from parsers.mime import Envelope
from parsers.textutil import one_line, parse_number

name = "probe"
PRODUCT = "vigie-probe"

CHECK_FAMILIES: dict[str, Family] = {
    "cpu": Family.PERFORMANCE,
    "disk_time": Family.PERFORMANCE,
    "disk_queue": Family.PERFORMANCE,
    "pagefile": Family.PERFORMANCE,
    "committed_bytes": Family.PERFORMANCE,
    "disk_free": Family.DISK_SPACE,
    "event": Family.EVENTLOG,
    "service": Family.SERVICE,
    "heartbeat": Family.HEARTBEAT,
    "latency": Family.LINK,
    "vpn": Family.LINK,
    "backup_job": Family.BACKUP,
    **{
        code: Family.HARDWARE
        for code in (
            "battery",
            "raid",
            "tape",
            "fan",
            "power_supply",
            "nic",
            "physical_disk",
            "temperature",
            "memory",
            "processor",
        )
    },
    **{code: Family.ANTIVIRUS for code in ("threat", "realtime_scan", "pattern_update")},
    # "other" exists in both hardware and antivirus; hardware unless Family says otherwise.
    "other": Family.HARDWARE,
}
_STATUSES: dict[str, Status] = {
    "problem": Status.PROBLEM,
    "recovery": Status.RECOVERY,
    "ok": Status.INFO,
}
_STATUS_ALIASES: dict[str, Status] = {
    "alert": Status.PROBLEM,
    "critical": Status.PROBLEM,
    "warning": Status.PROBLEM,
    "fail": Status.PROBLEM,
    "failed": Status.PROBLEM,
    "down": Status.PROBLEM,
    "recovered": Status.RECOVERY,
    "resolved": Status.RECOVERY,
    "up": Status.RECOVERY,
    "info": Status.INFO,
    "alive": Status.INFO,
}
_SEVERITIES: dict[str, Severity] = {
    **{s.value: s for s in Severity},
    "fatal": Severity.CRITICAL,
    "error": Severity.MAJOR,
    "warn": Severity.WARNING,
    "normal": Severity.INFO,
    "ok": Severity.INFO,
    "information": Severity.INFO,
}
_KNOWN_KEYS = frozenset(
    {
        "host",
        "check",
        "target",
        "status",
        "severity",
        "value",
        "threshold",
        "duration",
        "occurred_at",
        "family",
        "result",
        "backup_result",
        "product",
        "summary",
    }
)

_SUBJECT_RE = re.compile(
    r"^\s*\[VIGIE\]\s+(?P<host>\S+)\s+(?P<status>PROBLEM|RECOVERY|OK)\s+"
    r"(?P<check>[A-Za-z][\w-]*)\s*:?\s*(?P<text>.*)$",
    re.IGNORECASE,
)
_LINE_RE = re.compile(r"^[ \t]*([A-Za-z][\w-]{0,63})[ \t]*:[ \t]*(.*?)[ \t]*$")
_CHECK_VALUE_RE = re.compile(r"^[A-Za-z][\w .-]{0,63}$")


def _key(raw: str) -> str:
    return raw.strip().lower().replace("-", "_")


def _fields(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(known fields by canonical key, unknown fields by their written key); first wins."""
    known: dict[str, str] = {}
    unknown: dict[str, str] = {}
    for line in text.split("\n")[:500]:
        match = _LINE_RE.match(line.rstrip("\r"))
        if not match:
            continue
        raw_key, value = match.group(1), match.group(2)
        key = _key(raw_key)
        if key in _KNOWN_KEYS:
            known.setdefault(key, value)
        else:
            unknown.setdefault(raw_key, value)
    return known, unknown


def _check_code(raw: str) -> str:
    return re.sub(r"[\s-]+", "_", raw.strip().lower())


def parse(env: Envelope) -> list[AlertEvent] | None:
    """One event from a probe mail, or None if the mail is not in the probe format."""
    subject = _SUBJECT_RE.match(env.subject)
    known, unknown = _fields(env.text)
    body_probe = (
        "check" in known
        and ("status" in known or "host" in known)
        and bool(_CHECK_VALUE_RE.match(known["check"]))
    )
    if not (subject or body_probe):
        return None

    extra: dict[str, str] = dict(unknown)
    notes: list[str] = []

    raw_check = known.get("check") or (subject["check"] if subject else "")
    check = _check_code(raw_check) or "unknown"
    family = CHECK_FAMILIES.get(check, Family.UNKNOWN)
    if "family" in known:
        try:
            family = Family(known["family"].strip().lower())
        except ValueError:
            notes.append(f"unrecognised Family {known['family']!r}")
    if family is Family.UNKNOWN:
        notes.append(f"unrecognised check {raw_check!r}")

    raw_status = known.get("status") or (subject["status"] if subject else "")
    status_key = raw_status.strip().lower()
    status = _STATUSES.get(status_key) or _STATUS_ALIASES.get(status_key)
    if status is None:
        if raw_status:
            notes.append(f"unrecognised Status {raw_status!r}")
        status = Status.INFO if family is Family.HEARTBEAT else Status.PROBLEM

    raw_severity = known.get("severity", "").strip().lower()
    severity = _SEVERITIES.get(raw_severity)
    if severity is None:
        if raw_severity:
            notes.append(f"unrecognised Severity {known['severity']!r}")
        severity = Severity.WARNING if status is Status.PROBLEM else Severity.INFO

    host = short_host(known.get("host") or (subject["host"] if subject else None))
    target = (known.get("target") or "").strip() or None

    value = threshold = None
    for label in ("value", "threshold"):
        raw = known.get(label)
        if raw is None or not raw.strip():
            continue
        number = parse_number(raw)
        if number is None:
            notes.append(f"unparseable {label.capitalize()} {raw!r}")
        elif label == "value":
            value = number
        else:
            threshold = number

    occurred_at = None
    if known.get("occurred_at"):
        occurred_at = parse_iso(known["occurred_at"])
        if occurred_at is None:
            notes.append(f"unparseable Occurred-At {known['occurred_at']!r}")
    if known.get("duration"):
        extra["Duration"] = known["duration"]

    backup_result = None
    if family is Family.BACKUP:
        raw_result = (known.get("backup_result") or known.get("result") or "").strip().lower()
        try:
            backup_result = BackupResult(raw_result)
        except ValueError:
            backup_result = (
                BackupResult.FAILED if status is Status.PROBLEM else BackupResult.SUCCESS
            )
    elif known.get("result"):
        extra["Result"] = known["result"]

    if notes:
        extra["parse_errors"] = "; ".join(notes)
    summary = known.get("summary") or (subject["text"] if subject else "") or env.subject
    product = (known.get("product") or "").strip() or PRODUCT
    return [
        AlertEvent(
            family=family,
            status=status,
            host=host,
            check=check,
            target=target,
            severity=severity,
            backup_result=backup_result,
            product=product,
            value=value,
            threshold=threshold,
            occurred_at=occurred_at,
            summary=one_line(summary),
            extra=extra,
        )
    ]
