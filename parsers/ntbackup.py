"""NTBackup (Windows 2003) logs mailed by a script, English or French.

The status is read from the log sentences: "Backup completed", "Verify completed",
"sauvegarde terminée", "vérification terminée"; failures such as "The operation was not
performed because no unused media was available." or "Erreur". A script saying there is
no log for the day reports no backup result (the absence check handles that).
"""

from __future__ import annotations

import re

from parsers.backup import backup_event, worst
from parsers.dates import parse_loose
from parsers.event import AlertEvent, BackupResult, Family, Severity, Status
from parsers.hosts import looks_like_host, short_host
from parsers.mime import Envelope
from parsers.textutil import field, fold, one_line

name = "ntbackup"
PRODUCT = "ntbackup"

_DETECT = re.compile(
    r"\bntbackup\b|^\s*operation\s*:\s*(?:backup|verify|restore|sauvegarde|verification"
    r"|restauration)\b|\bbackup (?:started|completed) on \d|\bsauvegarde (?:demarree|terminee)"
    r" le \d|\b(?:etat|statut) de la sauvegarde\b|^\s*verify status\s*$",
    re.MULTILINE,
)
_NO_ZERO = r"(?<!\b0 )(?!\s*[:=]?\s*0\b)"
_RESULTS: tuple[tuple[BackupResult, re.Pattern[str]], ...] = (
    (
        BackupResult.FAILED,
        re.compile(
            r"not performed|no unused media|did not (?:successfully )?complete"
            r"|was not successful|\bfailed\b|\bfailure\b|unable to|could not|\baborted\b"
            r"|n'a pas ete effectuee?|n'a pas pu|aucun (?:support|media)|\bechec\b|\bechoue"
            r"|\bimpossible\b|\berreurs?\b" + _NO_ZERO + r"|\berrors?\b" + _NO_ZERO
        ),
    ),
    (
        BackupResult.CANCELLED,
        re.compile(
            r"\bcancel+ed\b|\bannulee?\b|stopped by the user|(?:arretee?|interrompue?) par "
            r"l'utilisateur"
        ),
    ),
    (
        BackupResult.WARNING,
        re.compile(r"\bskipped\b|\bignores?\b|\bignorees?\b|\bwarnings?\b|avertissement"),
    ),
    (
        BackupResult.SUCCESS,
        re.compile(
            r"backup completed|verify completed|operation completed|\bcompleted\b"
            r"|\bterminee?s?\b|\breussie?s?\b|successfully"
        ),
    ),
)
_SKIPPED = re.compile(r"\bskipped\b|\bignore(?:s|e|es)?\b|n'a pas ete sauvegarde")
_NO_LOG = re.compile(
    r"\bno (?:ntbackup )?log\b|aucun (?:fichier )?(?:journal|log)|log (?:not found|missing)"
    r"|journal (?:introuvable|absent|manquant)"
)
_STOP_WORDS = frozenset(
    {
        "log",
        "logs",
        "report",
        "rapport",
        "journal",
        "status",
        "statut",
        "result",
        "resultat",
        "backup",
        "sauvegarde",
        "de",
        "du",
        "sur",
        "on",
        "for",
        "from",
        "pour",
        "the",
        "le",
        "la",
        "-",
        ":",
        "of",
        "des",
        "daily",
        "quotidien",
        "quotidienne",
    }
)
_SUBJECT_HOST_TAIL = re.compile(r"\b(?:on|sur|de|du|for|from|pour)\s+([\w.-]+)\s*$", re.I)
_WHEN_END = re.compile(r"(?:backup completed on|sauvegarde terminee? le)\s+([^\n]{0,40})")
_WHEN_START = re.compile(r"(?:backup started on|sauvegarde demarree? le)\s+([^\n]{0,40})")


def _line_result(line: str) -> BackupResult | None:
    """Worst result of one log line; a skipped-file line ("Warning: Unable to open ...
    - skipped") is a warning even though it contains failure words."""
    if _SKIPPED.search(line):
        return BackupResult.WARNING
    return worst(r for r, pattern in _RESULTS if pattern.search(line))


def _subject_host(subject: str) -> str | None:
    tokens = re.split(r"[\s:]+", subject)
    for index, token in enumerate(tokens):
        if fold(token) != "ntbackup":
            continue
        for candidate in tokens[index + 1 : index + 5]:
            clean = candidate.strip("\"'()[],;")
            if not clean or fold(clean) in _STOP_WORDS:
                continue
            if looks_like_host(clean) and clean.isascii():
                return clean
            break
    tail = _SUBJECT_HOST_TAIL.search(subject)
    return tail.group(1) if tail and looks_like_host(tail.group(1)) else None


def _host(env: Envelope) -> str | None:
    raw = field(
        env.text,
        "computer",
        "computer name",
        "ordinateur",
        "nom de l'ordinateur",
        "server",
        "serveur",
        "machine",
        "host",
        "hostname",
    )
    if raw and looks_like_host(raw.split()[0]):
        return short_host(raw.split()[0])
    return short_host(_subject_host(env.subject))


def parse(env: Envelope) -> list[AlertEvent] | None:
    """One backup event per NTBackup log mail, or None when it is not one."""
    haystack = fold(f"{env.subject}\n{env.sender or ''}\n{env.text}")
    if not _DETECT.search(haystack):
        return None
    body = fold(f"{env.subject}\n{env.text}")
    result = worst(_line_result(line) for line in body.split("\n"))
    host = _host(env)
    if _NO_LOG.search(body):
        return [
            AlertEvent(
                family=Family.UNKNOWN,
                status=Status.INFO,
                host=host,
                check="unknown",
                target=None,
                severity=Severity.INFO,
                backup_result=None,
                product=PRODUCT,
                summary=one_line(f"NTBackup report without a log: {env.subject}"),
                extra={"note": "no NTBackup log in this report; not a backup result"},
            )
        ]
    if result is None:
        return None
    french = bool(re.search(r"sauvegarde|operation de|terminee", body))
    when = _WHEN_END.search(body) or _WHEN_START.search(body)
    occurred_at = None
    if when:
        start = when.start(1)
        occurred_at = parse_loose(f"{env.subject}\n{env.text}"[start : start + 40], dayfirst=french)
    first_failure = next(
        (ln.strip() for ln in env.text.split("\n") if _RESULTS[0][1].search(fold(ln))), ""
    )
    return [
        backup_event(
            result,
            host=host,
            target=None,
            product=PRODUCT,
            summary=one_line(f"NTBackup on {host or '?'}: {result.value}. {first_failure}"),
            occurred_at=occurred_at,
        )
    ]
