"""Date parsing for alert mails: every result is timezone-aware or None, never an exception.

Sources write local times without offset (event log, HP ``EVENT (26 May 07:09)``, Arcserve
``11/22/2026 01:14:47``); the desk's clients are in France, so such times are Europe/Paris.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class _EuropeParisFallback(tzinfo):
    """CET/CEST by the EU rule, used only when the system has no tz database."""

    @staticmethod
    def _last_sunday(year: int, month: int) -> datetime:
        day = datetime(year, month + 1, 1) - timedelta(days=1)
        return day - timedelta(days=(day.weekday() + 1) % 7)

    def _is_dst_utc(self, utc_naive: datetime) -> bool:
        start = self._last_sunday(utc_naive.year, 3).replace(hour=1)
        end = self._last_sunday(utc_naive.year, 10).replace(hour=1)
        return start <= utc_naive < end

    def utcoffset(self, dt: datetime | None) -> timedelta:
        if dt is None:
            return timedelta(hours=1)
        naive = dt.replace(tzinfo=None)
        return timedelta(hours=2 if self._is_dst_utc(naive - timedelta(hours=1)) else 1)

    def dst(self, dt: datetime | None) -> timedelta:
        return self.utcoffset(dt) - timedelta(hours=1)

    def tzname(self, dt: datetime | None) -> str:
        return "CEST" if self.dst(dt) else "CET"

    def fromutc(self, dt: datetime) -> datetime:
        naive = dt.replace(tzinfo=None)
        offset = timedelta(hours=2 if self._is_dst_utc(naive) else 1)
        return (naive + offset).replace(tzinfo=self)


def _load_paris() -> tzinfo:
    try:
        return ZoneInfo("Europe/Paris")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return _EuropeParisFallback()


PARIS: tzinfo = _load_paris()

_TZ_ABBREV: dict[str, tzinfo] = {
    "UTC": UTC,
    "GMT": UTC,
    "Z": UTC,
    "CET": timezone(timedelta(hours=1)),
    "CEST": timezone(timedelta(hours=2)),
    "MET": timezone(timedelta(hours=1)),
    "MEST": timezone(timedelta(hours=2)),
    "WET": timezone(timedelta(hours=0)),
    "WEST": timezone(timedelta(hours=1)),
}

MONTHS: dict[str, int] = {}
for _num, _names in enumerate(
    [
        ("jan", "january", "janvier", "janv", "januar", "jän", "jaen"),
        ("feb", "february", "fevrier", "février", "fev", "fév", "févr", "fevr", "februar"),
        ("mar", "march", "mars", "märz", "maerz", "mrz"),
        ("apr", "april", "avril", "avr"),
        ("may", "mai"),
        ("jun", "june", "juin", "juni"),
        ("jul", "july", "juillet", "juil", "juli"),
        ("aug", "august", "aout", "août", "aoû"),
        ("sep", "sept", "september", "septembre"),
        ("oct", "october", "octobre", "okt", "oktober"),
        ("nov", "november", "novembre"),
        ("dec", "december", "decembre", "décembre", "déc", "dez", "dezember"),
    ],
    start=1,
):
    for _name in _names:
        MONTHS[_name] = _num


def month_number(name: str) -> int | None:
    """Month number for an English, French or German month name or abbreviation."""
    return MONTHS.get(name.strip().strip(".").lower())


def as_aware(value: datetime, tz: tzinfo = PARIS) -> datetime:
    """Attach ``tz`` (Europe/Paris by default) to a naive datetime; aware ones pass through."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return value.replace(tzinfo=tz)
    return value


def _build(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    tz: tzinfo | None = None,
) -> datetime | None:
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=tz or PARIS)
    except (ValueError, OverflowError):
        return None


def parse_iso(text: str | None) -> datetime | None:
    """ISO 8601 (``Z`` accepted); a missing offset means Europe/Paris."""
    if not text:
        return None
    candidate = text.strip()
    if len(candidate) > 64:
        return None
    try:
        return as_aware(datetime.fromisoformat(candidate))
    except (ValueError, TypeError):
        return None


