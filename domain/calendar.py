"""Business calendar: the one answer to "is this business time / when is the deadline".

The contract (article 1) counts delays in *jours ouvrés*: Monday to Friday, minus the public
holidays of metropolitan France. Within a business day the desk works its business hours
(default 09:00-18:00 Europe/Paris, configurable). Every SLA clock in the product (triage,
first client contact, the one-hour level-1 diagnosis) runs on this calendar, so the workflow
timers and the manager's SLA figures can never disagree.

Design rules, because workflows call this module through ``workflow.now()``:

* Pure and deterministic: no wall clock, no network, no database. Every instant is an
  argument; naive datetimes are refused (``ValueError``) since their meaning depends on the
  machine; results are aware datetimes in UTC.
* Sandbox friendly: nothing happens at import time beyond imports. The time zone is loaded
  when a calendar is built, holiday sets are built lazily, one year at a time, and cached
  in the calendar instance. Workflows import this module the way Temporal recommends for
  pure helpers, ``with workflow.unsafe.imports_passed_through(): from domain.calendar
  import ...`` (a module re-imported *inside* the sandbox gets a proxied ``ZoneInfo`` that
  ``datetime`` refuses). ``holidays`` is used without its translation catalogues, whose
  loading the sandbox forbids (see ``_UntranslatedFrenchHolidays``); a test runs a real
  workflow to prove it.
* Fast: business time is turned into a position on a per-year cumulative scale
  (microseconds of business time since 1 January), so ``add`` and ``elapsed`` cost a binary
  search per call whatever the span (whole days and weeks are never walked minute by minute).

Public holidays come from ``holidays`` (France). Decisions worth knowing:

* **Whit Monday** (*lundi de Pentecôte*): ``holidays.France`` lists it as a public holiday
  every year except 2005-2007, when the law made it the national *journée de solidarité*.
  It is still a *jour férié* in the Labour Code (the *journée de solidarité* may be placed
  on it by company agreement), and most clients are closed, so the team calendar treats it
  as **closed**. A team that works it lists the date in ``extra_open_dates``.
* **Client sites** may follow a regional calendar: Alsace-Moselle adds Good Friday and
  26 December. The ``holidays`` package spells these subdivisions ``"57"`` (Moselle) and
  ``"6AE"`` (Alsace: Bas-Rhin and Haut-Rhin); both give the same extra days. The aliases
  ``"Moselle"`` and ``"Alsace"`` are accepted and normalised to the code.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Import the country class itself (not the lazy ``holidays.France`` attribute), so that the
# import happens when this module is imported and never later inside a workflow run.
from holidays.countries.france import France as _FrenchHolidays

__all__ = [
    "ALSACE",
    "MON_FRI",
    "MOSELLE",
    "BusinessCalendar",
    "BusinessHours",
    "default_calendar",
    "site_business_days",
    "site_calendar",
]

MON_FRI: frozenset[int] = frozenset(range(5))
"""Monday (0) to Friday (4), as ``date.weekday()`` numbers them."""

MOSELLE = "57"
"""``holidays.France`` subdivision code for Moselle (local law: Good Friday, 26 December)."""

ALSACE = "6AE"
"""``holidays.France`` subdivision code for Alsace (Bas-Rhin, Haut-Rhin); same extras."""

_ONE_US = timedelta(microseconds=1)

if not callable(getattr(_FrenchHolidays, "_init_translation", None)):  # pragma: no cover
    raise ImportError(
        "holidays.France n'a plus de méthode _init_translation : revoir "
        "_UntranslatedFrenchHolidays (sinon le calendrier échoue dans le bac à sable Temporal)."
    )


def _untranslated(message: str) -> str:
    """Identity "translation": holiday names stay in French, the package's source language."""
    return message


class _UntranslatedFrenchHolidays(_FrenchHolidays):
    """``holidays.France`` without its gettext lookup.

    Building a ``holidays`` object normally loads a translation catalogue: ``gettext`` calls
    ``locale.normalize`` and opens a ``.mo`` file, both refused at run time inside Temporal's
    workflow sandbox (checked: the workflow task fails with RestrictedWorkflowAccessError).
    We only need the dates, and the names in the source language (French) are what a
    French desk wants anyway, so translation is switched off. The tests guard this hook.
    """

    def _init_translation(self) -> None:
        self.tr = _untranslated


def _us(delta: timedelta) -> int:
    """A timedelta as an exact integer count of microseconds (no float rounding)."""
    return delta // _ONE_US


