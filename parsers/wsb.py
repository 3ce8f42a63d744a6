"""Windows Server Backup results mailed by scheduled scripts (English or French).

Subjects like ``Successful Backup on <HOST>``, ``Failed Backup on <HOST>``,
``<client> Sauvegarde OK <host>``, ``sauvegarde echouee de <host>`` (accents stripped,
stray quotes), with an HTML table (result code, error message...) or event text. The
result is the worst signal found: subject word, result code (0 or HRESULT in decimal or
hex), event ID (4 ok, 7 incomplete, 5/9/19/49 failed, 51/146 warning), error message.
A report whose *script* failed is not a backup result: it becomes an ``unknown`` event.
"""

from __future__ import annotations

import re

from parsers.backup import backup_event, worst
from parsers.dates import parse_loose
from parsers.event import AlertEvent, BackupResult, Family, Severity, Status
from parsers.hosts import looks_like_host, short_host
from parsers.mime import Envelope
from parsers.textutil import field, fold, one_line

name = "wsb"
PRODUCT = "wsb"

_BODY_MARK = re.compile(
    r"windows server backup|\bwbadmin\b|microsoft-windows-backup|windowsserverbackup"
    r"|sauvegarde windows server|get-wbsummary|get-wbjob|\bwsb\b"
)
_WORDS: tuple[tuple[str, BackupResult], ...] = (
    (
        r"completed with (?:following )?errors|terminee? avec (?:des )?erreurs"
        r"|avec (?:des )?erreurs|incomplete?|partial|partielle",
        BackupResult.INCOMPLETE,
    ),
    (r"with warnings?|avec (?:des )?avertissements?|avertissement|warnings?", BackupResult.WARNING),
    (r"cancel+ed|annulee?", BackupResult.CANCELLED),
    (r"failed|failure|error|ko|echouee?s?|en echec|echec|erreur|fail", BackupResult.FAILED),
    (
        r"successful(?:ly)?|success|succeeded|ok|reussie?|terminee?|succes|reussite|completed",
        BackupResult.SUCCESS,
    ),
)
_RESULT_WORD = "|".join(pattern for pattern, _ in _WORDS)
_HOST = r"(?P<host>[a-z0-9][\w.-]*)"
_SUBJECT_RES = (
    re.compile(
        r"\b(?P<res>" + _RESULT_WORD + r")\s+backup\b(?:\s+(?:on|for|from|of|-)\s*" + _HOST + r")?"
    ),
    re.compile(
        r"\bbackup\s+(?:of\s+[\w.-]+\s+)?(?P<res>"
        + _RESULT_WORD
        + r")\b(?:\s+(?:on|for|from|-)\s*"
        + _HOST
        + r")?"
    ),
    re.compile(
        r"\bsauvegarde\s+(?P<res>"
        + _RESULT_WORD
        + r")\b\s*(?:de|du|sur|pour|-|:)?\s*"
        + _HOST
        + r"?"
    ),
    re.compile(
        r"\b(?P<res>echec|erreur|succes|reussite)\s+(?:de\s+la\s+|du\s+)?sauvegarde\b"
        r"\s*(?:de|du|sur|pour|-|:)?\s*" + _HOST + r"?"
    ),
    re.compile(
        r"\bsauvegarde\s+(?:de|du|sur)\s+" + _HOST + r"\s*:?\s*(?P<res>" + _RESULT_WORD + r")\b"
    ),
)
_SCRIPT_FAILURE = re.compile(
    r"script (?:itself )?(?:has )?failed|script error|error in (?:the )?script"
    r"|script execution failed|could not (?:run|execute) (?:the )?script"
    r"|failed to run (?:the )?script|(?:le )?script (?:lui-meme )?a echoue|echec du script"
    r"|erreur (?:du|de|dans le) script|unable to (?:query|read|get) (?:the )?"
    r"(?:backup|wbadmin|event)|is not recognized as the name of a cmdlet"
    r"|n'est pas reconnu comme nom d'applet de commande"
)
_EVENT_IDS: dict[int, BackupResult] = {
    4: BackupResult.SUCCESS,
    7: BackupResult.INCOMPLETE,
    5: BackupResult.FAILED,
    9: BackupResult.FAILED,
    19: BackupResult.FAILED,
    49: BackupResult.FAILED,
    51: BackupResult.WARNING,
    146: BackupResult.WARNING,
}
_EVENT_ID = re.compile(
    r"(?:\bevent ?id|\bid (?:de l'|d')evenement|\bereignis-id|^[ \t]*id)[ \t]*[:=#\t][ \t]*"
    r"(\d{1,5})\b",
    re.MULTILINE,
)
_PHRASES: tuple[tuple[re.Pattern[str], BackupResult], ...] = (
    (
        re.compile(r"has completed successfully|s'est terminee? avec succes|a reussi"),
        BackupResult.SUCCESS,
    ),
    (
        re.compile(r"(?:has )?completed with (?:following )?error|terminee? avec (?:des )?erreurs"),
        BackupResult.INCOMPLETE,
    ),
    (
        re.compile(r"completed with warnings|terminee? avec (?:des )?avertissements"),
        BackupResult.WARNING,
    ),
    (
        re.compile(
            r"backup operation (?:that started at .{0,60})?has failed|(?:operation de )?"
            r"sauvegarde .{0,60}a echoue"
        ),
        BackupResult.FAILED,
    ),
    (re.compile(r"has been cancel+ed|a ete annulee?"), BackupResult.CANCELLED),
)
_EMPTY_VALUES = frozenset(
    {
        "",
        "-",
        "none",
        "n/a",
        "na",
        "aucun",
        "aucune",
        "null",
        "0",
        "no error",
        "pas d'erreur",
        "(none)",
    }
)


