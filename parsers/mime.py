"""Turn raw RFC 5322 bytes into an ``Envelope``: decoded headers and the best text body.

Alert mails are messy: RFC 2047 subjects, quoted-printable and base64 bodies, HTML-only
reports, undeclared 8-bit latin-1, wrong declared charsets, broken boundaries. Everything
here degrades instead of raising, because an alert that cannot be read must still reach
the triage queue.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.message
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.utils import getaddresses
from typing import Any

from parsers.dates import parse_rfc2822
from parsers.frozendict import FrozenDict
from parsers.htmltext import html_to_text

MAX_DEPTH = 64
MAX_PARTS = 500
MAX_EMBEDDED_DEPTH = 3
MAX_FALLBACK_BODY = 5_000_000

_WESTERN_SINGLE_BYTE = frozenset({"ascii", "latin_1", "iso8859_15", "cp1252", "iso8859_1"})


@dataclass(frozen=True)
class Envelope:
    """What parsers read from a message; every string already decoded."""

    message_id: str | None = None
    sender: str | None = None
    sender_name: str | None = None
    sender_domain: str | None = None
    subject: str = ""
    date: datetime | None = None
    text: str = ""
    html: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        if not isinstance(self.headers, FrozenDict):
            object.__setattr__(self, "headers", FrozenDict(self.headers))


# ---------------------------------------------------------------- byte and header decoding


def _codec_name(charset: str | None) -> str | None:
    if not charset:
        return None
    name = str(charset).strip().strip("\"'").lower()
    name = name.split("*", 1)[0]  # RFC 2231 language suffix
    if not name or name in ("unknown-8bit", "x-unknown", "unknown", "default", "8bit"):
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name.replace("-", "_")


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode with the declared charset, falling back to UTF-8, then cp1252, then latin-1.

    A body declared latin-1/cp1252/ascii that is valid UTF-8 is read as UTF-8: that
    mislabelling is common in scripts, and real latin-1 text is almost never valid UTF-8.
    """
    if not data:
        return ""
    codec = _codec_name(charset)
    if codec:
        if codec in _WESTERN_SINGLE_BYTE and not data.isascii():
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                pass
        try:
            return data.decode(codec)
        except Exception:  # any codec failure means "fall back"
            pass
    for fallback in ("utf-8", "cp1252"):
        try:
            return data.decode(fallback)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _surrogates_to_text(value: str) -> str:
    """Header strings from the parser carry undeclared 8-bit bytes as surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raw = value.encode("ascii", "surrogateescape") if value else b""
        try:
            return decode_bytes(raw)
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8", "replace")
    return value


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")


def _decode_word(encoding: str, payload: str) -> bytes | None:
    try:
        if encoding in "Bb":
            cleaned = re.sub(r"[^A-Za-z0-9+/=_-]", "", payload).rstrip("=")
            cleaned = cleaned.replace("-", "+").replace("_", "/")
            cleaned += "=" * (-len(cleaned) % 4)
            return base64.b64decode(cleaned)
        text = payload.replace("_", " ")
        out = bytearray()
        i = 0
        while i < len(text):
            char = text[i]
            if (
                char == "="
                and i + 2 < len(text)
                and re.fullmatch(r"[0-9A-Fa-f]{2}", text[i + 1 : i + 3])
            ):
                out.append(int(text[i + 1 : i + 3], 16))
                i += 3
                continue
            out.extend(char.encode("latin-1", "replace"))
            i += 1
        return bytes(out)
    except (binascii.Error, ValueError):
        return None


def decode_header_value(value: Any) -> str:
    """RFC 2047-decode and unfold one header value; tolerant of every malformation."""
    if value is None:
        return ""
    text = _surrogates_to_text(str(value))
    text = re.sub(r"\r?\n(?=[ \t])", "", text).replace("\r", "").replace("\n", " ")
    if "=?" not in text:
        return text.strip()
    pieces: list[str] = []
    pending: tuple[str, bytearray] | None = None
    position = 0

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            pieces.append(decode_bytes(bytes(pending[1]), pending[0]))
            pending = None

    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        decoded = _decode_word(match.group(2), match.group(3))
        if decoded is None:
            continue
        charset = match.group(1)
        if between.strip() or pending is None or pending[0].lower() != charset.lower():
            flush()
            if between.strip() or not pieces or position == 0:
                pieces.append(between)
            pending = (charset, bytearray(decoded))
        else:  # adjacent words of one charset: join bytes so split characters survive
            pending[1].extend(decoded)
        position = match.end()
    flush()
    pieces.append(text[position:])
    return "".join(pieces).strip()


# ---------------------------------------------------------------- addresses and ids

_ADDRESS_RE = re.compile(r"[\w.+'=-]+@[\w.-]+", re.UNICODE)
_MSGID_RE = re.compile(r"<[^<>\s]+>")


def parse_sender(raw_from: str) -> tuple[str | None, str | None]:
    """(bare lowercased address, decoded display name) of a From value."""
    unfolded = re.sub(r"\r?\n(?=[ \t])", "", _surrogates_to_text(raw_from))
    # Outlook quotes a forwarded sender as "Name [mailto:addr]".
    unfolded = re.sub(r"\[mailto:([^\]]+)\]", r"<\1>", unfolded)
    address: str | None = None
    name: str | None = None
    try:
        for display, addr in getaddresses([unfolded]):
            if "@" in addr:
                address, name = addr, display
                break
    except Exception:  # the stdlib address parser has had crash bugs
        address = None
    if address is None:
        match = _ADDRESS_RE.search(unfolded)
        if match:
            address = match.group(0)
            rest = (unfolded[: match.start()] + unfolded[match.end() :]).strip(" <>\"'()")
            name = rest or None
    if address is None:
        bare = unfolded.strip(" <>\"'")
        return None, (decode_header_value(bare) or None)
    display_name = decode_header_value(name or "").strip(" \"'") or None
    return address.strip().lower(), display_name


def _first_msgid(value: str | None) -> str | None:
    if not value:
        return None
    match = _MSGID_RE.search(value)
    return match.group(0) if match else (value.strip() or None)


# ---------------------------------------------------------------- message walking


def _part_bytes(part: email.message.Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # broken transfer encodings
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _part_text(part: email.message.Message) -> str:
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    text = decode_bytes(_part_bytes(part), charset)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _is_attachment(part: email.message.Message) -> bool:
    try:
        return part.get_content_disposition() == "attachment"
    except Exception:
        return False


def _content_type(part: email.message.Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "text/plain"


def _walk(
    msg: email.message.Message,
) -> tuple[list[str], list[str], list[email.message.Message]]:
    """Inline text/plain bodies, inline text/html bodies and embedded messages, in order,
    iteratively and with caps so hostile nesting cannot exhaust the stack.

    A delivery report (``multipart/report``, a bounce) returns no embedded messages: the
    returned original is not an alert sent to the desk."""
    is_report = _content_type(msg) == "multipart/report"
    plains: list[str] = []
    htmls: list[str] = []
    embedded: list[email.message.Message] = []
    stack: list[tuple[email.message.Message, int]] = [(msg, 0)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        ctype = _content_type(part)
        payload = part.get_payload()
        if ctype == "message/rfc822" or (
            ctype.startswith("message/") and isinstance(payload, list)
        ):
            if isinstance(payload, list) and not is_report and ctype == "message/rfc822":
                embedded.extend(p for p in payload if isinstance(p, email.message.Message))
            continue
        if isinstance(payload, list):
            if depth < MAX_DEPTH:
                children = [p for p in payload if isinstance(p, email.message.Message)]
                stack.extend((child, depth + 1) for child in reversed(children))
            continue
        if _is_attachment(part):
            continue
        if ctype == "text/html":
            htmls.append(_part_text(part))
        elif ctype.startswith("text/") and ctype not in (
            "text/calendar",
            "text/x-vcard",
            "text/vcard",
            "text/rtf",
        ):
            plains.append(_part_text(part))
    return plains, htmls, embedded


def _headers(msg: email.message.Message) -> dict[str, str]:
    found: dict[str, str] = {}
    try:
        items = list(msg.raw_items())
    except Exception:
        items = []
    for name, value in items:
        key = str(name).strip().lower()
        if key and key not in found:
            found[key] = decode_header_value(value)
    return found


def _raw_header(msg: email.message.Message, name: str) -> str | None:
    try:
        for key, value in msg.raw_items():
            if str(key).strip().lower() == name:
                return str(value)
    except Exception:
        return None
    return None


def _build(
    headers: Mapping[str, str], raw_from: str | None, text: str, html: str | None
) -> Envelope:
    sender, sender_name = parse_sender(raw_from) if raw_from else (None, None)
    domain = sender.rsplit("@", 1)[1] if sender and "@" in sender else None
    references = tuple(_MSGID_RE.findall(headers.get("references", "")))
    return Envelope(
        message_id=_first_msgid(headers.get("message-id")),
        sender=sender,
        sender_name=sender_name,
        sender_domain=domain or None,
        subject=headers.get("subject", ""),
        date=parse_rfc2822(headers.get("date")),
        text=text,
        html=html,
        in_reply_to=_first_msgid(headers.get("in-reply-to")),
        references=references,
        headers=headers,
    )


def _from_message(msg: email.message.Message, depth: int) -> tuple[Envelope, list[Envelope]]:
    headers = _headers(msg)
    plains, htmls, embedded_msgs = _walk(msg)
    html = "\n".join(htmls) if htmls else None
    text = "\n".join(p for p in plains if p.strip()).strip("\n")
    if not text.strip() and html:
        text = html_to_text(html)
    raw_from = _raw_header(msg, "from") or _raw_header(msg, "sender")
    envelope = _build(headers, raw_from, text, html)
    embedded: list[Envelope] = []
    if depth < MAX_EMBEDDED_DEPTH:
        for inner in embedded_msgs[:5]:
            inner_env, inner_embedded = _from_message(inner, depth + 1)
            embedded.append(inner_env)
            embedded.extend(inner_embedded)
    return envelope, embedded


_HEADER_LINE = re.compile(rb"^([!-9;-~]+)[ \t]*:[ \t]*(.*)$")


def _fallback(raw: bytes) -> Envelope:
    """Last resort when the stdlib parser gives up: split headers from body by hand."""
    split = re.search(rb"\r?\n\r?\n", raw)
    head, body = (raw[: split.start()], raw[split.end() :]) if split else (raw, b"")
    headers: dict[str, str] = {}
    last: str | None = None
    raw_values: dict[str, str] = {}
    for line in re.split(rb"\r?\n", head[:1_000_000]):
        if line[:1] in (b" ", b"\t") and last:
            raw_values[last] += " " + line.strip().decode("latin-1")
            continue
        match = _HEADER_LINE.match(line)
        if not match:
            last = None
            continue
        last = match.group(1).decode("ascii", "replace").lower()
        if last not in raw_values:
            raw_values[last] = decode_bytes(match.group(2))
        else:
            last = None
    for key, value in raw_values.items():
        headers[key] = decode_header_value(value)
    text = decode_bytes(body[:MAX_FALLBACK_BODY]).replace("\r\n", "\n").replace("\x00", "")
    return _build(headers, raw_values.get("from"), text, None)


def read_envelopes(raw: bytes) -> tuple[Envelope, tuple[Envelope, ...]]:
    """The message's envelope plus those of attached ``message/rfc822`` parts (forwards
    "as attachment"). Never raises."""
    if raw is None:
        raw = b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    try:
        raw = bytes(raw)
    except Exception:
        raw = b""
    try:
        msg = email.message_from_bytes(raw, policy=policy.compat32)
        envelope, embedded = _from_message(msg, 0)
        return envelope, tuple(embedded)
    except Exception:  # RecursionError on hostile nesting, parser bugs
        try:
            return _fallback(raw), ()
        except Exception:
            return Envelope(), ()


def read_envelope(raw: bytes) -> Envelope:
    """Decoded envelope of raw message bytes; never raises, whatever the input."""
    return read_envelopes(raw)[0]
