"""Unwrap forwarded and replied-to alerts.

Technicians and clients forward alerts ("Fwd:", "TR:", "Fw:", "RE:"): the original's
subject, sender and body sit under a quoted header block in the text, or in an attached
``message/rfc822`` part. This module rebuilds envelopes for those originals so the
vendor parsers see the mail as it was first sent.
"""

from __future__ import annotations

import re
from dataclasses import replace

from parsers.dates import parse_loose, parse_rfc2822
from parsers.mime import Envelope, decode_header_value, parse_sender
from parsers.textutil import has_subject_prefix, strip_subject_prefixes

MAX_UNWRAP = 3

_MARKER = re.compile(
    r"^[ \t>]*(?:-{2,}|_{2,}|={2,})?[ \t]*(?:forwarded message|original message"
    r"|message transf[eé]r[eé]|message d'origine|message original|weitergeleitete nachricht"
    r"|urspr[uü]ngliche nachricht|mensaje reenviado|mensaje original|messaggio inoltrato"
    r"|begin forwarded message:?|d[ée]but du message (?:r[ée]exp[ée]di[ée]|transf[ée]r[ée]) ?:?)"
    r"[ \t]*(?:-{2,}|_{2,}|={2,})?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_HEADER_KEY = (
    r"from|de|von|sent|envoy[ée]|gesendet|date|datum|to|[àa]|an|cc|bcc|subject|objet"
    r"|betreff|reply-to|r[ée]pondre [àa]|importance|priorit[ée]"
)
_HEADER_LINE = re.compile(r"^[ \t]*\**(" + _HEADER_KEY + r")\**[ \t]*:[ \t]*(.*)$", re.I)
_FROM_KEYS = ("from", "de", "von")
_SUBJECT_KEYS = ("subject", "objet", "betreff")
_DATE_KEYS = ("sent", "envoye", "envoyé", "gesendet", "date", "datum")


def _unquote(lines: list[str]) -> list[str]:
    """Drop the ``> `` quoting of replies when most body lines carry it."""
    non_blank = [line for line in lines if line.strip()]
    if non_blank and sum(line.lstrip().startswith(">") for line in non_blank) * 2 >= len(non_blank):
        return [re.sub(r"^[ \t]*(?:>[ \t]?)+", "", line) for line in lines]
    return lines


def _header_block(lines: list[str], start: int) -> tuple[dict[str, str], int] | None:
    """Parse a quoted header block beginning at or shortly after ``start``.

    Returns its fields and the index of the first body line, or None when there is no
    block holding both a sender and a subject.
    """
    index = start
    while index < len(lines) and not lines[index].strip():
        index += 1
    fields: dict[str, str] = {}
    last_key: str | None = None
    end = index
    while end < len(lines):
        line = lines[end]
        match = _HEADER_LINE.match(line)
        if match:
            key = match.group(1).lower()
            fields.setdefault(key, match.group(2).strip())
            last_key = key
        elif not line.strip():
            if any(k in fields for k in _SUBJECT_KEYS):
                break  # block complete
            # Outlook's HTML puts blank lines between header lines: look ahead.
            following = next((ln for ln in lines[end + 1 : end + 3] if ln.strip()), "")
            if not _HEADER_LINE.match(following):
                break
        elif last_key in _SUBJECT_KEYS and end > index and not fields.get(last_key):
            fields[last_key] = line.strip()
        else:
            break
        end += 1
    has_from = any(k in fields for k in _FROM_KEYS)
    has_subject = any(k in fields for k in _SUBJECT_KEYS)
    if not (has_from and has_subject):
        return None
    return fields, end


def _find_block(lines: list[str], begin: int) -> tuple[dict[str, str], int] | None:
    for index in range(begin, min(len(lines), begin + 400)):
        match = _HEADER_LINE.match(lines[index])
        if match and match.group(1).lower() in (*_FROM_KEYS, *_SUBJECT_KEYS):
            block = _header_block(lines, index)
            if block:
                return block
    return None


def _unwrap_inline(env: Envelope) -> Envelope | None:
    text = env.text
    marker = _MARKER.search(text)
    if marker is None and not has_subject_prefix(env.subject):
        return None
    offset = marker.end() if marker else 0
    lines = _unquote(text[offset:].split("\n"))
    block = _find_block(lines, 0)
    if block is None:
        return None
    fields, body_start = block
    subject = next((fields[k] for k in _SUBJECT_KEYS if k in fields), "")
    raw_from = next((fields[k] for k in _FROM_KEYS if k in fields), "")
    raw_date = next((fields[k] for k in _DATE_KEYS if k in fields), "")
    sender, sender_name = parse_sender(raw_from) if raw_from else (None, None)
    if sender is None and sender_name is None:
        sender, sender_name = env.sender, env.sender_name
    body = "\n".join(_unquote(lines[body_start:])).strip("\n")
    return replace(
        env,
        subject=strip_subject_prefixes(decode_header_value(subject)) or env.subject,
        sender=sender,
        sender_name=sender_name,
        sender_domain=sender.rsplit("@", 1)[1] if sender and "@" in sender else None,
        date=parse_rfc2822(raw_date) or parse_loose(raw_date) or env.date,
        text=body,
        html=None,
    )


def is_forward(env: Envelope) -> bool:
    """True when the message presents itself as a forward or reply."""
    return has_subject_prefix(env.subject) or bool(_MARKER.search(env.text))


def candidate_views(env: Envelope, embedded: tuple[Envelope, ...] = ()) -> list[Envelope]:
    """Envelopes to offer the parsers, most likely original first.

    A plain alert yields itself (then any attachments); a forward yields the unwrapped
    original(s) innermost-first, then attached originals, then the outer mail.
    """
    cleaned = replace(env, subject=strip_subject_prefixes(env.subject))
    inner_views: list[Envelope] = []
    current = env
    for _ in range(MAX_UNWRAP):
        unwrapped = _unwrap_inline(current)
        if unwrapped is None:
            break
        inner_views.append(unwrapped)
        current = unwrapped
    attached = [replace(e, subject=strip_subject_prefixes(e.subject)) for e in embedded]
    if is_forward(env) or inner_views:
        return [*reversed(inner_views), *attached, cleaned]
    return [cleaned, *attached]