def _canonical_subdiv(subdiv: str) -> str:
    """Return the ``holidays`` code for ``subdiv`` (code or alias), or raise ValueError.

    Checked up front so that a typo in a client's site configuration fails when the
    calendar is configured, not months later when a holiday set is first built.
    """
    if subdiv in _FrenchHolidays.subdivisions:
        return subdiv
    aliases: dict[str, str] = getattr(_FrenchHolidays, "subdivisions_aliases", {})
    if subdiv in aliases:
        return aliases[subdiv]
    raise ValueError(
        f"Subdivision inconnue pour la France : {subdiv!r} "
        f"(Alsace-Moselle : {MOSELLE!r} pour la Moselle, {ALSACE!r} pour l'Alsace ; "
        f"codes possibles : {', '.join(_FrenchHolidays.subdivisions)})"
    )


@dataclass(frozen=True)
class BusinessHours:
    """The working week of the team, or of one client site.

    ``start``/``end`` are local wall-clock times in ``tz`` (naive ``time`` objects), with
    ``start < end`` on the same day (no overnight shifts). ``workdays`` uses
    ``date.weekday()`` numbering (Monday = 0). ``subdiv`` selects a regional holiday set
    (see the module docstring); ``extra_closed_dates`` closes further days (company
    closure, bridge days) and ``extra_open_dates`` opens days that would otherwise be
    closed (e.g. Whit Monday worked as *journée de solidarité*, an exceptional Saturday).
    """

    tz: str = "Europe/Paris"
    start: time = time(9, 0)
    end: time = time(18, 0)
    workdays: frozenset[int] = MON_FRI
    subdiv: str | None = None
    extra_closed_dates: frozenset[date] = frozenset()
    extra_open_dates: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        """Validate once, so that a calendar can never loop or answer nonsense later."""
        # Accept any iterable for the sets, but store frozensets (the object is hashable).
        for name in ("workdays", "extra_closed_dates", "extra_open_dates"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))
        if not self.workdays:
            raise ValueError("Aucun jour ouvré dans la semaine : le calendrier serait vide.")
        if not self.workdays <= frozenset(range(7)):
            raise ValueError(
                f"Jours ouvrés invalides (0 = lundi … 6 = dimanche) : {sorted(self.workdays)}"
            )
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError(
                "Les heures d'ouverture sont des heures locales sans fuseau "
                "(le fuseau est donné par « tz »)."
            )
        if not self.start < self.end:
            raise ValueError(
                f"Heure de début {self.start} non antérieure à l'heure de fin "
                f"{self.end} (les plages de nuit ne sont pas prises en charge)."
            )
        if self.subdiv is not None:
            object.__setattr__(self, "subdiv", _canonical_subdiv(self.subdiv))
        both = self.extra_closed_dates & self.extra_open_dates
        if both:
            raise ValueError(f"Dates à la fois ouvertes et fermées : {sorted(both)}")


@dataclass(frozen=True, slots=True)
class _Year:
    """Pre-computed business windows of one local calendar year.

    ``days[i]`` is the ordinal of the i-th day of the year with a non-empty business window
    ``[starts[i], ends[i])`` (UTC); ``cum[i]`` is the business time, in microseconds, of the
    windows before it (``cum[0] == 0``, ``cum[-1] == total``). ``open_days`` holds every
    business day (a window can only be empty in odd configurations around a DST change);
    ``holidays`` maps the ordinal of each public holiday to its French name.
    """

    days: list[int]
    starts: list[datetime]
    ends: list[datetime]
    cum: list[int]
    open_days: frozenset[int]
    holidays: dict[int, str]

    @property
    def total(self) -> int:
        """Business microseconds in the whole year."""
        return self.cum[-1]


