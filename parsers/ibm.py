"""IBM ServeRAID Manager / IBM Director event notifications.

Subject ``ServeRAID Manager Event Notification - Event type <type>``; body fields
``Event Description``, ``Event Type``, ``Event Source`` (the server), ``Date``, ``Time``
(US layout, local time).
"""

from __future__ import annotations

import re

from parsers.dates import parse_loose
from parsers.event import AlertEvent, Family, Severity, Status
from parsers.hardware import component_check, state_is_problem, state_is_recovery
from parsers.hosts import short_host
from parsers.mime import Envelope
from parsers.textutil import field, fold, one_line

name = "ibm"
PRODUCT = "ibm"

_SUBJECT_RE = re.compile(
    r"(?:serveraid|\bibm\b).*?event"
    r"(?:.*?event\s+type\s*:?\s*(?P<type>[A-Za-z]+))?",
    re.IGNORECASE,
)
_TYPES: dict[str, tuple[Status, Severity]] = {
    "fatal": (Status.PROBLEM, Severity.CRITICAL),
    "critical": (Status.PROBLEM, Severity.CRITICAL),
    "error": (Status.PROBLEM, Severity.CRITICAL),
    "warning": (Status.PROBLEM, Severity.WARNING),
    "minor": (Status.PROBLEM, Severity.MINOR),
    "harmless": (Status.INFO, Severity.INFO),
    "information": (Status.INFO, Severity.INFO),
    "informational": (Status.INFO, Severity.INFO),
    "info": (Status.INFO, Severity.INFO),
}


def parse(env: Envelope) -> list[AlertEvent] | None:
    """One hardware event per notification, or None when the mail is not IBM's."""
    subject = _SUBJECT_RE.search(env.subject)
    description = field(env.text, "event description", "description")
    body_type = field(env.text, "event type", "type")
    source = field(env.text, "event source", "source", "server", "system")
    branded = subject is not None or re.search(r"serveraid|ibm director", fold(env.text))
    if not (branded and (description or subject)) and not (
        field(env.text, "event description") and field(env.text, "event source")
    ):
        return None

    raw_type = (body_type or (subject["type"] if subject else None) or "").strip()
    status, severity = _TYPES.get(
        fold(raw_type).split(" ")[0] if raw_type else "", (Status.PROBLEM, Severity.WARNING)
    )
    text = description or env.subject
    if state_is_problem(text) and status is not Status.PROBLEM:
        status, severity = Status.PROBLEM, Severity.WARNING
    elif status is Status.INFO and state_is_recovery(text):
        status = Status.RECOVERY

    when = " ".join(v for v in (field(env.text, "date"), field(env.text, "time")) if v)
    extra = {"event_type": raw_type} if raw_type else {}
    return [
        AlertEvent(
            family=Family.HARDWARE,
            status=status,
            host=short_host(source.split()[0]) if source else None,
            check=component_check(text),
            target=None,
            severity=severity,
            backup_result=None,
            product=PRODUCT,
            occurred_at=parse_loose(when, dayfirst=False) if when else None,
            summary=one_line(text),
            extra=extra,
        )
    ]