def _word_result(text: str) -> BackupResult | None:
    folded = fold(text).strip()
    for pattern, result in _WORDS:
        if re.search(r"\b(?:" + pattern + r")\b", folded):
            return result
    return None


def _dequote(subject: str) -> str:
    text = re.sub(r"[\"«»“”]", " ", subject)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
    return " ".join(text.split())


def _code_result(raw: str | None) -> BackupResult | None:
    if not raw:
        return None
    token = raw.strip().split()[0] if raw.strip() else ""
    try:
        code = int(token, 16) if token.lower().startswith("0x") else int(token)
    except ValueError:
        return _word_result(raw)
    return BackupResult.SUCCESS if code == 0 else BackupResult.FAILED


def _body_results(text: str) -> list[BackupResult | None]:
    folded = fold(text)
    code = field(
        text,
        "backup result",
        "result",
        "resultat",
        "resultat de la sauvegarde",
        "hresult",
        "error code",
        "code d'erreur",
        "code erreur",
        "last backup result",
        "lastbackupresulthr",
        "lastbackupresult",
        "return code",
        "code retour",
    )
    status = field(
        text, "status", "statut", "etat", "state", "backup status", "etat de la sauvegarde"
    )
    event_ids = _EVENT_ID.findall(folded)
    message = field(
        text,
        "error message",
        "message d'erreur",
        "error",
        "erreur",
        "detailed message",
        "lastbackupresultdetailedhr",
        "error description",
    )
    results: list[BackupResult | None] = [_code_result(code), _word_result(status or "")]
    results.extend(_EVENT_IDS.get(int(found)) for found in event_ids[:20])
    if message and fold(message).strip().rstrip(".") not in _EMPTY_VALUES:
        message_result = _word_result(message)
        if message_result is not BackupResult.SUCCESS:
            code_result = _code_result(code)
            results.append(
                BackupResult.WARNING if code_result is BackupResult.SUCCESS else BackupResult.FAILED
            )
    results.extend(result for pattern, result in _PHRASES if pattern.search(folded))
    return results


def _host(env: Envelope, subject_host: str | None) -> str | None:
    if subject_host and looks_like_host(subject_host) and not subject_host.isdigit():
        return short_host(subject_host)
    report = re.search(
        r"(?:report for|rapport (?:pour|de|du)|sauvegarde (?:de|du|sur))"
        r"\s+([A-Za-z0-9][\w.-]*)",
        env.text,
        re.IGNORECASE,
    )
    if report and looks_like_host(report.group(1)):
        return short_host(report.group(1))
    raw = field(
        env.text,
        "server",
        "computer",
        "computer name",
        "machine",
        "hostname",
        "host",
        "serveur",
        "nom du serveur",
        "ordinateur",
        "nom de l'ordinateur",
    )
    if raw and looks_like_host(raw.split()[0]):
        return short_host(raw.split()[0])
    return _host_before_keyword(env.subject)


def _host_before_keyword(subject: str) -> str | None:
    """``SRV-X - Backup failed`` / ``SRV-X : sauvegarde OK``: a server-like token (with a
    digit or a hyphen, so a bare client name is not taken) just before the keyword."""
    match = re.search(
        r"([A-Za-z0-9][\w.-]*)\s*[-:|]?\s*(?:windows server )?(?:backup|sauvegarde)\b",
        _dequote(subject),
        re.IGNORECASE,
    )
    if match and re.search(r"[\d-]", match.group(1)) and looks_like_host(match.group(1)):
        return short_host(match.group(1))
    return None


def parse(env: Envelope) -> list[AlertEvent] | None:
    """One backup event per WSB report (or one unknown event if its script failed)."""
    subject = _dequote(env.subject)
    folded_subject = fold(subject)
    subject_match = None
    for pattern in _SUBJECT_RES:
        subject_match = pattern.search(folded_subject)
        if subject_match:
            break
    body = fold(env.text)
    marked = bool(_BODY_MARK.search(f"{folded_subject}\n{body}"))
    if subject_match is None and not marked:
        return None

    subject_host = None
    if subject_match and subject_match.group("host"):
        start, end = subject_match.span("host")
        subject_host = subject[start:end].strip(".-")
    host = _host(env, subject_host)

    if _SCRIPT_FAILURE.search(body) or _SCRIPT_FAILURE.search(folded_subject):
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
                summary=one_line(f"WSB report script failed: {env.subject}"),
                extra={"note": "the reporting script failed; this is not a backup result"},
            )
        ]

    body_results = _body_results(env.text)
    if not (marked or host or any(body_results)):
        return None  # "Tips for a successful backup" names no server and reports nothing
    results: list[BackupResult | None] = list(body_results)
    if subject_match:
        results.append(_word_result(subject_match.group("res")))
    result = worst(results)
    if result is None:
        return None
    when = field(
        env.text, "end time", "end", "fin", "heure de fin", "backup end", "date de fin", "endtime"
    )
    return [
        backup_event(
            result,
            host=host,
            target=None,
            product=PRODUCT,
            summary=one_line(f"Windows Server Backup on {host or '?'}: {result.value}"),
            occurred_at=parse_loose(when) if when else None,
        )
    ]
