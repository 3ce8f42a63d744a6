"""Text helpers for matching alert wording across languages and mail clients.

``fold`` lowercases and strips accents *without changing string length*, so a regex can run
on the folded text (``echouee`` matches ``échouée``) and the span can slice the original.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

_SPECIAL = {
    "\u2018": "'",
    "\u2019": "'",
    "\u02bc": "'",
    "\u00b4": "'",
    "`": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u00a0": " ",
    "\u202f": " ",
    "\u2007": " ",
    "\u2009": " ",
    "\u2013": "-",
    "\u2014": "-",
    "\u2010": "-",
    "\u2011": "-",
}


class _FoldTable(dict[int, str]):
    """Lazy ``str.translate`` table: one output character per input character."""

    def __missing__(self, codepoint: int) -> str:
        char = chr(codepoint)
        out = _SPECIAL.get(char)
        if out is None:
            base = unicodedata.normalize("NFKD", char)
            base = "".join(c for c in base if not unicodedata.combining(c)) or char
            lowered = base[0].lower()
            out = lowered if len(lowered) == 1 else base[0]
        self[codepoint] = out
        return out


_FOLD = _FoldTable()


@lru_cache(maxsize=32)
def fold(text: str) -> str:
    """Lowercase, accent-free, same length as ``text`` (typographic quotes made ASCII)."""
    if text.isascii():
        return text.lower().replace("`", "'")
    return text.translate(_FOLD)


_PREFIX_RE = re.compile(
    r"^\s*(?:(?:re|fwd?|fw|tr|trs|wg|aw|sv|vs|rv|antw|r[ée]f|rif|enc|doorst)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)+",
    re.IGNORECASE,
)


def strip_subject_prefixes(subject: str) -> str:
    """Remove reply/forward prefixes (``Fwd:``, ``TR:``, ``RE:``, ``AW:``...), any number."""
    return _PREFIX_RE.sub("", subject or "").strip()


def has_subject_prefix(subject: str) -> bool:
    """True when the subject starts with a reply/forward prefix."""
    return bool(_PREFIX_RE.match(subject or ""))


def head_tail(text: str, limit: int = 400_000) -> str:
    """At most ``limit`` characters: the head and the tail, where markers usually sit.

    Keeps regex scanning of a 5 MB cron output bounded while still seeing the final
    ``tar: Exiting with failure status`` line.
    """
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + "\n" + text[-half:]


def one_line(text: str | None, limit: int = 300) -> str:
    """Collapse whitespace to one line and cap its length (for summaries)."""
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _label_regex(labels: Iterable[str]) -> re.Pattern[str]:
    alternatives = "|".join(labels)
    return re.compile(
        r"^[ \t>]*(?:" + alternatives + r")[ \t]*(?::|\t|\|)[ \t:|]*(?P<value>[^\n]*)$",
        re.MULTILINE,
    )


@lru_cache(maxsize=256)
def _cached_label_regex(labels: tuple[str, ...]) -> re.Pattern[str]:
    return _label_regex(labels)


def field(text: str, *labels: str, allow_empty: bool = False) -> str | None:
    """Value of a ``Label: value`` (or ``Label<TAB>value``) line, trying labels in order
    of preference (the first label found anywhere wins over later labels).

    Labels are regex fragments written lowercase and accent-free; matching runs on the
    folded text and the value is cut from the original. Empty values are skipped unless
    ``allow_empty``.
    """
    if not text:
        return None
    folded = fold(text)
    for label in labels:
        for match in _cached_label_regex((label,)).finditer(folded):
            start, end = match.span("value")
            value = text[start:end].strip()
            if value or allow_empty:
                return value
    return None


def find(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """Search a compiled pattern (written for folded text) in ``fold(text)``."""
    return pattern.search(fold(text)) if text else None


def original(text: str, match: re.Match[str], group: str | int = 0) -> str:
    """The original-case text under a match made on ``fold(text)``."""
    start, end = match.span(group)
    if start < 0:
        return ""
    return text[start:end]


def parse_number(raw: str | None) -> float | None:
    """A plain number, accepting a French decimal comma and a trailing unit; else None."""
    if raw is None:
        return None
    match = re.fullmatch(
        r"\s*([-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?)\s*(?:%|[A-Za-zµ/]{1,6})?\s*",
        raw,
    )
    if not match:
        return None
    number = match.group(1).replace(",", ".")
    try:
        value = float(number)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return value
