"""Site incidents: one major case per site outage, the site's alerts kept as its children.

The contract counts a missing heartbeat as a major alert because it means "rupture du lien
internet ou défaillance du serveur" (3.2.2), and it watches multi-site clients' links until
they are restored. When a site's link drops, every server behind it goes silent or fails its
checks at once: one cause, one incident, one client contact, one Demande.

A site incident is an ordinary case workflow (the same ``case_machine`` core: triage, client
contact, Demande, L1/L2 timers) whose family is ``site`` (opened by the absence sweep when a
heartbeat of a server with a site goes missing) or ``link`` (a probe reporting the site's VPN
down, opened by the router). While it is open and its link not back, an alert of one of the
site's servers opens no case: it becomes a child (``models.incidents.IncidentChild``), linked
to the incident's timeline, with no mail, no call and no SLA clock of its own.

When the link returns (a heartbeat of one of the site's servers reaches the desk, or the link
reports its recovery), the children are released: a child whose last news is a recovery closes
with the incident; a child still failing becomes a case of its own, opened at the return, so
its clocks start when the site could be reached again and never count the outage's time twice.
An absent source is watched afresh from the return (one period and its grace to report).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from domain.absence import link_target_names_site
from domain.sensors import CLAUSE
from messages.cases import CASE_PATH, CaseInput, Criticality, case_workflow_id
from models.expectations import Expectation
from models.incidents import IncidentChild
from models.tables import AlertEventRow, Case, Client, Server, Site

SITE_FAMILY = "site"
LINK_FAMILY = "link"
PARENT_FAMILIES = (SITE_FAMILY, LINK_FAMILY)
CHILD = "child"  # triage of an event kept under a site incident (never routed on its own)
SITE_CLAUSE = f"{CLAUSE} Site injoignable (lien ou serveur hébergeant le Logiciel) : alerte majeure"
LINK_CLAUSE = f"{CLAUSE} Rupture du lien du site : alerte majeure jusqu'au rétablissement"
# What a site outage explains; a heartbeat or the link's own messages are the outage itself.
CHILD_FAMILIES_EXCLUDED = ("heartbeat", LINK_FAMILY, SITE_FAMILY, "reply")
_CLOSED = ("resolved", "closed")


def site_fingerprint(client_code: str, site_id: int) -> str:
    """One key per site: every outage of the site is the same workflow id, one run each."""
    return f"{client_code}|site-{site_id}|{SITE_FAMILY}|outage|"


def site_case_input(client: Client, site: Site, at: datetime, *, l1_minutes: int,
                    auto_close_hours: int) -> CaseInput:
    """The incident the sweep opens when a heartbeat of the site goes missing."""
    return CaseInput(
        fingerprint=site_fingerprint(client.code, site.id or 0),
        client_id=client.id,
        server_id=None,
        host=None,
        family=SITE_FAMILY,
        check="outage",
        target=site.name,
        title=f"Site {site.name} injoignable — incident de site"[:300],
        opened_at=at,
        preset_criticality=Criticality.MAJOR,
        preset_reason=SITE_CLAUSE,
        l1_minutes=l1_minutes,
        auto_close_hours=auto_close_hours,
        path=CASE_PATH,
    )


def is_open_parent(c: Case) -> bool:
    """An incident children attach to: open, verified, and its link not back yet."""
    return (c.family in PARENT_FAMILIES and not c.closed and c.state not in _CLOSED
            and c.source_verified and not c.recovered)


def covers(c: Case, site: Site, client_code: str, reporter_site_id: int | None) -> bool:
    """Whether an open incident is the outage of ``site``: the site's own incident, or a
    link case reported from the site or naming it as its VPN peer."""
    if c.family == SITE_FAMILY:
        return c.fingerprint == site_fingerprint(client_code, site.id or 0)
    if reporter_site_id is not None and reporter_site_id == site.id:
        return True
    return link_target_names_site(c.target, site.name, site.link_names)


def open_parents(s: Session, client_id: int, known: OpenParents | None = None) -> list[Case]:
    if known is not None:
        return known.of(s, client_id)
    return [c for c in s.exec(select(Case).where(
        Case.client_id == client_id, col(Case.family).in_(PARENT_FAMILIES),
        Case.closed == False,  # noqa: E712
    ).order_by(col(Case.opened_at))).all() if is_open_parent(c)]


class OpenParents:
    """The open incidents of every client, read at most once per router batch (one
    statement, and none for a batch with no event of a server behind a site, no heartbeat
    and no link). Cases are written by the workers, so nothing is kept across batches; within
    one, a release marks its incident recovered on the same object, seen by the next event."""

    def __init__(self) -> None:
        self._by_client: dict[int, list[Case]] | None = None

    def of(self, s: Session, client_id: int) -> list[Case]:
        if self._by_client is None:
            self._by_client = {}
            for c in s.exec(select(Case).where(
                    col(Case.family).in_(PARENT_FAMILIES), Case.closed == False,  # noqa: E712
            ).order_by(col(Case.opened_at), col(Case.id))).all():
                self._by_client.setdefault(c.client_id or 0, []).append(c)
        return [c for c in self._by_client.get(client_id, []) if is_open_parent(c)]


def parent_for_server(s: Session, server_id: int | None, known: OpenParents | None = None
                      ) -> Case | None:
    """The open incident of the server's site, if any (the oldest one)."""
    srv = s.get(Server, server_id) if server_id else None
    if srv is None or srv.site_id is None:
        return None
    parents = open_parents(s, srv.client_id, known)
    if not parents:
        return None
    site = s.get(Site, srv.site_id)
    client = s.get(Client, srv.client_id)
    if site is None or client is None:
        return None
    for c in parents:
        reporter = s.get(Server, c.server_id) if c.server_id else None
        if covers(c, site, client.code, reporter.site_id if reporter else None):
            return c
    return None


