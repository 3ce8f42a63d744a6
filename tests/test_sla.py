"""SLA figures recomputed from a case's ledger, one scenario per path of the contract."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import MOSELLE, BusinessCalendar, BusinessHours, default_calendar
from domain.sla import (
    FIGURE_NAMES,
    Action,
    CaseSla,
    Criticality,
    LedgerEntry,
    SlaTargets,
    aggregate,
    compute,
)

PARIS = ZoneInfo("Europe/Paris")
CAL = default_calendar()
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


class Ledger:
    """Builds a ledger the way the case workflow appends it (seq increments)."""

    def __init__(self, opened: datetime) -> None:
        self.entries: list[LedgerEntry] = []
        self.add(opened, Action.OPEN, actor="intake", occurred_at=opened.isoformat())

    def add(self, at: datetime, action: str, actor: str = "alice", **data: Any) -> Ledger:
        self.entries.append(
            LedgerEntry(
                seq=len(self.entries) + 1,
                at=at,
                action=action,
                from_state=None,
                to_state=None,
                actor=actor,
                data=data,
            )
        )
        return self

    def classify(self, at: datetime, criticality: str, actor: str = "alice") -> Ledger:
        return self.add(at, Action.CLASSIFY, actor=actor, criticality=criticality)

    def contact(self, at: datetime, channel: str = "email", outcome: str = "sent") -> Ledger:
        return self.add(at, Action.RECORD_CONTACT, channel=channel, outcome=outcome)

    def __iter__(self) -> Iterator[LedgerEntry]:
        return iter(self.entries)


def major_friday_evening() -> Ledger:
    """A missing heartbeat received Friday 27/11/2026 at 17:30, worked on Monday."""
    return (
        Ledger(paris(2026, 11, 27, 17, 30))
        .add(paris(2026, 11, 27, 17, 31), Action.ASSIGN, assignee="alice")
        .classify(paris(2026, 11, 27, 17, 40), "major")
        .contact(paris(2026, 11, 27, 17, 50), channel="phone", outcome="no_answer")
        .contact(paris(2026, 11, 30, 9, 15), channel="phone", outcome="reached")
        .add(paris(2026, 11, 30, 9, 20), Action.REGISTER_DEMANDE, demande_ref="D-2026-0042")
        .add(paris(2026, 11, 30, 9, 25), Action.START_L1)
        .add(
            paris(2026, 11, 30, 10, 25, 0) + timedelta(milliseconds=40),
            Action.ESCALATE_L2,
            actor="system",
            by="timer",
        )
    )


# --------------------------------------------------------------------------- class paths


def test_no_impact_alert_is_triaged_and_needs_no_client_communication() -> None:
    ledger = (
        Ledger(paris(2026, 11, 25, 10, 0))
        .classify(paris(2026, 11, 25, 10, 12), "no_impact")
        .add(paris(2026, 11, 25, 10, 15), Action.RESOLVE, reason="seuil ajusté")
    )
    sla = compute(ledger, CAL)
    assert sla.criticality is Criticality.NO_IMPACT
    assert sla.time_to_triage.value == 12 * MIN and sla.time_to_triage.breached is False
    contact = sla.time_to_first_contact
    assert contact.value is None and contact.breached is None
    assert contact.explanation == "sans communication client (sans impact)"
    assert sla.time_to_demande.explanation == "sans demande (sans impact)"
    assert sla.l1_duration.value is None and "sans diagnostic N1" in sla.l1_duration.explanation
    assert sla.time_to_resolution.value == 15 * MIN
    assert sla.breaches == () and not sla.escalated


def test_minor_alert_client_emailed_within_four_business_hours() -> None:
    ledger = (
        Ledger(paris(2026, 11, 27, 17, 30))
        .classify(paris(2026, 11, 30, 9, 10), "minor")
        .contact(paris(2026, 11, 30, 11, 0), channel="email", outcome="sent")
    )
    sla = compute(ledger, CAL)
    contact = sla.time_to_first_contact
    assert contact.value == timedelta(hours=2, minutes=30)  # 30 min Friday + 2 h Monday
    assert contact.wall == timedelta(days=2, hours=17, minutes=30)
    assert contact.target == 4 * HOUR and contact.breached is False
    assert contact.end is not None and contact.end.seq == 3
    assert sla.time_to_demande.explanation == "sans demande (mineur)"
    assert sla.time_to_triage.breached is False  # 40 business minutes


def test_unanswered_call_and_failed_delivery_are_not_a_client_contact() -> None:
    ledger = (
        Ledger(paris(2026, 11, 25, 10, 0))
        .classify(paris(2026, 11, 25, 10, 5), "minor")
        .contact(paris(2026, 11, 25, 10, 10), channel="phone", outcome="no_answer")
        .contact(paris(2026, 11, 25, 10, 11), channel="phone", outcome="voicemail")
        .add(
            paris(2026, 11, 25, 10, 20),
            Action.COMMUNICATION,
            actor="system",
            channel="sms",
            status="failed",
        )
        .add(
            paris(2026, 11, 25, 10, 30),
            Action.COMMUNICATION,
            actor="system",
            channel="email",
            status="delivered",
        )
    )
    contact = compute(ledger, CAL).time_to_first_contact
    assert contact.value == 30 * MIN
    assert contact.end is not None and contact.end.action == Action.COMMUNICATION
    assert "(mer. 25/11 10:30, e-mail, remis)" in contact.explanation


def test_significant_alert_registers_a_demande_and_emails_the_client() -> None:
    ledger = (
        Ledger(paris(2026, 11, 24, 14, 0))
        .classify(paris(2026, 11, 24, 14, 20), "significant")
        .add(paris(2026, 11, 24, 15, 0), Action.REGISTER_DEMANDE, demande_ref="D-7")
        .add(
            paris(2026, 11, 24, 15, 2),
            Action.COMMUNICATION,
            actor="system",
            channel="email",
            status="delivered",
        )
    )
    sla = compute(ledger, CAL)
    assert sla.time_to_demande.value == HOUR and sla.time_to_demande.breached is False
    assert "D-7" in sla.time_to_demande.explanation
    assert sla.time_to_first_contact.value == 62 * MIN
    assert sla.l1_duration.explanation == "sans diagnostic N1 (significatif)"


def test_major_alert_at_1730_friday_is_phoned_and_escalated_by_timer() -> None:
    sla = compute(major_friday_evening(), CAL)
    assert sla.criticality is Criticality.MAJOR
    assert sla.time_to_triage.value == 10 * MIN
    # The unanswered Friday call does not count: Monday 09:15 is the first contact.
    assert sla.time_to_first_contact.value == 45 * MIN
    assert sla.time_to_first_contact.target == HOUR
    assert sla.time_to_demande.value == 50 * MIN
    # The timer fired 40 ms after the one-hour deadline: the contract working, not a breach.
    l1 = sla.l1_duration
    assert l1.value == HOUR + timedelta(milliseconds=40)
    assert l1.breached is False
    assert "par la minuterie" in l1.explanation
    assert sla.escalated and sla.escalated_by == "timer"
    assert sla.breaches == ()


def test_l1_clock_is_business_time_like_the_escalation_timer() -> None:
    started = paris(2026, 11, 27, 17, 30)
    due = CAL.add(started, HOUR)  # what the workflow timer waits for
    ledger = (
        Ledger(paris(2026, 11, 27, 17, 0))
        .classify(paris(2026, 11, 27, 17, 5), "major")
        .add(started, Action.START_L1)
        .add(due, Action.ESCALATE_L2, actor="system", by="timer")
    )
    l1 = compute(ledger, CAL).l1_duration
    assert due == paris(2026, 11, 30, 9, 30)
    assert l1.value == HOUR and l1.breached is False
    assert l1.wall == due - started


def test_l1_ended_by_resolution_and_escalation_by_a_person() -> None:
    resolved = (
        Ledger(paris(2026, 11, 24, 9, 0))
        .classify(paris(2026, 11, 24, 9, 5), "major")
        .add(paris(2026, 11, 24, 9, 10), Action.START_L1)
        .add(paris(2026, 11, 24, 9, 50), Action.RESOLVE)
    )
    sla = compute(resolved, CAL)
    assert sla.l1_duration.value == 40 * MIN and not sla.escalated
    escalated = (
        Ledger(paris(2026, 11, 24, 9, 0))
        .classify(paris(2026, 11, 24, 9, 5), "major")
        .add(paris(2026, 11, 24, 9, 10), Action.START_L1)
        .add(paris(2026, 11, 24, 9, 30), Action.ESCALATE_L2, actor="bob", by="bob")
    )
    sla = compute(escalated, CAL)
    assert sla.escalated_by == "bob" and sla.l1_duration.value == 20 * MIN
    assert "par bob" in sla.l1_duration.explanation


def test_running_l1_is_en_cours_without_now_and_measured_with_now() -> None:
    ledger = (
        Ledger(paris(2026, 11, 24, 9, 0))
        .classify(paris(2026, 11, 24, 9, 5), "major")
        .add(paris(2026, 11, 24, 9, 10), Action.START_L1)
    )
    l1 = compute(ledger, CAL).l1_duration
    assert l1.value is None and l1.breached is None and l1.explanation.endswith("en cours")
    early = compute(ledger, CAL, now=paris(2026, 11, 24, 9, 40)).l1_duration
    assert early.value == 30 * MIN and early.breached is None
    assert "en cours, 0 h 30 ouvrées" in early.explanation
    late = compute(ledger, CAL, now=paris(2026, 11, 24, 10, 40))
    assert late.l1_duration.value == 90 * MIN and late.l1_duration.breached is True
    assert "l1_duration" in late.breaches


# --------------------------------------------------------------------------- life of a case


def test_reclassification_changes_the_figures_that_apply_but_not_triage() -> None:
    ledger = (
        Ledger(paris(2026, 11, 24, 9, 0))
        .classify(paris(2026, 11, 24, 9, 10), "minor")
        .contact(paris(2026, 11, 24, 10, 30))
        .classify(paris(2026, 11, 24, 11, 0), "major", actor="bob")
    )
    sla = compute(ledger, CAL)
    assert sla.criticality is Criticality.MAJOR
    assert sla.time_to_triage.value == 10 * MIN
    assert sla.time_to_triage.end is not None and sla.time_to_triage.end.seq == 2
    # Now major: contact is held to the one-hour target, and must be a person on the phone
    # (the mail sent while it was minor no longer counts); a Demande is due.
    assert sla.time_to_first_contact.target == HOUR
    assert sla.time_to_first_contact.end is None
    later = compute(ledger, CAL, now=paris(2026, 11, 24, 11, 30))
    assert later.time_to_first_contact.breached is True
    assert sla.time_to_demande.target == 2 * HOUR
    assert sla.l1_duration.explanation == "diagnostic N1 non démarré"


def test_downgrade_to_no_impact_drops_the_client_contact_figure() -> None:
    ledger = (
        Ledger(paris(2026, 11, 24, 9, 0))
        .classify(paris(2026, 11, 24, 9, 10), "significant")
        .classify(paris(2026, 11, 24, 9, 30), "no_impact")
    )
    sla = compute(ledger, CAL, now=paris(2026, 11, 25, 9, 0))
    assert sla.criticality is Criticality.NO_IMPACT
    assert sla.time_to_first_contact.value is None
    assert sla.time_to_demande.value is None
    assert sla.breaches == ()


def test_reopened_case_is_resolved_at_its_last_resolution() -> None:
    ledger = (
        Ledger(paris(2026, 11, 24, 9, 0))
        .classify(paris(2026, 11, 24, 9, 10), "no_impact")
        .add(paris(2026, 11, 24, 10, 0), Action.RESOLVE)
        .add(paris(2026, 11, 24, 14, 0), Action.REOPEN, reason="l'alerte revient")
    )
    reopened = compute(ledger, CAL)
    assert reopened.reopened_count == 1
    assert reopened.time_to_resolution.value is None
    assert reopened.time_to_resolution.explanation.endswith("en cours")
    ledger.add(paris(2026, 11, 25, 9, 30), Action.RESOLVE).add(
        paris(2026, 11, 25, 9, 31), Action.CLOSE
    )
    resolved = compute(ledger, CAL)
    assert resolved.time_to_resolution.value == timedelta(hours=9, minutes=30)
    assert resolved.time_to_resolution.end is not None
    assert resolved.time_to_resolution.end.seq == 5
    assert resolved.time_to_triage.value == 10 * MIN  # still the first classification


def test_missing_contact_before_closure_is_a_breach_once_its_deadline_passed() -> None:
    ledger = (
        Ledger(paris(2026, 11, 24, 9, 0))
        .classify(paris(2026, 11, 24, 9, 10), "minor")
        .add(paris(2026, 11, 24, 16, 0), Action.RESOLVE)
        .add(paris(2026, 11, 24, 16, 5), Action.CLOSE)
    )
    contact = compute(ledger, CAL).time_to_first_contact
    assert contact.value is None and contact.breached is True
    assert "aucun contact client avant la résolution n° 3" in contact.explanation
    assert "échéance mar. 24/11 13:00" in contact.explanation
    quick = (
        Ledger(paris(2026, 11, 24, 9, 0))
        .classify(paris(2026, 11, 24, 9, 10), "minor")
        .add(paris(2026, 11, 24, 9, 20), Action.RESOLVE)
    )
    assert compute(quick, CAL).time_to_first_contact.breached is False


def test_unclassified_case_runs_its_triage_clock() -> None:
    ledger = Ledger(paris(2026, 11, 27, 17, 30))
    sla = compute(ledger, CAL)
    assert sla.criticality is None
    assert sla.time_to_triage.explanation.endswith("en cours")
    assert sla.time_to_first_contact.explanation == "criticité non encore définie"
    late = compute(ledger, CAL, now=paris(2026, 11, 30, 10, 0))
    assert late.time_to_triage.value == 90 * MIN
    assert late.breaches == ("time_to_triage",)
    assert "échéance lun. 30/11 09:30" in late.time_to_triage.explanation


def test_breaches_are_flagged_with_their_overshoot() -> None:
    ledger = (
        Ledger(paris(2026, 11, 24, 9, 0))
        .classify(paris(2026, 11, 24, 10, 30), "significant")
        .add(paris(2026, 11, 24, 13, 0), Action.REGISTER_DEMANDE, demande_ref="D-9")
        .contact(paris(2026, 11, 24, 13, 0))
    )
    sla = compute(ledger, CAL)
    assert sla.breaches == ("time_to_triage", "time_to_demande")
    assert sla.time_to_triage.explanation.endswith("objectif 1 h 00 ouvrées : dépassé de 0 h 30")
    assert sla.time_to_first_contact.breached is False


def test_targets_are_configurable() -> None:
    ledger = Ledger(paris(2026, 11, 24, 9, 0)).classify(paris(2026, 11, 24, 9, 40), "minor")
    strict = SlaTargets(triage=30 * MIN, tolerance=timedelta(0))
    assert compute(ledger, CAL, strict).time_to_triage.breached is True
    assert compute(ledger, CAL, SlaTargets(triage=None)).time_to_triage.breached is None


def test_site_calendar_changes_business_time() -> None:
    # Received Thursday 24/12/2025 17:30; Friday 26/12 is a holiday in Moselle only.
    ledger = Ledger(paris(2025, 12, 24, 17, 30)).classify(paris(2025, 12, 29, 9, 0), "no_impact")
    moselle = BusinessCalendar(BusinessHours(subdiv=MOSELLE))
    assert compute(ledger, moselle).time_to_triage.value == 30 * MIN
    assert compute(ledger, CAL).time_to_triage.value == timedelta(hours=9, minutes=30)


# --------------------------------------------------------------------------- derivation


def test_derivation_mentions_the_two_entries() -> None:
    ledger = Ledger(paris(2026, 11, 27, 18, 30)).classify(
        paris(2026, 11, 30, 9, 40), "minor", actor="alice"
    )
    triage = compute(ledger, CAL).time_to_triage
    assert triage.start is not None and triage.start.action == Action.OPEN
    assert triage.end is not None and triage.end.action == Action.CLASSIFY
    assert triage.explanation.startswith(
        "Du signalement n° 1 (ven. 27/11 18:30) à la classification n° 2 par alice "
        "(lun. 30/11 09:40, mineur) : 0 h 40 ouvrées (2 j 15 h 10 calendaires)"
    )


def test_derivation_shows_years_when_the_span_crosses_new_year() -> None:
    ledger = Ledger(paris(2026, 12, 31, 17, 0)).classify(paris(2027, 1, 4, 9, 30), "minor")
    text = compute(ledger, CAL).time_to_triage.explanation
    assert "(jeu. 31/12/2026 17:00)" in text and "(lun. 04/01/2027 09:30" in text


# --------------------------------------------------------------------------- ordering


def test_out_of_order_ledger_entries_give_the_same_figures() -> None:
    entries = major_friday_evening().entries
    expected = compute(entries, CAL)
    rng = random.Random(20261127)
    for _ in range(20):
        shuffled = entries[:]
        rng.shuffle(shuffled)
        assert compute(shuffled, CAL) == expected


@settings(max_examples=30, deadline=None)
@given(order=st.permutations(range(9)), now_minutes=st.integers(0, 5000))
def test_any_arrival_order_gives_the_same_figures(order: list[int], now_minutes: int) -> None:
    entries = (
        major_friday_evening().add(paris(2026, 11, 30, 14, 0), Action.RESOLVE, actor="carol")
    ).entries
    assert len(entries) == len(order)
    now = paris(2026, 11, 27, 17, 30) + timedelta(minutes=now_minutes)
    assert compute([entries[i] for i in order], CAL, now=now) == compute(entries, CAL, now=now)


def test_same_instant_entries_are_ordered_by_seq() -> None:
    at = paris(2026, 11, 24, 9, 0)
    ledger = Ledger(at).classify(at + MIN, "minor").classify(at + MIN, "significant", actor="bob")
    assert compute(reversed(ledger.entries), CAL).criticality is Criticality.SIGNIFICANT


def test_unknown_actions_are_ignored() -> None:
    ledger = (
        Ledger(paris(2026, 11, 24, 9, 0))
        .add(paris(2026, 11, 24, 9, 1), "future_action", foo="bar")
        .add(paris(2026, 11, 24, 9, 2), Action.NOTE, text="appel prévu")
        .classify(paris(2026, 11, 24, 9, 5), "no_impact")
    )
    assert compute(ledger, CAL).time_to_triage.value == 5 * MIN


# --------------------------------------------------------------------------- refusals


def test_ledger_without_opening_refused() -> None:
    entries = major_friday_evening().entries[1:]
    with pytest.raises(ValueError, match="ouverture"):
        compute(entries, CAL)


def test_unknown_criticality_refused() -> None:
    ledger = Ledger(paris(2026, 11, 24, 9, 0)).classify(paris(2026, 11, 24, 9, 5), "critical")
    with pytest.raises(ValueError, match="criticité inconnue"):
        compute(ledger, CAL)


def test_naive_times_refused() -> None:
    with pytest.raises(ValueError, match="sans fuseau"):
        LedgerEntry(1, datetime(2026, 11, 24, 9, 0), Action.OPEN, None, "new", "intake")
    with pytest.raises(ValueError, match="sans fuseau"):
        compute(major_friday_evening(), CAL, now=datetime(2026, 12, 1, 9, 0))


# --------------------------------------------------------------------------- output


def test_to_dict_is_json_friendly() -> None:
    sla = compute(major_friday_evening(), CAL)
    payload = json.loads(json.dumps(sla.to_dict()))
    assert payload["criticality"] == "major" and payload["escalated_by"] == "timer"
    triage = payload["figures"]["time_to_triage"]
    assert triage["value_seconds"] == 600.0 and triage["target_seconds"] == 3600.0
    assert triage["start"]["seq"] == 1 and triage["end"]["action"] == "classify"
    assert triage["end"]["at"] == "2026-11-27T17:40:00+01:00"
    assert list(payload["figures"]) == list(FIGURE_NAMES)
    assert [f.name for f in sla.figures()] == list(FIGURE_NAMES)


def test_ledger_entry_round_trips_and_serialises() -> None:
    entry = major_friday_evening().entries[5]
    assert LedgerEntry.from_dict(json.loads(json.dumps(entry.to_dict()))) == entry
    assert dataclasses.asdict(entry)["data"] == {"demande_ref": "D-2026-0042"}
    hash(entry)


def _case(triage_minutes: int, escalated: bool) -> CaseSla:
    opened = paris(2026, 11, 24, 9, 0)
    ledger = Ledger(opened).classify(opened + triage_minutes * MIN, "major")
    if escalated:
        ledger.add(opened + 100 * MIN, Action.START_L1)
        ledger.add(opened + 160 * MIN, Action.ESCALATE_L2, actor="system", by="timer")
    return compute(ledger, CAL)


def test_aggregate_for_the_managers_view() -> None:
    cases = [_case(m, escalated=(m % 20 == 0)) for m in (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)]
    summary = aggregate(cases)
    assert summary["count"] == 10
    assert summary["escalated"] == 5 and summary["escalated_pct"] == 50.0
    triage = summary["figures"]["time_to_triage"]
    assert triage["measured"] == 10
    assert triage["median_seconds"] == 55 * 60
    assert triage["p90_seconds"] == 90 * 60  # nearest rank: 9th of 10
    assert summary["breaches"]["time_to_triage"] == 4  # 70, 80, 90, 100 minutes
    assert summary["figures"]["l1_duration"]["measured"] == 5
    assert summary["by_criticality"] == {"major": 10}
    json.dumps(summary)


def test_aggregate_of_no_case() -> None:
    summary = aggregate([])
    assert summary["count"] == 0 and summary["escalated_pct"] is None
    assert summary["figures"]["time_to_triage"]["median_seconds"] is None


# --------------------------------------------------------------------------- major: by phone


def major_called_by_robot(*news: tuple[int, str, str]) -> Ledger:
    """A major case on Tuesday 24/11/2026: triaged 10:05, Demande 10:10, then the automated
    calls' news (minutes after 10:10, channel, status) as the workflow records them."""
    ledger = (
        Ledger(paris(2026, 11, 24, 10, 0))
        .classify(paris(2026, 11, 24, 10, 5), "major")
        .add(paris(2026, 11, 24, 10, 10), Action.REGISTER_DEMANDE, demande_ref="D-9")
    )
    outcomes = {"sent": "sent", "confirmed": "reached", "no_answer": "no_answer"}
    for minutes, channel, status in news:
        data = {"channel": channel, "status": status, "step": "l1_call"}
        if status in outcomes:
            data["outcome"] = outcomes[status]
        ledger.add(paris(2026, 11, 24, 10, 10) + minutes * MIN, Action.COMMUNICATION,
                   actor="system", **data)
    return ledger


