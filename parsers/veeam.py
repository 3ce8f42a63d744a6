"""Veeam Backup & Replication / Veeam Agent job reports.

Subject ``[Success|Warning|Failed] <job or host> ...`` (often RFC 2047 base64, decoded by
``mime``); the body names the job and the per-object counts. The bracketed word is the
result unless the counts say worse (failure words win).
"""

from __future__ import annotations

import re

from parsers.backup import backup_event, worst
from parsers.event import AlertEvent, BackupResult
from parsers.hosts import looks_like_host, short_host
from parsers.mime import Envelope
from parsers.textutil import field, fold, one_line

name = "veeam"
PRODUCT = "veeam"

_SUBJECT_RE = re.compile(
    r"^\s*\[\s*(?P<res>success|succeeded|warning|warnings|failed|failure|error|succes"
    r"|reussite|avertissement|echec|erfolgreich|warnung|fehler|fehlgeschlagen)\s*\]\s*"
    r"(?P<rest>.*)$"
)
_RESULTS: dict[str, BackupResult] = {
    "success": BackupResult.SUCCESS,
    "succeeded": BackupResult.SUCCESS,
    "succes": BackupResult.SUCCESS,
    "reussite": BackupResult.SUCCESS,
    "erfolgreich": BackupResult.SUCCESS,
    "warning": BackupResult.WARNING,
    "warnings": BackupResult.WARNING,
    "avertissement": BackupResult.WARNING,
    "warnung": BackupResult.WARNING,
    "failed": BackupResult.FAILED,
    "failure": BackupResult.FAILED,
    "error": BackupResult.FAILED,
    "echec": BackupResult.FAILED,
    "fehler": BackupResult.FAILED,
    "fehlgeschlagen": BackupResult.FAILED,
}
_VEEAM_HINT = re.compile(
    r"veeam|\bjob\b|\bvms?\b|machines?|backup|replica|agent|\bcopy\b|sauvegarde|tache"
)
_COUNTS = re.compile(r"\b(success|warning|warnings|error|errors|failed)\s*:?\s*(\d+)")
_PAREN = re.compile(r"\(([^()]*)\)")


def _counts_result(text: str) -> BackupResult | None:
    counts: dict[str, int] = {}
    for word, number in _COUNTS.findall(fold(text)):
        key = {"warnings": "warning", "errors": "error", "failed": "error"}.get(word, word)
        counts.setdefault(key, int(number))
    if counts.get("error", 0) > 0:
        return BackupResult.FAILED
    if counts.get("warning", 0) > 0:
        return BackupResult.WARNING
    return None


def _job_and_host(env: Envelope, rest: str) -> tuple[str | None, str | None]:
    job = field(
        env.text,
        "job",
        "job name",
        "backup job",
        "nom de la tache",
        "nom du job",
        "tache",
        "jobname",
    )
    host_raw = field(
        env.text, "server", "host", "hostname", "computer", "serveur", "ordinateur", "machine"
    )
    subject_job = _PAREN.split(rest, maxsplit=1)[0].strip(" -:") if rest else ""
    if not job and subject_job:
        job = subject_job
    host = None
    if host_raw and looks_like_host(host_raw.split()[0]):
        host = short_host(host_raw.split()[0])
    if host is None:
        for inner in _PAREN.findall(rest or ""):
            inner = inner.strip()
            if looks_like_host(inner) and not re.search(
                r"\d+\s*(?:vms?|machines?|objects?)", inner, re.I
            ):
                host = short_host(inner)
                break
    if host is None and job and " - " in job:  # Veeam Agent: "HOST - Job name"
        head = job.split(" - ", 1)[0].strip()
        if looks_like_host(head):
            host = short_host(head)
    return (job.strip() or None) if job else None, host


def parse(env: Envelope) -> list[AlertEvent] | None:
    """One backup event per Veeam job report, or None when it is not one."""
    folded_subject = fold(env.subject)
    match = _SUBJECT_RE.match(folded_subject)
    if match is None:
        return None
    everything = fold(f"{env.subject}\n{env.sender or ''}\n{env.text[:20000]}")
    if not _VEEAM_HINT.search(everything):
        return None
    start = match.start("rest")
    rest = env.subject[start:].strip()
    result = worst([_RESULTS[match.group("res")], _counts_result(env.text)])
    if result is None:
        return None
    job, host = _job_and_host(env, rest)
    return [
        backup_event(
            result,
            host=host,
            target=job,
            product=PRODUCT,
            summary=one_line(f"Veeam {job or rest}: {result.value}"),
            extra={"subject_detail": one_line(rest, 200)} if rest else None,
        )
    ]