def attach_event(s: Session, parent: Case, row: AlertEventRow) -> IncidentChild:
    """A server's problem or recovery under its site's incident: linked to the incident's
    timeline, flagged ``child`` (the router tells no case of it)."""
    row.triage = CHILD
    row.case_id = parent.id
    child = _child(s, parent, row.fingerprint, origin="event", at=row.received_at,
                   client_id=row.client_id, server_id=row.server_id, host=row.host,
                   family=row.family, check=row.check, target=row.target,
                   title=f"{row.host or '?'} — {row.summary or row.check}"[:300])
    child.events += 1
    child.last_at = max(child.last_at, row.received_at)
    if row.status == "problem":
        child.state = "failing"
        child.last_event_id = row.id
    elif child.state == "failing":
        child.state = "recovered"
    s.add(child)
    return child


def attach_absence(s: Session, parent: Case, exp: Expectation, srv: Server, fingerprint: str,
                   family: str, check: str, label: str, at: datetime) -> IncidentChild:
    """A server's missing heartbeat or disk report under its site's incident."""
    return attach_absence_child(s, parent, fingerprint=fingerprint, server=srv, family=family,
                                check=check, at=at,
                                title=f"{srv.display_name or srv.hostname} — {label} absent")


def attach_absence_child(s: Session, parent: Case, *, fingerprint: str, server: Server,
                         family: str, check: str, title: str, at: datetime) -> IncidentChild:
    """Something expected that did not come (a heartbeat, a disk report, a backup result)
    from a server of a site in outage: a child, failing until the link's return."""
    child = _child(s, parent, fingerprint, origin="absence", at=at, client_id=server.client_id,
                   server_id=server.id, host=server.hostname, family=family, check=check,
                   target=None, title=title[:300])
    child.state = "failing"
    s.add(child)
    return child


def _child(s: Session, parent: Case, fingerprint: str, *, origin: str, at: datetime,
           **fields: object) -> IncidentChild:
    found = s.exec(select(IncidentChild).where(
        IncidentChild.incident_case_id == parent.id,
        IncidentChild.fingerprint == fingerprint)).first()
    if found is not None:
        return found
    child = IncidentChild(incident_case_id=parent.id or 0, fingerprint=fingerprint,
                          origin=origin, first_at=at, last_at=at, **fields)  # type: ignore[arg-type]
    s.add(child)
    s.flush()
    return child