def test_a_major_fallback_mail_is_no_first_contact_and_the_clock_keeps_running() -> None:
    ledger = major_called_by_robot(
        (1, "phone", "no_answer"), (7, "phone", "dry_run"), (8, "email", "sent"))
    sla = compute(ledger, CAL, now=paris(2026, 11, 24, 11, 30))
    contact = sla.time_to_first_contact
    assert contact.end is None  # the mail did not stop it
    assert contact.value == 90 * MIN and contact.breached is True  # 1 h target for a major
    assert "en cours" in contact.explanation
    # the same ledger for a minor case: the mail is the first contact
    minor = [e if e.action != Action.CLASSIFY else LedgerEntry(
        e.seq, e.at, e.action, None, None, e.actor, data={"criticality": "minor"})
        for e in ledger]
    assert compute(minor, CAL).time_to_first_contact.end.seq == 6


def test_a_major_case_closed_without_anybody_on_the_phone_breaches_its_first_contact() -> None:
    ledger = major_called_by_robot((8, "email", "sent")).contact(
        paris(2026, 11, 24, 10, 30), channel="email", outcome="sent").add(
        paris(2026, 11, 24, 12, 0), Action.RESOLVE)
    contact = compute(ledger, CAL).time_to_first_contact
    assert contact.end is None and contact.breached is True
    assert "aucune personne jointe par téléphone avant la résolution" in contact.explanation


@pytest.mark.parametrize(
    ("news", "first"),
    [
        ([(3, "phone", "confirmed")], 4),  # an automated call answered with the keypress
        ([(3, "phone", "answered")], 4),  # the first version of the signal
        ([(2, "email", "sent"), (5, "phone", "confirmed")], 5),
    ],
)
def test_a_major_first_contact_is_a_person_reached_by_phone(
    news: list[tuple[int, str, str]], first: int
) -> None:
    contact = compute(major_called_by_robot(*news), CAL).time_to_first_contact
    assert contact.end is not None and contact.end.seq == first
    assert contact.breached is False


def test_a_call_a_technician_records_as_reached_is_the_major_first_contact() -> None:
    ledger = major_called_by_robot((8, "email", "sent")).contact(
        paris(2026, 11, 24, 10, 40), channel="phone", outcome="reached")
    contact = compute(ledger, CAL).time_to_first_contact
    assert contact.end is not None and contact.end.action == Action.RECORD_CONTACT
    assert contact.value == 40 * MIN
