"""Each consultant's visits as an iCalendar feed (``icalendar``), so they show in the
calendar program the consultant already uses: one all-day event per booked (or offered)
visit, its UID stable so an update replaces the event instead of adding one."""

from __future__ import annotations

import datetime as dt

from icalendar import Calendar, Event
from sqlmodel import Session, col, select

from models.tables import Client, Site
from models.types import utcnow
from models.visits import Visit
from planning.notify import visit_ref
from workflows.visit_machine import STATE_LABELS
from workflows.visit_types import VisitState

SHOWN = (VisitState.CONFIRMED, VisitState.IN_PROGRESS, VisitState.REPORT_WRITTEN,
         VisitState.REPORT_SENT, VisitState.AWAITING_CLIENT, VisitState.PROPOSED)


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
            state = STATE_LABELS.get(visit.state, (visit.state,))[0]
            ev.add("description", f"{visit_ref(visit.id or 0)} — état : {state}")
            ev.add("status", "TENTATIVE" if tentative else "CONFIRMED")
            cal.add_component(ev)
    return cal.to_ical()