def release(s: Session, parent: Case, at: datetime, event_id: int | None
            ) -> list[IncidentChild]:
    """The link is back: recovered children close with the incident, failing ones are
    promoted (their case opens at ``at``), absent sources are watched afresh from ``at``.

    The projection is marked recovered at once, in the same transaction, so that an alert
    arriving after the return is a case of its own even before the workflow has saved its
    view (the workflow's next snapshot says the same). Returns the promoted children (the
    router tells their cases with the returning event: ``promoted_children``)."""
    parent.recovered = True
    s.add(parent)
    promoted: list[IncidentChild] = []
    for child in children(s, parent.id or 0):
        if child.released_at is not None:
            continue
        child.released_at = at
        child.released_by_event_id = event_id
        if child.state == "failing" and child.origin == "event":
            child.state = "promoted"
            child.case_workflow_id = case_workflow_id(child.fingerprint)
            promoted.append(child)
        elif child.state == "failing":
            child.state = "rewatched"
        s.add(child)
    for exp in s.exec(select(Expectation).where(Expectation.muted_by_case_id == parent.id)):
        rewatch(exp, at)
        s.add(exp)
    return promoted


def rewatch(exp: Expectation, at: datetime) -> None:
    """An absent source muted by the outage gets one full period (and its grace) from the
    link's return before it is missing on its own account."""
    exp.state = "ok"
    exp.missing_since = None
    exp.case_workflow_id = None
    exp.case_opened = False
    exp.muted_by_case_id = None
    grace = timedelta(minutes=exp.grace_minutes)
    if exp.kind == "heartbeat":
        exp.next_due_at = at + timedelta(minutes=exp.period_minutes) + grace
    elif exp.next_due_at is None or exp.next_due_at < at + grace:
        exp.next_due_at = at + grace


def children(s: Session, case_id: int) -> list[IncidentChild]:
    return list(s.exec(select(IncidentChild).where(IncidentChild.incident_case_id == case_id)
                       .order_by(col(IncidentChild.first_at), col(IncidentChild.id))).all())


def promoted_children(s: Session, event_id: int) -> list[IncidentChild]:
    """The children the event's return promoted (their cases are told with the event)."""
    return list(s.exec(select(IncidentChild).where(
        IncidentChild.released_by_event_id == event_id,
        IncidentChild.state == "promoted").order_by(col(IncidentChild.id))).all())


@dataclass(frozen=True)
class Family:
    """A case's relatives for its page: its children (with the case a promoted one became),
    or the incident it came from."""

    children: list[tuple[IncidentChild, int | None]]
    parent: Case | None


def family_of(engine: Engine, case: Case) -> Family:
    with Session(engine) as s:
        kids = children(s, case.id or 0) if case.family in PARENT_FAMILIES else []
        wids = [k.case_workflow_id for k in kids if k.case_workflow_id]
        opened: dict[str, int] = {}
        if wids:
            for cid, wid in s.exec(select(Case.id, Case.workflow_id).where(
                    col(Case.workflow_id).in_(wids)).order_by(col(Case.id))):
                opened[wid] = cid or 0  # the latest run of that id
        parent = None
        origin = s.exec(select(IncidentChild).where(
            IncidentChild.case_workflow_id == case.workflow_id,
            IncidentChild.state == "promoted").order_by(col(IncidentChild.id).desc())).first()
        if origin is not None:
            parent = s.get(Case, origin.incident_case_id)
        return Family([(k, opened.get(k.case_workflow_id or "")) for k in kids], parent)


def children_by_incident(s: Session, case_ids: Iterable[int]) -> dict[int, list[IncidentChild]]:
    """The children of each incident of a queue page (folded under it)."""
    ids = list(case_ids)
    found: dict[int, list[IncidentChild]] = {}
    if not ids:
        return found
    for child in s.exec(select(IncidentChild).where(
            col(IncidentChild.incident_case_id).in_(ids))
            .order_by(col(IncidentChild.first_at), col(IncidentChild.id))):
        found.setdefault(child.incident_case_id, []).append(child)
    return found
