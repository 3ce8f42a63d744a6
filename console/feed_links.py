"""The address of a consultant's iCalendar feed, signed (``itsdangerous``, the visit-link key
with its own salt), for the planners' page that lists every feed, "Mes visites" that shows
one's own, and the feed itself that checks the signature (``console.pages_planning``).

Its own module so that both pages import it without importing each other.
"""

from __future__ import annotations

from itsdangerous import Signer
from sqlmodel import Session

from console.deps import Services
from planning import ics
from planning.links import link_secret


def ics_signer(svc: Services) -> Signer:
    return Signer(link_secret(svc.settings), salt="vigie-visit-ics")


def signed_feed_path(svc: Services, user_id: int, key: str) -> str:
    return f"/calendar/{user_id}/{ics_signer(svc).get_signature(f'{user_id}.{key}').decode()}.ics"


def ics_url(svc: Services, user_id: int) -> str | None:
    """The user's feed link (its key made on first need), or None while it is revoked."""
    with Session(svc.engine) as s:
        key = ics.feed_key(s, user_id)
    return signed_feed_path(svc, user_id, key) if key else None
