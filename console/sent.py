"""A communication the desk sent, as staff read it: the mail's headers and its text.

The row keeps the whole message as it left (``Communication.raw``, RFC 5322 for mail); the
case page and ``/api/comms/{id}`` show it from there, so what is read is what was sent, not
a re-rendering. Text only: the plain part, or the HTML part reduced to text when a mail has
no plain part; the template escapes it. SMS and calls have no headers: their text is the
message read or sent.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from email import message_from_string
from email import policy as email_policy

from models.tables import Communication
from parsers.mime import read_envelope

# The headers a reader wants, in this order (others stay in the raw message).
SHOWN_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID")
MAX_TEXT = 64 * 1024
_TAG = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(p|div|li|tr|h[1-6])\s*>|<br\s*/?>", re.IGNORECASE)
_DROP = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class SentView:
    headers: list[tuple[str, str]]  # (RFC name, value), decoded
    text: str  # shown in <pre>, autoescaped
    truncated: bool


def html_to_text(markup: str) -> str:
    """Readable text of an HTML body: blocks end lines, tags go, entities are decoded."""
    markup = _DROP.sub("", markup)
    markup = _BLOCK_END.sub("\n", markup)
    text = html.unescape(_TAG.sub("", markup))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _mail_headers(raw: str) -> list[tuple[str, str]]:
    try:
        msg = message_from_string(raw, policy=email_policy.default)
    except Exception:
        return []
    shown = []
    for name in SHOWN_HEADERS:
        try:
            value = msg.get(name)
        except Exception:  # a malformed header: shown as is rather than lost
            value = None
        if value is not None:
            shown.append((name, " ".join(str(value).split())))
    return shown


def sent_view(row: Communication) -> SentView:
    """Headers and text of one communication (what left the desk, or would have)."""
    if row.channel == "email" and row.raw:
        env = read_envelope(row.raw.encode("utf-8", "surrogateescape"))
        text = env.text or (html_to_text(env.html) if env.html else "") or row.body
        headers = _mail_headers(row.raw)
    else:
        text = row.body
        headers = [("To", row.recipient)] if row.recipient else []
        if row.channel == "email" and row.subject:
            headers.append(("Subject", row.subject))
    return SentView(headers, text[:MAX_TEXT], len(text) > MAX_TEXT)


def sent_dict(row: Communication) -> dict[str, object]:
    view = sent_view(row)
    return {"headers": dict(view.headers), "text": view.text, "truncated": view.truncated}
