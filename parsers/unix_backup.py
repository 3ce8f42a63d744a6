"""tar / cpio backups on Linux: cron mails and scripts that mail their own status.

Cron mails (``Cron <user@host> command``, ``X-Cron-Env``, ``(Cron Daemon)``) carry the
job's raw output, which may hold a success marker *and* error lines: failure wins.
Status scripts write ``Hostname: <host>`` and ``Status: Success!`` / ``Status: Failed!!!``.
A cron mail that is not about a backup is still reported, as an ``unknown`` event.
"""

from __future__ import annotations

import re

from parsers.backup import backup_event, worst
from parsers.dates import parse_loose
from parsers.event import AlertEvent, BackupResult, Family, Severity, Status
from parsers.hosts import looks_like_host, short_host
from parsers.mime import Envelope
from parsers.textutil import field, fold, one_line

name = "unix_backup"

_CRON_SUBJECT = re.compile(
    r"^\s*Cron\s*<(?P<user>[^@>\s]+)@(?P<host>[^>\s]+)>\s*(?P<cmd>.*)$", re.IGNORECASE
)
_BACKUP_WORDS = re.compile(
    r"backup|sauvegarde|sicherung|\btar\b|\bcpio\b|\bdump\b|rsync|bacula|borg|restic"
    r"|duplicity|amanda|\bbkp\b|\bsave\b|archive"
)
_NO_ZERO = r"(?<!\b0 )(?!\s*[:=]?\s*0\b)"
_FAILURE = re.compile(
    r"exiting with failure status|cannot (?:open|stat|write|read|create|access|mkdir|change)"
    r"|\bcannot\b|can't|no space left|permission denied|\berrors?\b"
    + _NO_ZERO
    + r"|\bfailed\b"
    + _NO_ZERO
    + r"|\bfailure\b|\bfatal\b|\baborted\b|\babort\b"
    r"|not found|unable to|input/output error|premature end|unexpected eof"
    r"|\bechec\b|\bechoue|\berreurs?\b" + _NO_ZERO + r"|impossible|fehler|fehlgeschlagen"
    r"|\bko\b|status\s*:\s*(?:fail|ko|error|echec|nok)"
)
_WARNING = re.compile(
    r"file changed as we read it|\bwarning\b|\bwarnings\b"
    + _NO_ZERO
    + r"|avertissement|file removed before we read it|socket ignored"
)
_SUCCESS = re.compile(
    r"\bsuccess(?:ful(?:ly)?)?\b|\bsucceeded\b|\bdone\b|\bcompleted?\b|\bfinished\b"
    r"|\bok\b|\d+ blocks\b|\btermine(?:e)?\b|\breussie?\b|\bsucces\b|erfolgreich"
    r"|speedup is|total size is|\bsent \d[\d,.]* bytes"
)
_BENIGN = re.compile(
    r"^(?:tar: )?removing leading [`'\"]?/['\"]? from (?:member names|hard link targets)"
    r"|^\s*$"
)
_STATUS_WORDS: tuple[tuple[re.Pattern[str], BackupResult], ...] = (
    (
        re.compile(
            r"fail|error|\bko\b|\bnok\b|not ok|unsuccess|echec|echoue|erreur|fehler|abort"
            r"|crash|problem|critical"
        ),
        BackupResult.FAILED,
    ),
    (re.compile(r"cancel|annul|abgebrochen"), BackupResult.CANCELLED),
    (re.compile(r"incomplet|partial|partiel|unvollst"), BackupResult.INCOMPLETE),
    (re.compile(r"warn|avertissement"), BackupResult.WARNING),
    (
        re.compile(r"succe|\bok\b|done|reussi|termine|complete|erfolgreich|good"),
        BackupResult.SUCCESS,
    ),
)


def _is_cron(env: Envelope) -> bool:
    headers = env.headers
    return bool(
        _CRON_SUBJECT.match(env.subject)
        or "x-cron-env" in headers
        or re.search(r"cron daemon", fold(env.sender_name or "") + fold(headers.get("from", "")))
    )


