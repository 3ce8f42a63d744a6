"""A site's own closed and open days (``site_days``), and the one calendar built from them.

Every place that asks "may a visit be on this day at this site" (the planner's checks in
``planning.rules``, the suggester's problem, the visit workflow's input and each proposal)
builds the site's calendar with :func:`calendar_of`, which hands the subdivision and the
site's own days to ``domain.calendar.site_calendar``: one function, one answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, select

from domain.calendar import BusinessCalendar, site_calendar
from models.tables import Site
from models.visits import SiteDays

MAX_RANGE_DAYS = 366  # a range longer than a year is a typing mistake, not a closure


class SiteDaysError(ValueError):
    """A range the administrator must correct (shown as is, French)."""


@dataclass(frozen=True)
class OwnDays:
    """The site's own days, expanded: what the calendar needs."""

    subdiv: str | None = None
    closed: frozenset[dt.date] = frozenset()
    opened: frozenset[dt.date] = frozenset()


def _expand(first: dt.date, last: dt.date) -> set[dt.date]:
    return {first + dt.timedelta(days=k) for k in range((last - first).days + 1)}


def own_days(s: Session, site: Site | None) -> OwnDays:
    """The subdivision and own days of ``site`` (a visit without a site: none)."""
    if site is None or site.id is None:
        return OwnDays()
    closed: set[dt.date] = set()
    opened: set[dt.date] = set()
    for row in s.exec(select(SiteDays).where(SiteDays.site_id == site.id)).all():
        (opened if row.is_open else closed).update(_expand(row.first, row.last))
    return OwnDays(site.calendar_subdiv or None, frozenset(closed), frozenset(opened))


def own_days_of(s: Session, site_id: int | None) -> OwnDays:
    return own_days(s, s.get(Site, site_id) if site_id else None)


def calendar_of(days: OwnDays, tz: str = "Europe/Paris") -> BusinessCalendar:
    return site_calendar(days.subdiv, tz, days.closed, days.opened)


def ranges(s: Session, site_id: int) -> list[SiteDays]:
    return list(s.exec(select(SiteDays).where(SiteDays.site_id == site_id)
                       .order_by(col(SiteDays.first), col(SiteDays.id))).all())


def add_range(s: Session, site_id: int, first: dt.date, last: dt.date | None,
              is_open: bool, note: str = "") -> SiteDays:
    """Record a closed (or open) range; a single day when ``last`` is None."""
    last = last or first
    if last < first:
        raise SiteDaysError("La fin de la période précède son début")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise SiteDaysError("Une période d'un an au plus")
    row = SiteDays(site_id=site_id, first=first, last=last, is_open=is_open,
                   note=note.strip()[:200])
    s.add(row)
    s.flush()
    return row
