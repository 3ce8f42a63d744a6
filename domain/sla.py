"""SLA figures of a case, recomputed from its audit ledger.

Managers audit the desk's timings (time to triage, to first client contact, to the
registration of a *Demande*, the level-1 diagnosis, escalations, breaches). Counters kept
on the side drift and cannot be explained; the ledger that the case workflow appends on
every transition can. So every figure here is *recomputed* from the ledger and a
:class:`~domain.calendar.BusinessCalendar`, and carries its derivation: the two ledger
entries it runs between and a French sentence a manager can read ("Du signalement n° 1
(ven. 27/11 17:30) à la classification n° 3 par alice (lun. 30/11 09:40) : 0 h 40 ouvrées").

Rules (the contract's words in ``docs/domain.md``, "Handling an alert"):

* Entries are sorted by ``(at, seq)`` first: out-of-order delivery gives the same figures.
* Every clock starts at the opening entry, whose ``at`` is when the alert was *received*
  (the desk cannot act before the mail arrives; ``data["occurred_at"]`` is kept for
  information only).
* Times are business time (``calendar.elapsed``); each figure also carries the wall time.
* The criticality in effect is the *last* classification; it decides which figures apply
  (client contact for minor and above, a *Demande* for significant and major). Triage is
  still measured to the *first* classification.
* The level-1 clock is **business time**, like the workflow timer that escalates to level 2
  (``calendar.add(start_l1, 1 h)``): both must agree, or a timer escalation would show as
  a breach or a missed one.
* A figure is breached when its business value exceeds its target by more than
  ``SlaTargets.tolerance`` (one minute by default). The tolerance absorbs worker latency:
  a level-2 escalation fired by the timer lands a few milliseconds after the deadline,
  which is the contract working, not a breach. Figures are shown to the minute anyway.
* A required step that never happened is measured up to the end of the case (its last
  resolution or closure): breached if the deadline passed before that end.
* A major case's first client contact is a **phone call that reached a person** (automated
  call confirmed by a keypress, or a call a technician records as reached); a mail, even
  the fallback mail sent after unanswered calls, does not stop that clock. Other classes
  count any message that reached the client.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from domain.calendar import BusinessCalendar

__all__ = [
    "FIGURE_LABELS",
    "FIGURE_NAMES",
    "Action",
    "CaseSla",
    "Criticality",
    "Figure",
    "LedgerEntry",
    "SlaTargets",
    "aggregate",
    "compute",
]


class Action(StrEnum):
    """Ledger actions appended by the case workflow (the exact strings it writes)."""

    OPEN = "open"
    REPEAT = "repeat"
    RECOVERY = "recovery"
    ASSIGN = "assign"
    NOTE = "note"
    CLASSIFY = "classify"
    RECORD_CONTACT = "record_contact"
    COMMUNICATION = "communication"
    REGISTER_DEMANDE = "register_demande"
    START_L1 = "start_l1"
    ESCALATE_L2 = "escalate_l2"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"


class Criticality(StrEnum):
    """The four criticalities of the contract, by impact on the client's business."""

    NO_IMPACT = "no_impact"
    MINOR = "minor"
    SIGNIFICANT = "significant"
    MAJOR = "major"

    @property
    def label(self) -> str:
        """French label, as the contract names it."""
        return _CRITICALITY_LABELS[self]

    @property
    def needs_client_contact(self) -> bool:
        """Minor and above: the client is e-mailed or phoned; no impact: no communication."""
        return self is not Criticality.NO_IMPACT

    @property
    def needs_demande(self) -> bool:
        """Significant and major alerts are registered as a *Demande* (support request)."""
        return self in (Criticality.SIGNIFICANT, Criticality.MAJOR)

    @property
    def needs_l1(self) -> bool:
        """Major alerts get a level-1 diagnosis lasting under one hour."""
        return self is Criticality.MAJOR


_CRITICALITY_LABELS: dict[str, str] = {
    "no_impact": "sans impact",
    "minor": "mineur",
    "significant": "significatif",
    "major": "majeur",
}

CONTACT_OUTCOMES: frozenset[str] = frozenset({"reached", "sent"})
"""``record_contact`` outcomes that count as a client contact (a call that reached someone,
an e-mail or SMS sent). No answer, busy, voicemail or failure do not: the client was not
told."""

