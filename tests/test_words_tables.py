"""Les tables de mots écrites sous la console (états de visite et de mise en service, options,
sections du dossier technique, sujets du journal d'accès, colonnes des exports SLA) passent
par le catalogue, comme le reste des pages.

The label tables written beneath the console mark their French with ``messages.words`` and
are read through the catalog, like every other word of the pages: each is translated, and
a word that reads differently by where it stands keeps its own context ("en cours": a
contract in force, a visit in progress)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console.contracts_view import option_label
from console.i18n import translated
from console.pages_sla import CASE_COLUMNS, group_table
from console.pages_visits import section_title, state_name
from contracts.privacy import SUBJECT_LABELS
from domain.contract import OPTIONS
from messages.contracts import ONBOARDING_STATE_LABELS
from messages.visits import STATE_LABELS, STATE_WORDS, VisitState
from messages.words import Contextual
from planning.techdoc import SECTIONS


def every_word() -> Iterator[str | Contextual]:
    yield from STATE_WORDS.values()
    yield from ONBOARDING_STATE_LABELS.values()
    yield from OPTIONS.values()
    yield from (title for _, title in SECTIONS)
    yield from SUBJECT_LABELS.values()
    yield from CASE_COLUMNS


@pytest.mark.parametrize("word", list(every_word()), ids=str)
def test_each_word_of_the_tables_is_in_the_english_catalog(word: str | Contextual) -> None:
    if isinstance(word, Contextual):
        assert translated(word.text, context=word.context), word
    else:
        assert translated(word), word


def test_a_visit_in_progress_is_not_a_contract_in_force() -> None:
    assert state_name("en", VisitState.IN_PROGRESS) == "in progress"
    assert state_name("fr", VisitState.IN_PROGRESS) == "en cours"
    # the calendar feed and the ledger keep writing the French
    assert STATE_LABELS[VisitState.IN_PROGRESS] == "en cours"


def test_the_pages_say_the_tables_in_their_language() -> None:
    assert section_title("en", "devices") == "Other devices (printers, UPS)"
    assert section_title("fr", "devices") == "Autres équipements (imprimantes, onduleurs)"
    assert option_label("security_appliance", "en") == "Security appliance"
    assert option_label("security_appliance", "fr") == "Boîtier de sécurité"
    assert option_label("unknown_option", "en") == "unknown_option"


def test_the_sla_export_header_is_in_the_reader_s_language() -> None:
    report = {"groups": [], "total": _Total()}
    en, _ = group_table(report, "en")
    fr, _ = group_table(report, "fr")
    assert en[:2] == ["Group", "Cases"] and fr[:2] == ["Groupe", "Cas"]
    assert en[-2:] == ["Escalated to L2 (%)", "Cases in breach"]
    assert any(h.endswith("— median (min)") for h in en)
    assert any(h.endswith("— médiane (min)") for h in fr)
    assert not any("médiane" in h or "hors délai" in h for h in en)


class _Total:
    """An empty SLA group: only the header is read here."""

    label = "Total"
    count = 0
    escalated_pct = None
    breached_cases = 0

    def figure(self, name: str) -> dict[str, float | int | None]:
        return {"median_seconds": None, "p90_seconds": None, "breaches": 0}