def parse_rfc2822(text: str | None) -> datetime | None:
    """A ``Date:`` header value; a missing zone means Europe/Paris."""
    if not text:
        return None
    try:
        parsed = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    return as_aware(parsed)


_ISO_RE = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ]+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,]\d+)?)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?"
)
_NUMERIC_RE = re.compile(
    r"(?P<a>\d{1,2})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})\b"
    r"(?:[ \t,]*(?:at|à|a|um|-)?[ \t]*(?P<h>\d{1,2})[:h](?P<mi>\d{2})(?::(?P<s>\d{2}))?"
    r"[ \t]*(?P<ampm>[ap]\.?m\.?)?)?",
    re.IGNORECASE,
)
_UNIX_RE = re.compile(
    r"(?:[A-Za-z]{3}\s+)?(?P<mon>[A-Za-z]{3,})\.?\s+(?P<d>\d{1,2})\s+"
    r"(?P<h>\d{1,2}):(?P<mi>\d{2}):(?P<s>\d{2})\s+(?:(?P<tz>[A-Z]{1,5})\s+)?(?P<y>\d{4})"
)


def _offset(text: str | None) -> tzinfo | None:
    if not text:
        return None
    if text.upper() in _TZ_ABBREV:
        return _TZ_ABBREV[text.upper()]
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if not match:
        return None
    delta = timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
    return timezone(-delta if match.group(1) == "-" else delta)


def _hour(raw_hour: str | None, ampm: str | None) -> int:
    hour = int(raw_hour or 0)
    if ampm:
        pm = ampm.lower().startswith("p")
        if pm and hour < 12:
            hour += 12
        elif not pm and hour == 12:
            hour = 0
    return hour


def parse_loose(text: str | None, *, dayfirst: bool | None = None) -> datetime | None:
    """First date (with optional time) found in free text, in the common alert layouts.

    ``dayfirst`` settles ``01/02/2026``: True for French/German sources, False for US
    English; None guesses (day first unless the numbers forbid it). ``dd.mm.yyyy`` is
    always day first.
    """
    if not text:
        return None
    sample = text[:500]
    match = _ISO_RE.search(sample)
    if match:
        result = _build(
            int(match["y"]),
            int(match["mo"]),
            int(match["d"]),
            int(match["h"] or 0),
            int(match["mi"] or 0),
            int(match["s"] or 0),
            _offset(match["tz"]),
        )
        if result:
            return result
    match = _NUMERIC_RE.search(sample)
    if match:
        first, second = int(match["a"]), int(match["b"])
        year = int(match["y"])
        year += 2000 if year < 100 else 0
        day_first = True if match["sep"] == "." else dayfirst
        if day_first is None:
            day_first = not (second > 12 and first <= 12)
        if first > 12:
            day_first = True
        elif second > 12:
            day_first = False
        day, month = (first, second) if day_first else (second, first)
        result = _build(
            year,
            month,
            day,
            _hour(match["h"], match["ampm"]),
            int(match["mi"] or 0),
            int(match["s"] or 0),
        )
        if result:
            return result
    match = _UNIX_RE.search(sample)
    if match:
        month = month_number(match["mon"])
        if month:
            result = _build(
                int(match["y"]),
                month,
                int(match["d"]),
                int(match["h"]),
                int(match["mi"]),
                int(match["s"]),
                _offset(match["tz"]),
            )
            if result:
                return result
    return parse_rfc2822(sample)


def nearest_year(
    month: int, day: int, hour: int, minute: int, reference: datetime | None
) -> datetime | None:
    """Complete a year-less local time (HP ``EVENT (26 May 07:09)``) with the year that puts
    it closest to ``reference`` (the mail's Date), so December events mailed in January land
    in the right year. None without a reference: parsers may not read the clock."""
    if reference is None:
        return None
    ref = as_aware(reference)
    best: datetime | None = None
    for year in (ref.year - 1, ref.year, ref.year + 1):
        candidate = _build(year, month, day, hour, minute)
        if candidate is None:
            continue
        if best is None or abs(candidate - ref) < abs(best - ref):
            best = candidate
    return best
