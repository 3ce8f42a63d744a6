"""HP AlertMail (iLO, Onboard Administrator, Insight agents).

Subject ``HP AlertMail-<SEQ>: (<SEVERITY>) <Component>: <State>``; body
``EVENT (26 May 07:09): <Component> Status has changed to: <State>.`` with no year and no
zone (the year is taken as the one closest to the Date header; the time is Paris time).
"""

from __future__ import annotations

import re

from parsers.dates import month_number, nearest_year
from parsers.event import AlertEvent, Family, Severity, Status
from parsers.hardware import component_check, state_is_problem, state_is_recovery
from parsers.hosts import looks_like_host, short_host
from parsers.mime import Envelope
from parsers.textutil import field, fold, one_line

name = "hp"
PRODUCT = "hp"

_SUBJECT_RE = re.compile(
    r"(?P<brand>\bHPE?\s*)?\bAlert\s*Mail\s*-?\s*(?P<seq>\d{1,4})?\s*:\s*"
    r"(?:\((?P<sev>[^)]{1,40})\)\s*)?(?P<rest>.*)$",
    re.IGNORECASE,
)
_EVENT_RE = re.compile(
    r"EVENT\s*\(\s*(?P<day>\d{1,2})\s+(?P<mon>[A-Za-z]{3,9})\.?\s+"
    r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::\d{2})?\s*\)\s*:\s*(?P<comp>[^\n]{1,200}?)\s+"
    r"Status\s+has\s+changed\s+to\s*:\s*(?P<state>[^\n]{0,200}?)\s*\.?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_BODY_MARK_RE = re.compile(
    r"hp (?:integrated lights-out|onboard administrator|insight)|alertmail|\bilo\b"
)

_SEVERITIES: tuple[tuple[str, Severity, bool], ...] = (
    # (folded severity, desk severity, is a problem severity)
    ("fatal", Severity.CRITICAL, True),
    ("critical", Severity.CRITICAL, True),
    ("failed", Severity.CRITICAL, True),
    ("warning major", Severity.MAJOR, True),
    ("major", Severity.MAJOR, True),
    ("warning minor", Severity.MINOR, True),
    ("minor", Severity.MINOR, True),
    ("warning", Severity.WARNING, True),
    ("caution", Severity.WARNING, True),
    ("degraded", Severity.WARNING, True),
    ("normal", Severity.INFO, False),
    ("repaired", Severity.INFO, False),
    ("informational", Severity.INFO, False),
    ("information", Severity.INFO, False),
    ("info", Severity.INFO, False),
    ("ok", Severity.INFO, False),
)
_RECOVERY_SEVERITIES = ("normal", "repaired", "ok")


def _severity(raw: str | None) -> tuple[str, Severity, bool] | None:
    if not raw:
        return None
    folded = " ".join(fold(raw).split())
    for key, severity, problem in _SEVERITIES:
        if folded == key or folded.startswith(key + " "):
            return key, severity, problem
    for key, severity, problem in _SEVERITIES:
        if key in folded:
            return key, severity, problem
    return None


def _split_component(rest: str) -> tuple[str, str]:
    match = re.match(r"^(?P<comp>.+):\s*(?P<state>[^:]*)$", rest.strip())
    if match:
        return match["comp"].strip(), match["state"].strip().rstrip(".")
    return rest.strip(), ""


def _host(env: Envelope) -> str | None:
    body_host = field(
        env.text,
        "server",
        "server name",
        "host ?name",
        "host",
        "system name",
        "enclosure name",
        "enclosure",
        "ilo name",
        "serveur",
    )
    if body_host and looks_like_host(body_host.split()[0]):
        return short_host(body_host.split()[0])
    display = (env.sender_name or "").strip()
    display = re.sub(r"^(?:enclosure|ilo|hp|hpe)\s+", "", display, flags=re.I).strip()
    if display and looks_like_host(display):
        return short_host(display)
    if env.sender:
        local = env.sender.split("@", 1)[0]
        local = re.sub(r"^ilo[-_]?", "", local, flags=re.I)
        if local and local not in ("alertmail", "noreply", "no-reply", "ilo", "oa", "admin"):
            return short_host(local)
    return None


def parse(env: Envelope) -> list[AlertEvent] | None:
    """One hardware event per AlertMail, or None when the mail is not HP's."""
    subject = _SUBJECT_RE.search(env.subject)
    if subject and not (subject["brand"] or subject["seq"]):
        subject = None  # a bare "Alert mail:" subject is not HP's
    event_line = _EVENT_RE.search(env.text)
    if subject is None and (event_line is None or not _BODY_MARK_RE.search(fold(env.text))):
        return None

    component, state = ("", "")
    if subject:
        component, state = _split_component(subject["rest"])
    if event_line and (not component or not state):
        component = component or event_line["comp"].strip()
        state = state or event_line["state"].strip()
    if not component and event_line is None:
        return None

    sev_raw = (subject["sev"] if subject else None) or field(
        env.text, "severity", "event severity", "gravite"
    )
    sev = _severity(sev_raw)
    problem_state = state_is_problem(state)
    if problem_state or (sev is not None and sev[2]):
        status = Status.PROBLEM
        if sev is not None and sev[2]:
            severity = sev[1]
        else:
            severity = Severity.CRITICAL if re.search(r"fail", fold(state)) else Severity.WARNING
    elif state_is_recovery(state) or (sev is not None and sev[0] in _RECOVERY_SEVERITIES):
        status, severity = Status.RECOVERY, Severity.INFO
    else:
        status, severity = Status.INFO, Severity.INFO

    occurred_at = None
    if event_line:
        month = month_number(event_line["mon"])
        if month:
            occurred_at = nearest_year(
                month,
                int(event_line["day"]),
                int(event_line["h"]),
                int(event_line["mi"]),
                env.date,
            )

    extra: dict[str, str] = {"component": component}
    if state:
        extra["state"] = state
    if subject and subject["seq"]:
        extra["sequence"] = subject["seq"]
    if sev_raw:
        extra["hp_severity"] = sev_raw.strip()
    count = field(env.text, "count", "event count")
    if count:
        extra["count"] = count
    for label, key in (("product", "model"), ("server model", "model")):
        value = field(env.text, label)
        if value:
            extra.setdefault(key, value)

    return [
        AlertEvent(
            family=Family.HARDWARE,
            status=status,
            host=_host(env),
            check=component_check(component),
            target=None,
            severity=severity,
            backup_result=None,
            product=PRODUCT,
            occurred_at=occurred_at,
            summary=one_line(f"{component}: {state}" if state else component),
            extra=extra,
        )
    ]
