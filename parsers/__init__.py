"""Parsers: pure functions from raw alert e-mail bytes to normalized ``AlertEvent``s.

``parse_message`` never raises and always returns at least one event: a parser that
crashes is logged and skipped, and a message nobody recognises becomes one ``unknown``
event for the triage queue. No database, network or clock is touched here.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace

from parsers.event import AlertEvent, BackupResult, Family, Severity, Status
from parsers.forward import candidate_views
from parsers.mime import Envelope, read_envelope, read_envelopes
from parsers.textutil import head_tail

__all__ = [
    "AlertEvent",
    "BackupResult",
    "Envelope",
    "Family",
    "ParsedMessage",
    "Severity",
    "Status",
    "parse_file",
    "parse_message",
    "read_envelope",
]

log = logging.getLogger(__name__)

MAX_SUBJECT_SCAN = 2_000
MAX_TEXT_SCAN = 400_000


@dataclass(frozen=True)
class ParsedMessage:
    """A message's envelope, its events (at least one) and the parser that produced them."""

    envelope: Envelope
    events: tuple[AlertEvent, ...]
    parser: str


def _scan_view(env: Envelope) -> Envelope:
    """Bound what parsers scan so huge bodies stay fast (head and tail kept)."""
    if len(env.subject) <= MAX_SUBJECT_SCAN and len(env.text) <= MAX_TEXT_SCAN:
        return env
    return replace(
        env, subject=env.subject[:MAX_SUBJECT_SCAN], text=head_tail(env.text, MAX_TEXT_SCAN)
    )


def _run(parser: object, view: Envelope) -> list[AlertEvent] | None:
    name = getattr(parser, "name", repr(parser))
    try:
        events = parser.parse(view)  # type: ignore[attr-defined]
    except Exception:
        log.warning("parser %s failed on message %s", name, view.message_id, exc_info=True)
        return None
    if not events:
        return None
    return [e for e in events if isinstance(e, AlertEvent)] or None


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse raw message bytes into events; never raises, always >= 1 event."""
    from parsers.registry import FALLBACK, PARSERS  # late: registry imports the parsers
    from parsers.unknown import unknown_event

    try:
        envelope, embedded = read_envelopes(raw)
    except Exception:  # read_envelopes is total, but stay safe
        log.warning("could not read message envelope", exc_info=True)
        envelope, embedded = Envelope(), ()
    try:
        views = [_scan_view(v) for v in candidate_views(envelope, embedded)]
    except Exception:
        log.warning("could not unwrap message %s", envelope.message_id, exc_info=True)
        views = [_scan_view(envelope)]

    for view in views:
        for parser in PARSERS:
            events = _run(parser, view)
            if events:
                return ParsedMessage(envelope, tuple(events), parser.name)
    events = _run(FALLBACK, views[0] if views else envelope)
    if events:
        return ParsedMessage(envelope, tuple(events), FALLBACK.name)
    try:
        return ParsedMessage(envelope, (unknown_event(None, "fallback parser failed"),), "unknown")
    except Exception:  # pragma: no cover - unknown_event(None) has no failure path
        log.error("even the fallback event failed", exc_info=True)
        raise


def parse_file(path: str | os.PathLike[str]) -> ParsedMessage:
    """``parse_message`` of a ``.eml`` file (reading the file may raise OSError)."""
    with open(path, "rb") as handle:
        return parse_message(handle.read())
