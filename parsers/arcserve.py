"""Arcserve Backup (and BrightStor) job results, in English, French or German.

Arcserve mails quote activity-log sentences: "Job Completed Successfully",
"Vorgang Sichern unvollständig", "Opération Sauvegarde échouée"... Several may appear
(job summary plus per-node lines): the worst wins.
"""

from __future__ import annotations

import re

from parsers.backup import backup_event, worst
from parsers.dates import parse_loose
from parsers.event import AlertEvent, BackupResult
from parsers.hosts import looks_like_host, short_host
from parsers.mime import Envelope
from parsers.textutil import field, fold, one_line

name = "arcserve"
PRODUCT = "arcserve"

_BRAND = re.compile(r"arc ?serve|brightstor")
_BODY_MARK = re.compile(
    r"vorgang (?:sichern|backup|sicherung)|operation (?:sauvegarde|backup)\b"
    r"|backup operation (?:successful|incomplete|failed)|job completed successfully"
)
_NOT_ZERO = r"(?!\s*[:=]?\s*0\b)"
_RESULTS: tuple[tuple[BackupResult, re.Pattern[str]], ...] = (
    (
        BackupResult.FAILED,
        re.compile(
            r"job (?:has )?failed|job crashed|\bfailed\b"
            + _NOT_ZERO
            + r"|fehlgeschlagen|konnte nicht durchgef(?:u|ue)hrt werden|nicht erfolgreich"
            r"|abgesturzt|impossible d.effectuer|n'a pas pu|n'a pas ete effectuee|a echoue"
            r"|\bechouee?s?\b|\bechec\b"
        ),
    ),
    (BackupResult.CANCELLED, re.compile(r"\bcancel+ed\b|abgebrochen|\bannulee?\b")),
    (BackupResult.INCOMPLETE, re.compile(r"\bincomplete?\b|unvollst(?:a|ae)ndig")),
    (BackupResult.WARNING, re.compile(r"with warnings|mit warnungen|avec (?:des )?avertissement")),
    (
        BackupResult.SUCCESS,
        re.compile(
            r"completed successfully|\bsuccessful(?:ly)?\b|(?<!nicht )\berfolgreich\b"
            r"|\breussie?s?\b|terminee? avec succes"
        ),
    ),
)
_JOB_NO = re.compile(
    r"\b(?:job\s*(?:no\.?|nr\.?|number|#|id)?|auftrag(?:snummer)?|jobnummer|tache"
    r"|n[o°]\s*de\s*(?:job|tache))\s*[:#]?\s*(\d{1,7})\b"
)
_SUBJECT_JOB = re.compile(r"\b(?:job|auftrag|tache)\s+\d+\s*\((?P<name>[^)]+)\)", re.I)
_SUBJECT_HOST = re.compile(r"(?:\b(?:on|sur|auf)\s+|\s-\s*)(?P<host>[\w.-]+)\s*$", re.I)
_TRAILING_DATE = re.compile(r"[.\s]*\(\s*\d{1,2}[./-]\d{1,2}[./-]\d{2,4}[^)]*\)\s*$")


def _results(text: str) -> list[BackupResult]:
    folded = fold(text)
    return [result for result, pattern in _RESULTS if pattern.search(folded)]


def _job_name(env: Envelope) -> str | None:
    raw = field(
        env.text,
        "description",
        "beschreibung",
        "job ?name",
        "job description",
        "nom du job",
        "nom de la tache",
        "description du job",
        "auftragsname",
        "jobbeschreibung",
        "jobname",
    )
    if raw:
        cleaned = _TRAILING_DATE.sub("", raw).strip().rstrip(".").strip()
        if cleaned:
            return cleaned
    match = _SUBJECT_JOB.search(env.subject)
    return match["name"].strip() if match else None


def _host(env: Envelope) -> str | None:
    raw = field(
        env.text,
        "server",
        "serveur",
        "host",
        "hostname",
        "host name",
        "rechner",
        "computer",
        "ordinateur",
        "sicherungsserver",
        "backup server",
        "serveur de sauvegarde",
        "machine",
        "server name",
        "nom du serveur",
        "servername",
    )
    if raw and looks_like_host(raw.split()[0]):
        return short_host(raw.split()[0])
    match = _SUBJECT_HOST.search(env.subject)
    if match and looks_like_host(match["host"]) and not match["host"].isdigit():
        return short_host(match["host"])
    return None


def parse(env: Envelope) -> list[AlertEvent] | None:
    """One backup event per Arcserve job mail, or None when it is not Arcserve's."""
    haystack = fold(f"{env.subject}\n{env.sender or ''}\n{env.sender_name or ''}\n{env.text}")
    if not (_BRAND.search(haystack) or _BODY_MARK.search(haystack)):
        return None
    result = worst(_results(f"{env.subject}\n{env.text}"))
    if result is None:
        return None

    folded = fold(env.text)
    job_no = _JOB_NO.search(fold(env.subject + "\n" + env.text))
    day_first = bool(
        re.search(r"beschreibung|vorgang|serveur|\btache\b|\bdebut\b|^fin\b", folded, re.MULTILINE)
    )
    when = field(env.text, "end", "ende", "fin", "end time", "endzeit", "heure de fin") or field(
        env.text, "start", "beginn", "debut", "start time", "startzeit", "heure de debut"
    )
    host = _host(env)
    target = _job_name(env)
    extra: dict[str, str] = {}
    if job_no:
        extra["job_no"] = job_no.group(1)
    counts = re.search(
        r"(?:fehlern/warnungen|errors/warnings|erreurs/avertissements)"
        r"\s*:?\s*(\d+\s*/\s*\d+)",
        folded,
    )
    if counts:
        extra["errors_warnings"] = counts.group(1).replace(" ", "")
    return [
        backup_event(
            result,
            host=host,
            target=target,
            product=PRODUCT,
            summary=one_line(f"Arcserve job {target or ''} on {host or '?'}: {result.value}"),
            occurred_at=parse_loose(when, dayfirst=day_first) if when else None,
            extra=extra,
        )
    ]