class BusinessCalendar:
    """Business-time arithmetic on one :class:`BusinessHours`.

    Windows are half-open: at 18:00 sharp the desk is closed, so ``add(17:00, 1 h)`` is
    18:00 the same day (the deadline), while ``add(18:00, 0)`` is the next opening.
    ``elapsed(a, add(a, d)) == d`` always holds.
    """

    def __init__(self, hours: BusinessHours | None = None) -> None:
        """Load the time zone now (fail fast on a bad name); holidays come later, lazily."""
        self.hours: BusinessHours = hours if hours is not None else BusinessHours()
        try:
            self._zone = ZoneInfo(self.hours.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"Fuseau horaire inconnu : {self.hours.tz!r}") from exc
        self._years: dict[int, _Year] = {}

    def __repr__(self) -> str:
        """Show the configuration, which is what distinguishes two calendars."""
        return f"BusinessCalendar({self.hours!r})"

    # ------------------------------------------------------------------ public API

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone, for displaying instants in local time."""
        return self._zone

    def to_local(self, at: datetime) -> datetime:
        """``at`` in the calendar's local time (for display: "ven. 27/11 17:30")."""
        return self._utc(at).astimezone(self._zone)

    def is_business_day(self, d: date) -> bool:
        """True if ``d`` is a working day: a workday, not a public holiday, not closed.

        Public holidays are those of ``holidays.France`` for the configured subdivision
        (Whit Monday included: see the module docstring), then ``extra_closed_dates`` and
        ``extra_open_dates`` apply.
        """
        if isinstance(d, datetime):
            raise TypeError(
                "is_business_day attend une date, pas un datetime (utiliser is_business_time)."
            )
        return d.toordinal() in self._year(d.year).open_days

    def holiday_name(self, d: date) -> str | None:
        """French name of the public holiday on ``d`` ("Lundi de Pâques"), else None.

        Lets the console say *why* a deadline moved. A holiday listed in
        ``extra_open_dates`` still has its name, although the desk works that day.
        """
        if isinstance(d, datetime):
            raise TypeError("holiday_name attend une date, pas un datetime.")
        return self._year(d.year).holidays.get(d.toordinal())

    def is_business_time(self, at: datetime) -> bool:
        """True if ``at`` falls inside a business window (start included, end excluded)."""
        u = self._utc(at)
        local_day = u.astimezone(self._zone).date()
        yd = self._year(local_day.year)
        i = bisect_left(yd.days, local_day.toordinal())
        return (
            i < len(yd.days)
            and yd.days[i] == local_day.toordinal()
            and yd.starts[i] <= u < yd.ends[i]
        )

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself (in UTC) if it is business time, else the next opening instant."""
        u = self._utc(at)
        local_day = u.astimezone(self._zone).date()
        year, ordinal = local_day.year, local_day.toordinal()
        while True:
            yd = self._year(year)
            i = bisect_left(yd.days, ordinal)
            while i < len(yd.days):
                if yd.ends[i] > u:
                    return max(u, yd.starts[i])
                i += 1
            year, ordinal = self._next_year(year), 0

    def add(self, start: datetime, delta: timedelta) -> datetime:
        """The instant at which ``delta`` of business time has elapsed after ``start``.

        ``delta == 0`` gives :meth:`next_open` (a deadline cannot fall while closed);
        otherwise the earliest such instant, so a deadline may be a closing time
        (Friday 17:00 + 1 h = Friday 18:00). Negative deltas are refused.
        """
        u = self._utc(start)
        if delta < timedelta(0):
            raise ValueError(f"Durée négative refusée : {delta}")
        if not delta:
            return self.next_open(u)
        year, position = self._locate(u)
        target = position + _us(delta)
        while True:
            yd = self._year(year)
            if target <= yd.total:
                k = bisect_left(yd.cum, target) - 1
                return yd.starts[k] + timedelta(microseconds=target - yd.cum[k])
            target -= yd.total
            year = self._next_year(year)

    def due(self, start: datetime, delta: timedelta) -> datetime:
        """Deadline of a ``delta`` business-time SLA started at ``start`` (same as add)."""
        return self.add(start, delta)

    def elapsed(self, a: datetime, b: datetime) -> timedelta:
        """Business time between ``a`` and ``b``; zero if ``b <= a``."""
        ua, ub = self._utc(a), self._utc(b)
        if ub <= ua:
            return timedelta(0)
        year_a, pos_a = self._locate(ua)
        year_b, pos_b = self._locate(ub)
        total = pos_b - pos_a + sum(self._year(y).total for y in range(year_a, year_b))
        return timedelta(microseconds=total)

    def breached(self, start: datetime, delta: timedelta, at: datetime) -> bool:
        """True if, at ``at``, more than ``delta`` of business time has run since ``start``.

        Measured in business time, so an action taken at Monday's opening on a deadline of
        Friday 18:00 is on time: no business time was lost over the weekend.
        """
        return self.elapsed(start, at) > delta

    # ------------------------------------------------------------------ internals

    def _utc(self, at: datetime) -> datetime:
        """Refuse naive datetimes (their meaning depends on the machine); return UTC."""
        if not isinstance(at, datetime):
            raise TypeError(f"datetime attendu, reçu {type(at).__name__}")
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"Datetime naïf refusé (fuseau requis) : {at.isoformat()}")
        return at.astimezone(UTC)

    @staticmethod
    def _next_year(year: int) -> int:
        """Move on one year, refusing to run off the end of the ``date`` range."""
        if year >= MAXYEAR:
            raise ValueError("Échéance hors de la plage des dates représentables.")
        return year + 1

    def _locate(self, u: datetime) -> tuple[int, int]:
        """(local year, business microseconds elapsed in that year before ``u``)."""
        local_day = u.astimezone(self._zone).date()
        yd = self._year(local_day.year)
        ordinal = local_day.toordinal()
        i = bisect_left(yd.days, ordinal)
        position = yd.cum[i]
        if i < len(yd.days) and yd.days[i] == ordinal and u > yd.starts[i]:
            position += _us(min(u, yd.ends[i]) - yd.starts[i])
        return local_day.year, position

    def _year(self, year: int) -> _Year:
        """The cached windows of ``year``, built on first use."""
        cached = self._years.get(year)
        if cached is None:
            cached = self._years[year] = self._build_year(year)
        return cached

    def _build_year(self, year: int) -> _Year:
        """Build the business windows of one local year (about a millisecond, once)."""
        hours = self.hours
        names = dict(_UntranslatedFrenchHolidays(years=year, subdiv=hours.subdiv))
        public = frozenset(names)
        days: list[int] = []
        starts: list[datetime] = []
        ends: list[datetime] = []
        cum: list[int] = [0]
        open_days: set[int] = set()
        first = date(year, 1, 1).toordinal()
        last = date(year, 12, 31).toordinal()
        for ordinal in range(first, last + 1):
            day = date.fromordinal(ordinal)
            if day in hours.extra_open_dates:
                is_open = True
            else:
                is_open = (
                    day.weekday() in hours.workdays
                    and day not in public
                    and day not in hours.extra_closed_dates
                )
            if not is_open:
                continue
            open_days.add(ordinal)
            # Local wall times to UTC: a window crossing a DST change is shorter or longer.
            window_start = datetime.combine(day, hours.start, tzinfo=self._zone).astimezone(UTC)
            window_end = datetime.combine(day, hours.end, tzinfo=self._zone).astimezone(UTC)
            if window_end <= window_start:
                continue
            days.append(ordinal)
            starts.append(window_start)
            ends.append(window_end)
            cum.append(cum[-1] + _us(window_end - window_start))
        holiday_names = {day.toordinal(): name for day, name in names.items()}
        return _Year(days, starts, ends, cum, frozenset(open_days), holiday_names)


def default_calendar() -> BusinessCalendar:
    """The team's calendar: 09:00-18:00 Europe/Paris, Monday-Friday, metropolitan France.

    A new instance each call (cheap: holiday sets are built lazily), so no state is shared
    between workflow runs.
    """
    return BusinessCalendar(BusinessHours())


def calendar_for(tz: str, start: str, end: str) -> BusinessCalendar:
    """The team's calendar for given business hours ("HH:MM"), as policies store them."""
    return BusinessCalendar(
        BusinessHours(tz=tz, start=time.fromisoformat(start), end=time.fromisoformat(end))
    )


