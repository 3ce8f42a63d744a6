"""Trend Micro Worry-Free Business Security (and OfficeScan) notifications.

These are digests: one mail may report virus incidents, an outbreak, computers with
real-time scan disabled, out-of-date patterns and unusual system events. One event per
kind of finding, worst wording first; a notice with no finding is an ``info`` event.
"""

from __future__ import annotations

import re

from parsers.event import AlertEvent, Family, Severity, Status
from parsers.hosts import looks_like_host, short_host
from parsers.mime import Envelope
from parsers.textutil import field, fold, one_line

name = "trendmicro"
PRODUCT = "trend-micro"

_BRAND = re.compile(
    r"trend ?micro|worry-free|\bwfbs\b|officescan|apex one|security server\s*:"
    r"|client/server security agent|\bcsm\b suite"
)
_VIRUS = re.compile(
    r"detected\s+(?P<n>\d+)\s+(?:virus|malware|spyware|grayware|ransomware|security risk)"
    r"[\w/ -]{0,40}?incidents?|a detecte\s+(?P<n2>\d+)\s+incidents?"
    r"|(?P<n3>\d+)\s+incidents? de virus"
    r"|virus (?:detected|found|incident)|virus detecte|malware detected|ransomware"
    r"|threat detected|menace detectee|viren gefunden|virus gefunden"
)
_OUTBREAK = re.compile(
    r"outbreak|epidemie|ausbruch|flambee|red alert|yellow alert|alerte (?:rouge|jaune)"
)
_OUTBREAK_OVER = re.compile(
    r"outbreak (?:prevention )?(?:mode )?(?:has been )?(?:ended|"
    r"deactivated|stopped|is over)|fin de l'epidemie"
)
_REALTIME = re.compile(
    r"real-?time scan\w*[^.\n]{0,40}?(?:disabled|turned off|stopped|not running|off\b)"
    r"|(?:disabled|turned off)[^.\n]{0,40}real-?time scan"
    r"|(?:scan|analyse|recherche) en temps reel[^.\n]{0,40}(?:desactive|arrete|inactive)"
    r"|echtzeitsuche[^.\n]{0,40}(?:deaktiviert|aus\b)"
)
_PATTERN = re.compile(
    r"pattern[^.\n]{0,60}(?:out of date|outdated|out-of-date|not (?:been )?updated|expired"
    r"|too old)|(?:outdated|out-of-date|old) (?:virus )?pattern"
    r"|component update (?:failed|unsuccessful|required|is out of date)"
    r"|components? (?:are |is )?(?:out of date|outdated|out-of-date)"
    r"|(?:out of date|outdated|out-of-date)[^.\n]{0,60}(?:pattern|component|engine|signature)"
    r"|update (?:failed|unsuccessful)|failed to update|not (?:been )?updated"
    r"|(?:fichier de )?signatures?[^.\n]{0,40}(?:obsolete|perimee?|pas a jour|depassee?)"
    r"|mise a jour[^.\n]{0,30}(?:echouee?|echec)|pattern[^.\n]{0,40}veraltet"
)
_OTHER = re.compile(
    r"unusual system event|system events?|license (?:expir|has expired|will expire)"
    r"|licence (?:expir|a expire)|disk space|espace disque|evenements? systeme inhabituels?"
)


def _host(env: Envelope) -> str | None:
    raw = field(
        env.text,
        "security server",
        "server",
        "serveur",
        "serveur de securite",
        "host",
        "computer",
        "ordinateur",
        "server name",
    )
    if raw and looks_like_host(raw.split()[0]):
        return short_host(raw.split()[0])
    match = re.search(r"security server\s+([A-Za-z0-9][\w.-]*)", env.text, re.I)
    return short_host(match.group(1)) if match else None


def _event(
    check: str,
    status: Status,
    severity: Severity,
    host: str | None,
    summary: str,
    value: float | None = None,
    extra: dict[str, str] | None = None,
) -> AlertEvent:
    return AlertEvent(
        family=Family.ANTIVIRUS,
        status=status,
        host=host,
        check=check,
        target=None,
        severity=severity,
        backup_result=None,
        product=PRODUCT,
        value=value,
        summary=one_line(summary),
        extra=extra or {},
    )


def _sentence(text: str, match: re.Match[str]) -> str:
    start = text.rfind("\n", 0, match.start()) + 1
    end = text.find("\n", match.end())
    return text[start : end if end >= 0 else len(text)].strip()


def parse(env: Envelope) -> list[AlertEvent] | None:
    """Antivirus events from a Trend Micro notification, or None when it is not one."""
    whole = f"{env.subject}\n{env.text}"
    folded = fold(whole)
    if not _BRAND.search(fold(f"{whole}\n{env.sender or ''}\n{env.sender_name or ''}")):
        return None
    host = _host(env)
    events: list[AlertEvent] = []

    virus = _VIRUS.search(folded)
    outbreak = _OUTBREAK.search(folded)
    if outbreak and _OUTBREAK_OVER.search(folded) and not virus:
        events.append(
            _event("threat", Status.RECOVERY, Severity.INFO, host, _sentence(whole, outbreak))
        )
    elif virus or outbreak:
        count = None
        extra: dict[str, str] = {}
        if virus:
            raw_count = virus.group("n") or virus.group("n2") or virus.group("n3")
            if raw_count:
                count = float(raw_count)
                extra["incidents"] = raw_count
            period = re.search(
                r"\bin\s+(\d+\s+(?:minute|hour|heure|day|jour)\w*(?:\(s\))?)",
                folded[virus.end() : virus.end() + 80],
            )
            if period:
                extra["period"] = period.group(1)
        if outbreak:
            extra["outbreak"] = "yes"
        # An outbreak alert (by its subject or its text) or many incidents is critical.
        severity = Severity.CRITICAL if outbreak else Severity.MAJOR
        summary = _sentence(whole, virus or outbreak)  # type: ignore[arg-type]
        events.append(_event("threat", Status.PROBLEM, severity, host, summary, count, extra))

    realtime = _REALTIME.search(folded)
    if realtime:
        events.append(
            _event(
                "realtime_scan", Status.PROBLEM, Severity.MAJOR, host, _sentence(whole, realtime)
            )
        )
    pattern = _PATTERN.search(folded)
    if pattern:
        events.append(
            _event(
                "pattern_update", Status.PROBLEM, Severity.MINOR, host, _sentence(whole, pattern)
            )
        )
    other = _OTHER.search(folded)
    if other:
        events.append(
            _event("other", Status.PROBLEM, Severity.WARNING, host, _sentence(whole, other))
        )
    if not events:
        events.append(
            _event(
                "other", Status.INFO, Severity.INFO, host, env.subject or "Trend Micro notification"
            )
        )
    return events
