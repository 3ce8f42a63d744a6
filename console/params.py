"""Numbers read from a query string or a form, within what the database can hold.

Why a module of its own: ``str.isdigit()`` accepts ``"²"`` (``int()`` then raises) and any
length (``/portal?page=99999999999999999999`` then overflowed SQLite's integers): both were
500s found by the attack pass (issue 21, finding 6). Every number a route takes from the
outside goes through here: ASCII digits only, and at most :data:`MAX_INT`.
"""

from __future__ import annotations

from fastapi import HTTPException

MAX_INT = 2**31 - 1  # PostgreSQL's INTEGER, the type of every id and count column
MAX_PAGE = 100_000  # far past any real list; keeps OFFSET small


def parse_int(raw: str | None, *, minimum: int = 0, maximum: int = MAX_INT) -> int | None:
    """The integer ``raw`` spells in ASCII digits (a leading minus allowed when
    ``minimum`` is negative), or None when it is empty, malformed or out of bounds."""
    text = (raw or "").strip()
    body = text[1:] if text.startswith("-") and minimum < 0 else text
    if not body or len(body) > 12 or not (body.isascii() and body.isdigit()):
        return None
    value = int(text)
    return value if minimum <= value <= maximum else None


def int_or(raw: str | None, default: int, *, minimum: int = 0, maximum: int = MAX_INT) -> int:
    """``parse_int`` with a default for what is missing or unreadable (filters, pages)."""
    value = parse_int(raw, minimum=minimum, maximum=maximum)
    return default if value is None else value


def page_number(raw: str | None) -> int:
    """A list's page: 1 unless ``raw`` is a page number; clamped to :data:`MAX_PAGE`."""
    value = parse_int(raw, minimum=1, maximum=MAX_INT)
    return 1 if value is None else min(value, MAX_PAGE)


def year_param(raw: str | None, default: int) -> int:
    """A calendar year from the outside: 1900-2999, else 422 (a year the desk can plan)."""
    if not (raw or "").strip():
        return default
    value = parse_int(raw, minimum=1900, maximum=2999)
    if value is None:
        raise HTTPException(422, f"Année invalide : {raw[:20] if raw else ''}")
    return value
