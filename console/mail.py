"""A stored alert message as the console shows it: text as text, HTML sanitized, never run."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from console.sanitize import sanitize_html
from models.tables import RawMessage
from parsers.mime import decode_bytes, read_envelope

MAX_SHOWN_BYTES = 256 * 1024


@dataclass(frozen=True)
class MessageView:
    subject: str
    sender: str
    date: str
    text: str  # rendered inside <pre>, autoescaped
    html: Markup | None  # sanitized fragment, or None when the mail has no HTML part
    source: str  # the raw message as text (first MAX_SHOWN_BYTES), autoescaped
    truncated: bool
    channel: str


def message_view(raw: RawMessage) -> MessageView:
    data = bytes(raw.data or b"")
    shown = data[:MAX_SHOWN_BYTES]
    source = decode_bytes(shown)
    if raw.channel != "smtp":  # webhook / alertmanager: the JSON body is the message
        return MessageView(
            "", raw.mail_from, "", source, None, source, len(data) > len(shown), raw.channel
        )
    env = read_envelope(data)
    return MessageView(
        subject=env.subject,
        sender=env.sender or raw.mail_from,
        date=env.date.isoformat() if env.date else "",
        text=env.text,
        html=Markup(sanitize_html(env.html)) if env.html else None,
        source=source,
        truncated=len(data) > len(shown),
        channel=raw.channel,
    )
