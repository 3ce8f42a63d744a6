"""Windows event-log forwards in the ``wevtutil qe /f:text`` layout.

``Event[N]:`` blocks with indented ``Log Name``, ``Source``, ``Date`` (local time, no
offset: Paris), ``Event ID``, ``Level`` (localized: Error/Erreur/Fehler, Critical/Critique,
Warning/Avertissement/Warnung, Information...), ``Computer``, ``Description``. One event
per block; the target is the event ID.
"""

from __future__ import annotations

import itertools
import re

from parsers.dates import parse_iso, parse_loose
from parsers.event import AlertEvent, Family, Severity, Status
from parsers.hosts import short_host
from parsers.mime import Envelope
from parsers.textutil import fold, one_line

name = "eventlog"
PRODUCT = "windows-eventlog"
MAX_EVENTS = 50

_BLOCK_START = re.compile(
    r"^[ \t>]*(?:Event|Ev[ée]nement|Ereignis)\[\d+\]\s*:?\s*$", re.MULTILINE | re.IGNORECASE
)
_LABELS: dict[str, str] = {
    "log name": "log",
    "nom du journal": "log",
    "protokollname": "log",
    "journal": "log",
    "source": "source",
    "quelle": "source",
    "date": "date",
    "datum": "date",
    "time created": "date",
    "event id": "event_id",
    "id de l'evenement": "event_id",
    "id d'evenement": "event_id",
    "ereignis-id": "event_id",
    "eventid": "event_id",
    "id": "event_id",
    "task": "task",
    "tache": "task",
    "aufgabe": "task",
    "task category": "task",
    "categorie de la tache": "task",
    "aufgabenkategorie": "task",
    "level": "level",
    "niveau": "level",
    "ebene": "level",
    "opcode": "opcode",
    "keyword": "keyword",
    "keywords": "keyword",
    "mots cles": "keyword",
    "mots-cles": "keyword",
    "schlusselworter": "keyword",
    "user": "user",
    "utilisateur": "user",
    "benutzer": "user",
    "computer": "computer",
    "ordinateur": "computer",
    "user name": "user",
    "description": "description",
    "beschreibung": "description",
}
_LINE = re.compile(r"^[ \t>]*([a-z][a-z' -]{0,30}?)[ \t]*:[ \t]?(.*)$")
_LEVELS: tuple[tuple[str, Status, Severity], ...] = (
    (r"critical|critique|kritisch|^1$", Status.PROBLEM, Severity.CRITICAL),
    (r"error|erreur|fehler|^2$", Status.PROBLEM, Severity.MAJOR),
    (
        r"audit failure|echec de l'audit|uberwachung gescheitert|fehlerüberwachung",
        Status.PROBLEM,
        Severity.MINOR,
    ),
    (r"warning|avertissement|warnung|^3$", Status.PROBLEM, Severity.WARNING),
    (
        r"information|informations|informationen|verbose|detaille|ausfuhrlich|audit success"
        r"|succes de l'audit|uberwachung erfolgreich|^[045]$",
        Status.INFO,
        Severity.INFO,
    ),
)


def _blocks(text: str) -> list[str]:
    starts = [m.start() for m in _BLOCK_START.finditer(text)]
    if not starts:
        return [text]
    starts.append(len(text))
    return [text[a:b] for a, b in itertools.pairwise(starts)][:MAX_EVENTS]


def _fields(block: str) -> dict[str, str]:
    """Known fields of one block; the description runs to the end of the block."""
    fields: dict[str, str] = {}
    lines = block.split("\n")
    folded_lines = fold(block).split("\n")
    for index, (line, folded) in enumerate(zip(lines, folded_lines, strict=False)):
        match = _LINE.match(folded)
        if not match:
            continue
        key = _LABELS.get(" ".join(match.group(1).split()))
        if key is None or key in fields:
            continue
        value = line[match.start(2) :].strip()
        if key == "description":
            rest = "\n".join(lines[index + 1 :]).strip()
            value = (value + "\n" + rest).strip() if value else rest
            fields[key] = value
            break
        fields[key] = value
    return fields


def _level(raw: str | None) -> tuple[Status, Severity, bool]:
    folded = fold(raw or "").strip()
    for pattern, status, severity in _LEVELS:
        if folded and re.search(pattern, folded):
            return status, severity, True
    return Status.PROBLEM, Severity.WARNING, False


def parse(env: Envelope) -> list[AlertEvent] | None:
    """One eventlog event per forwarded event, or None when the mail holds none."""
    text = env.text
    folded = fold(text)
    if not (
        _BLOCK_START.search(text)
        or re.search(r"^[ \t]*(?:log name|nom du journal|protokollname)[ \t]*:", folded, re.M)
        or (
            re.search(r"^[ \t]*(?:event id|id de l'evenement|ereignis-id)[ \t]*:", folded, re.M)
            and re.search(r"^[ \t]*(?:level|niveau|ebene)[ \t]*:", folded, re.M)
        )
    ):
        return None
    events: list[AlertEvent] = []
    for block in _blocks(text):
        fields = _fields(block)
        event_id = re.match(r"\s*(\d{1,6})", fields.get("event_id", ""))
        if event_id is None:
            continue
        status, severity, known_level = _level(fields.get("level"))
        when = fields.get("date", "")
        occurred_at = parse_iso(when) or (parse_loose(when, dayfirst=True) if when else None)
        source = fields.get("source", "")
        description = fields.get("description", "")
        first_line = next((ln.strip() for ln in description.split("\n") if ln.strip()), "")
        extra = {k: fields[k] for k in ("log", "source", "level", "task", "user") if k in fields}
        if not known_level and fields.get("level"):
            extra["note"] = f"unrecognised level {fields['level']!r}"
        events.append(
            AlertEvent(
                family=Family.EVENTLOG,
                status=status,
                host=short_host(fields.get("computer")),
                check="event",
                target=event_id.group(1),
                severity=severity,
                backup_result=None,
                product=PRODUCT,
                occurred_at=occurred_at,
                summary=one_line(f"{source} {event_id.group(1)}: {first_line}".strip()),
                extra=extra,
            )
        )
    return events or None
