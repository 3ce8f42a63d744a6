"""Storms across clients: the same check failing at many clients within minutes.

A vendor's backup service down, an antivirus update gone wrong, the desk's own relay: each
client's case is real and keeps its own ledger, but the technician facing forty of them at
once needs to see one thing, its count, and act on all of them in one gesture. A storm is
read from the open cases, never stored: the cases of one family and check opened within
``STORM_WINDOW`` of the group's latest one, at ``STORM_MIN_CLIENTS`` clients or more.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from models.tables import Case
from records.incidents import PARENT_FAMILIES

STORM_WINDOW = timedelta(minutes=15)
STORM_MIN_CLIENTS = 3
_CLOSED = ("resolved", "closed")


@dataclass(frozen=True)
class Storm:
    family: str
    check: str
    case_ids: list[int]
    clients: int
    since: datetime  # the first case of the storm

    @property
    def key(self) -> str:
        """What the bulk form names (the cases are read again when it is posted)."""
        return f"{self.family}:{self.check}"


def current_storms(s: Session, *, window: timedelta = STORM_WINDOW,
                   min_clients: int = STORM_MIN_CLIENTS) -> list[Storm]:
    """The storms among the open cases, largest first."""
    groups: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for c in s.exec(select(Case).where(
            Case.closed == False,  # noqa: E712
            col(Case.state).not_in(_CLOSED),
            col(Case.family).not_in(PARENT_FAMILIES)).order_by(col(Case.opened_at).desc())):
        groups[(c.family, c.check)].append(c)
    storms: list[Storm] = []
    for (family, check), cases in groups.items():
        latest = cases[0].opened_at
        burst = [c for c in cases if latest - c.opened_at <= window]
        clients = {c.client_id for c in burst if c.client_id is not None}
        if len(clients) >= min_clients:
            storms.append(Storm(family, check, sorted(c.id or 0 for c in burst), len(clients),
                                min(c.opened_at for c in burst)))
    return sorted(storms, key=lambda st: (-len(st.case_ids), st.since))


def storm_cases(s: Session, key: str) -> list[Case]:
    """The cases of the storm named ``key`` as it is now (empty once it has calmed down)."""
    for st in current_storms(s):
        if st.key == key:
            return [c for cid in st.case_ids if (c := s.get(Case, cid)) is not None]
    return []
