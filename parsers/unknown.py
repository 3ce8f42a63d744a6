"""Last resort: a message no vendor parser recognised still yields one event.

It lands in the technicians' triage queue (``family=unknown``, ``status=info``) with its
subject as summary; the host is filled only when the text names one plainly.
"""

from __future__ import annotations

from parsers.event import AlertEvent, Family, Severity, Status
from parsers.hosts import looks_like_host, short_host
from parsers.mime import Envelope
from parsers.textutil import field, one_line

name = "unknown"
PRODUCT = "unknown"


def _host(env: Envelope) -> str | None:
    raw = field(
        env.text,
        "host",
        "hostname",
        "host name",
        "server",
        "server name",
        "computer",
        "computer name",
        "serveur",
        "nom du serveur",
        "ordinateur",
        "machine",
    )
    if raw and looks_like_host(raw.split()[0]):
        return short_host(raw.split()[0])
    return None


def unknown_event(env: Envelope | None, note: str = "") -> AlertEvent:
    """The triage event for ``env`` (works on an empty envelope)."""
    subject = env.subject if env else ""
    extra = {"sender": env.sender} if env and env.sender else {}
    if note:
        extra["note"] = note
    return AlertEvent(
        family=Family.UNKNOWN,
        status=Status.INFO,
        host=_host(env) if env else None,
        check="unknown",
        target=None,
        severity=Severity.INFO,
        backup_result=None,
        product=PRODUCT,
        summary=one_line(subject or (env.text[:200] if env else "") or "(empty message)"),
        extra=extra,
    )


def parse(env: Envelope) -> list[AlertEvent] | None:
    """Always claims the message."""
    return [unknown_event(env)]
