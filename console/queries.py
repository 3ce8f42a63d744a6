"""Reads of the case projection for the queue, the API and the portal, scoped by client.

Everything a client user can reach goes through ``scope``: a case of another company is
simply not found (404), as if it did not exist. The queue is ordered in SQL (urgency, then
age) so pagination is right, and filtered on the ``ix_case_queue`` index (closed, state,
opened_at).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from models.tables import Case, Client, Server

# Urgency order of the queue: major first, then cases nobody has triaged yet (they may be
# major), then the other classes.
URGENCY = sql_case(
    (col(Case.criticality) == "major", 0),
    (col(Case.criticality).is_(None), 1),
    (col(Case.criticality) == "significant", 2),
    (col(Case.criticality) == "minor", 3),
    (col(Case.criticality) == "no_impact", 4),
    else_=5,
)
CRITICALITIES = ("major", "significant", "minor", "no_impact")
UNCLASSIFIED = "unclassified"
PAGE_SIZE = 50

# Which of its cases a client user sees (``VIGIE_PORTAL_CASES``): by default only those a
# technician has triaged into a class with impact; a raw alert nobody judged yet (an
# antivirus hit, "non classé") or a case without impact stays on the desk's side.
PORTAL_TRIAGED = "triaged"
PORTAL_WITH_NO_IMPACT = "triaged_with_no_impact"
PORTAL_ALL = "all"
PORTAL_RULES = (PORTAL_TRIAGED, PORTAL_WITH_NO_IMPACT, PORTAL_ALL)


def client_visible(client_view: str) -> Any:
    """The SQL condition of the cases a client user may see under ``client_view`` (None:
    all of the company's cases)."""
    if client_view == PORTAL_ALL:
        return None
    shown = ["minor", "significant", "major"]
    if client_view == PORTAL_WITH_NO_IMPACT:
        shown.append("no_impact")
    return col(Case.criticality).in_(shown)


@dataclass(frozen=True)
class QueueFilter:
    """The technician's filters; empty values mean "any"."""

    client_id: int | None = None
    criticality: str | None = None  # one of CRITICALITIES, or "unclassified"
    state: str | None = None
    family: str | None = None
    assignee: str | None = None
    include_closed: bool = False
    finished_only: bool = False  # resolved or closed cases only (the portal's history)
    client_view: str = PORTAL_TRIAGED  # what a client user sees (only when ``scope`` is set)

    def apply(self, q: Any, scope: int | None) -> Any:
        if self.finished_only:
            q = q.where(or_(col(Case.closed) == True, col(Case.state) == "resolved"))  # noqa: E712
        elif not self.include_closed:
            # "= false", not "IS false": PostgreSQL uses the queue index only for the former
            q = q.where(col(Case.closed) == False)  # noqa: E712
            if self.state != "resolved":
                q = q.where(col(Case.state) != "resolved")
        if scope is not None:
            q = q.where(col(Case.client_id) == scope)
            visible = client_visible(self.client_view)
            if visible is not None:
                q = q.where(visible)
        if self.client_id is not None:
            q = q.where(col(Case.client_id) == self.client_id)
        if self.criticality == UNCLASSIFIED:
            q = q.where(col(Case.criticality).is_(None))
        elif self.criticality:
            q = q.where(col(Case.criticality) == self.criticality)
        if self.state:
            q = q.where(col(Case.state) == self.state)
        if self.family:
            q = q.where(col(Case.family) == self.family)
        if self.assignee:
            q = q.where(col(Case.assignee) == self.assignee)
        return q


def case_summary(c: Case, client_name: str | None) -> dict[str, Any]:
    """The JSON shape of a case in ``/api/cases`` (kept stable for automation)."""
    return {
        "id": c.id,
        "ref": c.ref,
        "state": c.state,
        "criticality": c.criticality,
        "client_id": c.client_id,
        "client": client_name,
        "server_id": c.server_id,
        "host": c.host,
        "family": c.family,
        "check": c.check,
        "target": c.target,
        "title": c.title,
        "repeat_count": c.repeat_count,
        "recovered": c.recovered,
        "assignee": c.assignee,
        "demande_ref": c.demande_ref,
        "opened_at": c.opened_at.isoformat(),
        "last_seen": c.last_seen.isoformat() if c.last_seen else None,
        "l1_deadline": c.l1_deadline.isoformat() if c.l1_deadline else None,
    }


def queue_page(
    s: Session,
    flt: QueueFilter,
    scope: int | None,
    *,
    offset: int = 0,
    limit: int = PAGE_SIZE,
    newest_first: bool = False,
) -> list[tuple[Case, str | None]]:
    """One page of cases, most urgent class first, oldest first within a class."""
    q = select(Case, Client.name).join(Client, col(Client.id) == Case.client_id, isouter=True)
    q = flt.apply(q, scope)
    if newest_first:
        q = q.order_by(col(Case.opened_at).desc(), col(Case.id).desc())
    else:
        q = q.order_by(URGENCY, col(Case.opened_at), col(Case.id))
    rows = s.exec(q.offset(max(0, offset)).limit(max(1, min(limit, 500)))).all()
    return [(c, name) for c, name in rows]


def queue_total(s: Session, flt: QueueFilter, scope: int | None) -> int:
    q = flt.apply(select(func.count()).select_from(Case), scope)
    return int(s.exec(q).one())


def open_counts(
    s: Session, scope: int | None, flt: QueueFilter | None = None
) -> dict[str, int]:
    """Open cases by class (``unclassified`` for untriaged), for the title and the tabs;
    ``flt`` (without a class) narrows them to what the queue's other filters list."""
    q = (
        (flt or QueueFilter())
        .apply(select(Case.criticality, func.count()).select_from(Case), scope)
        .group_by(col(Case.criticality))
    )
    counts = {UNCLASSIFIED if crit is None else crit: int(n) for crit, n in s.exec(q).all()}
    counts["total"] = sum(counts.values())
    return counts


def load_case(
    s: Session, case_id: int, scope: int | None, client_view: str = PORTAL_TRIAGED
) -> tuple[Case, Client | None] | None:
    """The case if the caller may see it (None otherwise: the route answers 404); a client
    user sees it only under the portal rule (``client_view``), like in its lists."""
    c = s.get(Case, case_id)
    if c is None or (scope is not None and c.client_id != scope):
        return None
    if scope is not None and client_view != PORTAL_ALL:
        shown = {"minor", "significant", "major"}
        if client_view == PORTAL_WITH_NO_IMPACT:
            shown.add("no_impact")
        if c.criticality not in shown:
            return None
    client = s.get(Client, c.client_id) if c.client_id is not None else None
    return c, client


def server_of(s: Session, server_id: int | None) -> Server | None:
    return s.get(Server, server_id) if server_id is not None else None


def client_choices(s: Session) -> list[tuple[int, str]]:
    return [(c.id or 0, c.name) for c in s.exec(select(Client).order_by(col(Client.name))).all()]