# --------------------------------------------------------------------- client sites' calendars


def site_calendar(subdiv: str | None = None, tz: str = "Europe/Paris",
                  closed: Iterable[date] = (), opened: Iterable[date] = ()) -> BusinessCalendar:
    """The calendar of a client's site: its own holidays (Alsace-Moselle sites, ``"57"`` or
    ``"6AE"``, also close on Good Friday and 26 December), Monday to Friday, then the site's
    **own** days on top: ``closed`` (closed in August) and ``opened`` (open on Whit Monday).
    Visits are offered only on its business days (3.2.4); the planner's checks, the visit
    workflow and the suggester all build the site's calendar here, so they never disagree.
    A day both closed and opened by the site counts as open (the later, narrower decision
    of an administrator: "closed in August, but open on the 14th")."""
    opened = frozenset(opened)
    return BusinessCalendar(BusinessHours(tz=tz, subdiv=subdiv or None,
                                          extra_closed_dates=frozenset(closed) - opened,
                                          extra_open_dates=opened))


def site_business_days(
    subdiv: str | None, start: date, end: date, tz: str = "Europe/Paris",
    closed: Iterable[date] = (), opened: Iterable[date] = (),
) -> list[date]:
    """Business days of a site from ``start`` to ``end`` included, in order."""
    cal = site_calendar(subdiv, tz, closed, opened)
    out: list[date] = []
    day = start
    while day <= end:
        if cal.is_business_day(day):
            out.append(day)
        day += timedelta(days=1)
    return out
