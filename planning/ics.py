"""Each consultant's visits as an iCalendar feed (``icalendar``), so they show in the
calendar program the consultant already uses: one all-day event per booked (or offered)
visit, its UID stable so an update replaces the event instead of adding one.

The feed's link is a bearer secret a calendar program keeps for years, so it is per user and
can be taken back (issue 21, finding 4): each user has a key (``CalendarFeed``) the link's
signature covers. Rotating makes a new key (every earlier link dies), revoking empties it
(no link works until a new one is made), and a deactivated user's feed answers nothing."""

from __future__ import annotations

import datetime as dt
import secrets

from icalendar import Calendar, Event
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from messages.visits import STATE_LABELS, VisitState
from models.tables import Client, Site, User
from models.types import utcnow
from models.visits import CalendarFeed, Visit
from planning.notify import visit_ref

SHOWN = (VisitState.CONFIRMED, VisitState.IN_PROGRESS, VisitState.REPORT_WRITTEN,
         VisitState.REPORT_SENT, VisitState.AWAITING_CLIENT, VisitState.PROPOSED)


def _feed(s: Session, user_id: int) -> CalendarFeed | None:
    return s.exec(select(CalendarFeed).where(CalendarFeed.user_id == user_id)).first()


def feed_key(s: Session, user_id: int) -> str | None:
    """The user's key, made on first need; None once revoked (until a new one is asked for)
    or for a user who is gone or inactive. Commits when it makes one."""
    user = s.get(User, user_id)
    if user is None or not user.active:
        return None
    feed = _feed(s, user_id)
    if feed is None:
        s.add(CalendarFeed(user_id=user_id, key=secrets.token_hex(16), changed_by=""))
        try:
            s.commit()
        except IntegrityError:  # two first views at once: the other one's key stands
            s.rollback()
        feed = _feed(s, user_id)
    return (feed.key or None) if feed is not None else None


def rotate_key(s: Session, user_id: int, by: str) -> str:
    """A new key: every link made before stops working (the caller commits)."""
    feed = _feed(s, user_id) or CalendarFeed(user_id=user_id)
    feed.key, feed.created_at, feed.changed_by, feed.revoked_at = (
        secrets.token_hex(16), utcnow(), by[:120], None)
    s.add(feed)
    s.flush()
    return feed.key


def revoke_key(s: Session, user_id: int, by: str) -> None:
    """No link works until the user makes a new one (the caller commits)."""
    feed = _feed(s, user_id) or CalendarFeed(user_id=user_id)
    feed.key, feed.changed_by, feed.revoked_at = "", by[:120], utcnow()
    s.add(feed)
    s.flush()


def live_key(s: Session, user_id: int) -> str | None:
    """The key a link must carry now (no key is made here): None when revoked, never made,
    or when the user is inactive or gone."""
    user = s.get(User, user_id)
    feed = _feed(s, user_id)
    if user is None or not user.active or feed is None:
        return None
    return feed.key or None


def feed_for(s: Session, user_id: int, tz: str = "Europe/Paris") -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Vigie//Visites preventives//FR")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "Vigie — visites")
    cal.add("x-wr-timezone", tz)
    rows = s.exec(select(Visit, Client).join(Client, col(Client.id) == Visit.client_id)
                  .where(Visit.consultant_id == user_id, col(Visit.state).in_(list(SHOWN)))
                  .order_by(col(Visit.id))).all()
    stamp = utcnow()
    for visit, client in rows:
        site = s.get(Site, visit.site_id) if visit.site_id else None
        days = [visit.date] if visit.date else [dt.date.fromisoformat(d)
                                                for d in visit.proposed_dates]
        tentative = visit.state in (VisitState.PROPOSED, VisitState.AWAITING_CLIENT)
        for i, day in enumerate(days):
            ev = Event()
            suffix = f"-option{i + 1}" if tentative else ""
            ev.add("uid", f"visit-{visit.id}{suffix}@vigie")
            ev.add("dtstamp", stamp)
            ev.add("dtstart", day)
            ev.add("dtend", day + dt.timedelta(days=1))
            ev.add("summary", f"{'(option) ' if tentative else ''}Visite {client.name}")
            ev.add("location", site.name if site else client.name)
            state = STATE_LABELS.get(visit.state, visit.state)
            ev.add("description", f"{visit_ref(visit.id or 0)} — état : {state}")
            ev.add("status", "TENTATIVE" if tentative else "CONFIRMED")
            cal.add_component(ev)
    return cal.to_ical()