FIGURE_NAMES: tuple[str, ...] = (
    "time_to_triage",
    "time_to_first_contact",
    "time_to_demande",
    "l1_duration",
    "time_to_resolution",
)

FIGURE_LABELS: dict[str, str] = {
    "time_to_triage": "Délai de classification",
    "time_to_first_contact": "Délai du premier contact client",
    "time_to_demande": "Délai d'enregistrement de la demande",
    "l1_duration": "Durée du diagnostic de niveau 1",
    "time_to_resolution": "Délai de résolution",
}

_CHANNEL_LABELS: dict[str, str] = {"email": "e-mail", "phone": "téléphone", "sms": "SMS"}
_OUTCOME_LABELS: dict[str, str] = {
    "reached": "joint",
    "sent": "envoyé",
    "delivered": "remis",
    "no_answer": "sans réponse",
    "busy": "occupé",
    "voicemail": "messagerie",
    "failed": "échec",
}
_WEEKDAYS_FR = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")


@dataclass(frozen=True)
class LedgerEntry:
    """One line of a case's audit ledger, as the case workflow appends it.

    ``at`` must be timezone-aware. ``data`` is copied into a plain dict (kept out of the
    hash) so the entry stays serialisable by ``dataclasses.asdict`` and Temporal's converter.
    """

    seq: int
    at: datetime
    action: str
    from_state: str | None
    to_state: str | None
    actor: str
    reason: str = ""
    data: Mapping[str, Any] = field(default_factory=dict, hash=False)
    policy_version: str = "1"

    def __post_init__(self) -> None:
        """Refuse naive instants: the ledger is evidence, its times must be unambiguous."""
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError(
                f"Entrée n° {self.seq} : horodatage sans fuseau refusé ({self.at.isoformat()})."
            )
        object.__setattr__(self, "data", dict(self.data))

    @property
    def counts_as_client_contact(self) -> bool:
        """True for a contact that reached the client: a call answered, a message sent or
        delivered. A delivery failure reported by the channel does not count."""
        if self.action == Action.RECORD_CONTACT:
            return self.data.get("outcome") in CONTACT_OUTCOMES
        if self.action == Action.COMMUNICATION:
            # delivery news from a channel: its ``outcome`` (a mail taken by the relay, a call
            # a person answered and confirmed) when the case recorded one
            return (self.data.get("status") == "delivered"
                    or self.data.get("outcome") in CONTACT_OUTCOMES)
        return False

    @property
    def counts_as_phone_contact(self) -> bool:
        """True when a person was reached by phone: an automated call answered and
        confirmed by a keypress, or a call a technician recorded as reached. What a major
        case's first contact must be (3.2.3 Majeur/étendu: "appel téléphonique")."""
        if self.data.get("channel") != "phone":
            return False
        if self.action == Action.RECORD_CONTACT:
            return self.data.get("outcome") == "reached"
        if self.action == Action.COMMUNICATION:
            return self.data.get("outcome") == "reached" or self.data.get("status") in (
                "confirmed", "answered")
        return False

    def counts_as_contact_for(self, criticality: Criticality) -> bool:
        """The first-contact rule of a class: a major case needs a person on the phone (a
        fallback mail after unanswered calls is sent and recorded, but does not stop the
        clock); the other classes count any message that reached the client."""
        if criticality is Criticality.MAJOR:
            return self.counts_as_phone_contact
        return self.counts_as_client_contact

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (ISO datetime)."""
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "action": str(self.action),
            "from_state": self.from_state,
            "to_state": self.to_state,
            "actor": self.actor,
            "reason": self.reason,
            "data": dict(self.data),
            "policy_version": self.policy_version,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> LedgerEntry:
        """Inverse of :meth:`to_dict` (accepts an ISO string or a datetime for ``at``)."""
        at = raw["at"]
        return cls(
            seq=int(raw["seq"]),
            at=datetime.fromisoformat(at) if isinstance(at, str) else at,
            action=str(raw["action"]),
            from_state=raw.get("from_state"),
            to_state=raw.get("to_state"),
            actor=str(raw.get("actor", "")),
            reason=str(raw.get("reason", "")),
            data=dict(raw.get("data") or {}),
            policy_version=str(raw.get("policy_version", "1")),
        )


@dataclass(frozen=True)
class SlaTargets:
    """Target durations, in business time (``None``: no target, never breached).

    Defaults are the desk's policy where the contract is silent (``docs/domain.md``):
    classify within 1 business hour; first client contact within 4 (1 for a major alert,
    which is a phone call); *Demande* registered within 2; level-1 diagnosis under 1 hour
    (business time, the same clock as the escalation timer); no resolution target.
    """

    triage: timedelta | None = timedelta(hours=1)
    first_contact: timedelta | None = timedelta(hours=4)
    first_contact_major: timedelta | None = timedelta(hours=1)
    demande: timedelta | None = timedelta(hours=2)
    l1: timedelta | None = timedelta(hours=1)
    resolution: timedelta | None = None
    tolerance: timedelta = timedelta(minutes=1)

    def first_contact_for(self, criticality: Criticality) -> timedelta | None:
        """The first-contact target for a criticality (a major alert is phoned at once)."""
        return self.first_contact_major if criticality is Criticality.MAJOR else self.first_contact


@dataclass(frozen=True)
class Figure:
    """One SLA figure with its derivation.

    ``value`` is business time, ``wall`` calendar time, both ``None`` when there is nothing
    to measure (not applicable, or still running without ``now``). ``start``/``end`` are the
    ledger entries the figure runs between; ``breached`` is ``None`` when it cannot be told
    (no target, not applicable, running but not late yet).
    """

    name: str
    value: timedelta | None
    wall: timedelta | None
    start: LedgerEntry | None
    end: LedgerEntry | None
    explanation: str
    target: timedelta | None
    breached: bool | None

    @property
    def label(self) -> str:
        """French label of the figure, for the manager's view."""
        return FIGURE_LABELS.get(self.name, self.name)

    @property
    def complete(self) -> bool:
        """True when measured between two entries (not running, not missing)."""
        return self.end is not None and self.value is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: durations in seconds, entries by seq/action/ISO time."""
        return {
            "name": self.name,
            "label": self.label,
            "value_seconds": _seconds(self.value),
            "wall_seconds": _seconds(self.wall),
            "start": _entry_ref(self.start),
            "end": _entry_ref(self.end),
            "explanation": self.explanation,
            "target_seconds": _seconds(self.target),
            "breached": self.breached,
        }


@dataclass(frozen=True)
class CaseSla:
    """SLA figures of one case, as recomputed from its ledger."""

    criticality: Criticality | None
    time_to_triage: Figure
    time_to_first_contact: Figure
    time_to_demande: Figure
    l1_duration: Figure
    time_to_resolution: Figure
    escalated: bool
    escalated_by: str | None
    reopened_count: int
    breaches: tuple[str, ...]
    opened_at: datetime

    def figures(self) -> list[Figure]:
        """The five figures, in the order of a case's life."""
        return [getattr(self, name) for name in FIGURE_NAMES]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (durations in seconds, datetimes ISO)."""
        return {
            "criticality": None if self.criticality is None else str(self.criticality),
            "criticality_label": None if self.criticality is None else self.criticality.label,
            "opened_at": self.opened_at.isoformat(),
            "escalated": self.escalated,
            "escalated_by": self.escalated_by,
            "reopened_count": self.reopened_count,
            "breaches": list(self.breaches),
            "figures": {figure.name: figure.to_dict() for figure in self.figures()},
        }


# --------------------------------------------------------------------------- formatting


def _seconds(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


def _entry_ref(entry: LedgerEntry | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {
        "seq": entry.seq,
        "action": str(entry.action),
        "at": entry.at.isoformat(),
        "actor": entry.actor,
    }


def _hours(delta: timedelta) -> str:
    """Business durations as hours and minutes ("27 h 05"), floored to the minute."""
    minutes = max(0, int(delta.total_seconds() // 60))
    return f"{minutes // 60} h {minutes % 60:02d}"


def _wall(delta: timedelta) -> str:
    """Calendar durations with days when over a day ("2 j 16 h 10")."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    text = f"{minutes // 60} h {minutes % 60:02d}"
    return f"{days} j {text}" if days else text


class _Clock:
    """Formats instants in the calendar's local time ("ven. 27/11 17:30").

    The year is shown only when a sentence spans two years, to keep the usual case short.
    """

    def __init__(self, calendar: BusinessCalendar, *instants: datetime) -> None:
        self._calendar = calendar
        self._years = {calendar.to_local(i).year for i in instants}

    def __call__(self, at: datetime) -> str:
        local = self._calendar.to_local(at)
        with_year = len(self._years) > 1 or local.year not in self._years
        day = f"{local:%d/%m/%Y}" if with_year else f"{local:%d/%m}"
        return f"{_WEEKDAYS_FR[local.weekday()]} {day} {local:%H:%M}"


def _describe(entry: LedgerEntry) -> tuple[str, str]:
    """A ledger entry as part of a French sentence: (phrase, detail).

    E.g. ("à la classification n° 3 par alice", "mineur"); the seq lets a manager find the
    line in the ledger.
    """
    data = entry.data
    action = entry.action
    who = f" par {entry.actor}" if entry.actor else ""
    if action == Action.OPEN:
        return f"Du signalement n° {entry.seq}", ""
    if action == Action.START_L1:
        return f"Du début du diagnostic N1 n° {entry.seq}{who}", ""
    if action == Action.CLASSIFY:
        return (
            f"à la classification n° {entry.seq}{who}",
            _CRITICALITY_LABELS.get(str(data.get("criticality")), "?"),
        )
    if action in (Action.RECORD_CONTACT, Action.COMMUNICATION):
        channel = _CHANNEL_LABELS.get(str(data.get("channel")), str(data.get("channel", "?")))
        raw = data.get("outcome") if action == Action.RECORD_CONTACT else data.get("status")
        return (
            f"au premier contact client n° {entry.seq}{who}",
            f"{channel}, {_OUTCOME_LABELS.get(str(raw), str(raw))}",
        )
    if action == Action.REGISTER_DEMANDE:
        ref = data.get("demande_ref")
        return f"à l'enregistrement de la demande n° {entry.seq}{who}", str(ref or "")
    if action == Action.ESCALATE_L2:
        by = data.get("by") or entry.actor
        cause = "par la minuterie" if by == "timer" else f"par {by}"
        return f"à l'escalade en niveau 2 n° {entry.seq} {cause}", ""
    if action == Action.RESOLVE:
        return f"à la résolution n° {entry.seq}{who}", ""
    if action == Action.CLOSE:
        return f"à la clôture n° {entry.seq}{who}", ""
    return f"à l'entrée n° {entry.seq}{who}", str(action)


def _mention(entry: LedgerEntry, clock: _Clock) -> str:
    """``_describe`` with the entry's local time: "à la classification n° 3 par alice
    (lun. 30/11 09:40, mineur)"."""
    phrase, detail = _describe(entry)
    return f"{phrase} ({clock(entry.at)}{', ' + detail if detail else ''})"


def _mention_finish(entry: LedgerEntry, clock: _Clock) -> str:
    """The entry that ended the case, after "avant": "la clôture n° 7 (lun. 30/11 10:00)"."""
    what = "la résolution" if entry.action == Action.RESOLVE else "la clôture"
    return f"{what} n° {entry.seq} ({clock(entry.at)})"


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class _Context:
    """What every figure of one case needs to measure and explain itself."""

    calendar: BusinessCalendar
    tolerance: timedelta
    finish: LedgerEntry | None  # first resolve/close of the case's final stretch
    now: datetime | None


def _late(value: timedelta, target: timedelta | None, tolerance: timedelta) -> bool | None:
    return None if target is None else value > target + tolerance


def _measure(
    name: str,
    start: LedgerEntry,
    end: LedgerEntry | None,
    target: timedelta | None,
    missing: str,
    ctx: _Context,
) -> Figure:
    """Measure ``start`` -> ``end``; if ``end`` is missing, say why, up to the case's end
    or to ``now``."""
    cal = ctx.calendar
    if end is not None:
        value = cal.elapsed(start.at, end.at)
        wall = max(end.at - start.at, timedelta(0))
        clock = _Clock(cal, start.at, end.at)
        breached = _late(value, target, ctx.tolerance)
        text = (
            f"{_mention(start, clock)} {_mention(end, clock)} : "
            f"{_hours(value)} ouvrées ({_wall(wall)} calendaires)"
        )
        if target is not None:
            verdict = f"dépassé de {_hours(value - target)}" if breached else "respecté"
            text += f" ; objectif {_hours(target)} ouvrées : {verdict}"
        return Figure(name, value, wall, start, end, text, target, breached)

    if ctx.finish is not None:
        finish = ctx.finish
        clock = _Clock(cal, start.at, finish.at)
        spent = cal.elapsed(start.at, finish.at)
        breached = _late(spent, target, ctx.tolerance)
        text = f"{_mention(start, clock)} : {missing} avant {_mention_finish(finish, clock)}"
        if target is not None:
            due = clock(cal.add(start.at, target))
            text += (
                f" ; objectif {_hours(target)} ouvrées : dépassé (échéance {due})"
                if breached
                else f" ; objectif {_hours(target)} ouvrées : échéance {due} non atteinte"
            )
        return Figure(name, None, None, start, None, text, target, breached)

    if ctx.now is not None:
        value = cal.elapsed(start.at, ctx.now)
        wall = max(ctx.now - start.at, timedelta(0))
        clock = _Clock(cal, start.at, ctx.now)
        late = _late(value, target, ctx.tolerance)
        text = (
            f"{_mention(start, clock)} : en cours, {_hours(value)} ouvrées "
            f"({_wall(wall)} calendaires) au {clock(ctx.now)}"
        )
        if target is not None:
            due = clock(cal.add(start.at, target))
            text += f" ; objectif {_hours(target)} ouvrées : " + (
                f"dépassé (échéance {due})" if late else f"échéance {due}"
            )
        return Figure(name, value, wall, start, None, text, target, True if late else None)

    clock = _Clock(cal, start.at)
    return Figure(
        name, None, None, start, None, f"{_mention(start, clock)} : en cours", target, None
    )


def _not_applicable(name: str, start: LedgerEntry | None, why: str) -> Figure:
    return Figure(name, None, None, start, None, why, None, None)


def _first(entries: Iterable[LedgerEntry], action: str) -> LedgerEntry | None:
    return next((e for e in entries if e.action == action), None)


def _criticality(entry: LedgerEntry) -> Criticality:
    raw = entry.data.get("criticality")
    try:
        return Criticality(str(raw))
    except ValueError:
        raise ValueError(
            f"Entrée n° {entry.seq} : criticité inconnue {raw!r} "
            f"(attendu : {', '.join(c.value for c in Criticality)})"
        ) from None


def compute(
    entries: Iterable[LedgerEntry],
    calendar: BusinessCalendar,
    targets: SlaTargets = SlaTargets(),
    *,
    now: datetime | None = None,
) -> CaseSla:
    """Recompute a case's SLA figures from its ledger.

    ``now`` (aware) gives running figures a value so far; without it a running figure is
    ``None`` with the explanation "en cours". Only entries from the opening on are read;
    unknown actions are ignored (a newer workflow may log more). Raises ``ValueError`` on
    a ledger without an opening entry or with an unknown criticality.
    """
    ordered = sorted(entries, key=lambda e: (e.at, e.seq))
    start_index = next((i for i, e in enumerate(ordered) if e.action == Action.OPEN), None)
    if start_index is None:
        raise ValueError("Registre sans entrée d'ouverture (« open ») : rien à mesurer.")
    if now is not None and (now.tzinfo is None or now.utcoffset() is None):
        raise ValueError(f"« now » sans fuseau refusé : {now.isoformat()}")
    opening = ordered[start_index]
    life = ordered[start_index + 1 :]

    classifications = [e for e in life if e.action == Action.CLASSIFY]
    criticality = _criticality(classifications[-1]) if classifications else None
    for entry in classifications:
        _criticality(entry)  # validate every classification, not only the one in effect

    last_reopen = max((i for i, e in enumerate(life) if e.action == Action.REOPEN), default=-1)
    final_stretch = life[last_reopen + 1 :]
    finish = next((e for e in final_stretch if e.action in (Action.RESOLVE, Action.CLOSE)), None)
    ctx = _Context(calendar, targets.tolerance, finish, now)

    # Triage: to the first classification, whatever came after.
    triage = _measure(
        "time_to_triage",
        opening,
        classifications[0] if classifications else None,
        targets.triage,
        "aucune classification",
        ctx,
    )

    # First client contact: only when the class in effect calls for client communication.
    if criticality is None:
        contact = _not_applicable("time_to_first_contact", opening, "criticité non encore définie")
    elif not criticality.needs_client_contact:
        contact = _not_applicable(
            "time_to_first_contact", opening, f"sans communication client ({criticality.label})"
        )
    else:
        first_contact = next((e for e in life if e.counts_as_contact_for(criticality)), None)
        contact = _measure(
            "time_to_first_contact",
            opening,
            first_contact,
            targets.first_contact_for(criticality),
            "aucune personne jointe par téléphone" if criticality is Criticality.MAJOR
            else "aucun contact client",
            ctx,
        )

    # Demande: significant and major alerts only.
    if criticality is None:
        demande = _not_applicable("time_to_demande", opening, "criticité non encore définie")
    elif not criticality.needs_demande:
        demande = _not_applicable("time_to_demande", opening, f"sans demande ({criticality.label})")
    else:
        demande = _measure(
            "time_to_demande",
            opening,
            _first(life, Action.REGISTER_DEMANDE),
            targets.demande,
            "aucune demande enregistrée",
            ctx,
        )

    # Level-1 diagnosis: measured whenever one was started, on the escalation timer's clock.
    l1_index = next((i for i, e in enumerate(life) if e.action == Action.START_L1), None)
    if l1_index is None:
        if criticality is not None and criticality.needs_l1:
            why = "diagnostic N1 jamais démarré" if finish else "diagnostic N1 non démarré"
        else:
            label = criticality.label if criticality is not None else "criticité non définie"
            why = f"sans diagnostic N1 ({label})"
        l1 = _not_applicable("l1_duration", None, why)
    else:
        l1_start = life[l1_index]
        l1_end = next(
            (e for e in life[l1_index + 1 :] if e.action in (Action.ESCALATE_L2, Action.RESOLVE)),
            None,
        )
        l1 = _measure("l1_duration", l1_start, l1_end, targets.l1, "ni escalade ni résolution", ctx)

    # Resolution: the last resolution not undone by a reopening.
    resolutions = [e for e in final_stretch if e.action == Action.RESOLVE]
    resolution = _measure(
        "time_to_resolution",
        opening,
        resolutions[-1] if resolutions else None,
        targets.resolution,
        "aucune résolution",
        ctx,
    )

    escalation = _first(life, Action.ESCALATE_L2)
    escalated_by = None
    if escalation is not None:
        escalated_by = str(escalation.data.get("by") or escalation.actor or "") or None

    figures = (triage, contact, demande, l1, resolution)
    return CaseSla(
        criticality=criticality,
        time_to_triage=triage,
        time_to_first_contact=contact,
        time_to_demande=demande,
        l1_duration=l1,
        time_to_resolution=resolution,
        escalated=escalation is not None,
        escalated_by=escalated_by,
        reopened_count=sum(1 for e in life if e.action == Action.REOPEN),
        breaches=tuple(f.name for f in figures if f.breached),
        opened_at=opening.at,
    )


# --------------------------------------------------------------------------- aggregate


def _p90(values: list[float]) -> float:
    """Nearest-rank 90th percentile: an actual observed value, easy to explain."""
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def aggregate(cases: Iterable[CaseSla]) -> dict[str, Any]:
    """Summary of a set of cases for the manager's SLA view.

    Distributions (median, nearest-rank p90, in business seconds) use complete figures
    only: a running value is a lower bound and would pull the median down. Breach counts
    include every flagged figure, running or missing ones too.
    """
    cases = list(cases)
    count = len(cases)
    escalated = sum(1 for c in cases if c.escalated)
    by_criticality: dict[str, int] = {}
    for case in cases:
        key = str(case.criticality) if case.criticality is not None else "unclassified"
        by_criticality[key] = by_criticality.get(key, 0) + 1

    figures: dict[str, dict[str, Any]] = {}
    for name in FIGURE_NAMES:
        measured = [getattr(c, name) for c in cases]
        values = [f.value.total_seconds() for f in measured if f.complete]
        figures[name] = {
            "label": FIGURE_LABELS[name],
            "measured": len(values),
            "median_seconds": statistics.median(values) if values else None,
            "p90_seconds": _p90(values) if values else None,
            "breaches": sum(1 for f in measured if f.breached),
        }
    return {
        "count": count,
        "escalated": escalated,
        "escalated_pct": round(100 * escalated / count, 1) if count else None,
        "reopened": sum(1 for c in cases if c.reopened_count),
        "by_criticality": by_criticality,
        "breaches": {name: figures[name]["breaches"] for name in FIGURE_NAMES},
        "figures": figures,
    }