def _status_result(raw: str) -> BackupResult | None:
    folded = fold(raw)
    for pattern, result in _STATUS_WORDS:
        if pattern.search(folded):
            return result
    return None


def _output_result(text: str) -> BackupResult | None:
    """Classify raw job output: failure lines win, benign-only output is success,
    unrecognised output deserves a look (warning)."""
    folded = fold(text)
    if _FAILURE.search(folded):
        return BackupResult.FAILED
    if _WARNING.search(folded):
        return BackupResult.WARNING
    if _SUCCESS.search(folded):
        return BackupResult.SUCCESS
    lines = [ln for ln in folded.split("\n") if ln.strip()]
    if lines and all(_BENIGN.search(ln.strip()) for ln in lines):
        return BackupResult.SUCCESS
    return BackupResult.WARNING if lines else None


def _host(env: Envelope, cron_host: str | None) -> str | None:
    raw = field(env.text, "hostname", "host", "server", "serveur", "machine", "nom d'hote")
    if raw and looks_like_host(raw.split()[0]):
        return short_host(raw.split()[0])
    if cron_host and looks_like_host(cron_host):
        return short_host(cron_host)
    if env.sender_domain:
        local = (env.sender or "").split("@", 1)[0]
        if local in ("root", "backup", "cron", "admin", "sauvegarde", "bkp", "operator"):
            return short_host(env.sender_domain)
    return None


def _product(text: str) -> str:
    folded = fold(text)
    if re.search(r"\bcpio\b", folded):
        return "cpio"
    if re.search(r"\btar\b|\.tar\b|\.tgz\b|\.tar\.", folded):
        return "tar"
    return ""


def parse(env: Envelope) -> list[AlertEvent] | None:
    """One event per cron mail or backup status mail, or None when it is neither."""
    cron = _is_cron(env)
    subject_match = _CRON_SUBJECT.match(env.subject)
    status_line = field(env.text, "status", "statut", "etat", "result", "resultat")
    status_result = _status_result(status_line) if status_line else None
    topic = fold(f"{env.subject}\n{env.text[:20000]}")
    backup_topic = bool(_BACKUP_WORDS.search(topic))
    status_mail = status_result is not None and (
        backup_topic or field(env.text, "hostname") is not None
    )
    if not (cron or status_mail):
        return None

    command = subject_match.group("cmd").strip() if subject_match else ""
    host = _host(env, subject_match.group("host") if subject_match else None)
    product = _product(f"{command}\n{env.subject}\n{env.text}") or ("cron" if cron else "tar")

    if cron and not backup_topic and not status_mail:
        return [
            AlertEvent(
                family=Family.UNKNOWN,
                status=Status.INFO,
                host=host,
                check="unknown",
                target=None,
                severity=Severity.INFO,
                backup_result=None,
                product="cron",
                summary=one_line(f"cron output of {command or env.subject}"),
                extra={"command": command} if command else {},
            )
        ]

    body_without_status = re.sub(
        r"(?im)^[ \t]*(?:status|statut|etat|result|resultat)[ \t]*:.*$", "", env.text
    )
    result = worst(
        [
            status_result,
            _output_result(body_without_status) if cron else None,
            BackupResult.FAILED
            if not cron and _FAILURE.search(fold(body_without_status))
            else None,
        ]
    )
    if result is None:
        result = BackupResult.WARNING
    when = field(env.text, "end date", "end", "date de fin", "fin", "date")
    extra: dict[str, str] = {}
    if command:
        extra["command"] = command
    if status_line:
        extra["status_line"] = status_line
    failure_line = next(
        (ln.strip() for ln in env.text.split("\n") if _FAILURE.search(fold(ln))), ""
    )
    return [
        backup_event(
            result,
            host=host,
            target=None,
            product=product,
            summary=one_line(f"{product} backup on {host or '?'}: {result.value}. {failure_line}"),
            occurred_at=parse_loose(when) if when else None,
            extra=extra,
        )
    ]
