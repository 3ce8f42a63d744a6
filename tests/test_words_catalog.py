"""The console's words are Babel catalogs (issue 25): French in the sources is the msgid,
English is ``console/locale/en/LC_MESSAGES/messages.po``. The catalog is complete (no
untranslated or fuzzy entry), the committed ``.pot`` is what ``pybabel extract`` finds in
today's sources, plurals follow each language's rule, numbers, percentages and dates are
Babel's, and the case timeline the workflow writes in French reads in English.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from sqlalchemy.engine import Engine

from console import i18n
from console.i18n_timeline import SYSTEM_REASONS, timeline_reason
from models.db import session_scope
from models.tables import AuditEvent
from tests.browser.support import MONDAY_9H, Desk, add_case, make_desk
from tests.test_console_words import internal_tokens, problems_in, visible_text

ROOT = Path(__file__).resolve().parents[1]
POT = ROOT / "console" / "locale" / "messages.pot"


def keys(path: Path) -> set[tuple[str | None, str | tuple[str, ...]]]:
    with path.open("rb") as fp:
        return {(m.context, m.id) for m in read_po(fp) if m.id}


def test_every_english_message_is_translated_and_none_is_fuzzy() -> None:
    untranslated, fuzzy = [], []
    for message in i18n.po_catalog("en"):
        if not message.id:
            continue
        if message.fuzzy:
            fuzzy.append(message.id)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            untranslated.append(message.id)
    assert not untranslated and not fuzzy, (untranslated, fuzzy)
    assert len(i18n.po_catalog("en")) > 1000  # the whole console, not a stub


def test_the_committed_template_is_what_pybabel_extracts_from_todays_sources(
    tmp_path: Path,
) -> None:
    """A French text added, changed or removed in a template or the console's Python
    without ``scripts/words.py extract`` and ``update`` fails here."""
    fresh = tmp_path / "messages.pot"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "words.py"), "extract", str(fresh)],
                   check=True, cwd=ROOT)
    extracted, committed = keys(fresh), keys(POT)
    assert extracted == committed, (
        f"new: {sorted(map(str, extracted - committed))[:20]} "
        f"gone: {sorted(map(str, committed - extracted))[:20]}"
    )
    english = keys(i18n.po_path("en"))
    assert english == committed, sorted(map(str, english ^ committed))[:20]


def test_the_extraction_sees_templates_python_labels_plurals_and_contexts() -> None:
    """What each source kind gives the template (a regression in babel.cfg would empty one)."""
    found = keys(POT)
    assert (None, "File d'attente") in found  # a template's _() and web.NAV's N_()
    assert (None, "ouverture") in found  # a label table's N_()
    assert ("SLA", "par") in found and ("visite", "par") in found  # NC_(): one French, two
    assert (None, ("%(count)s cas", "%(count)s cas")) in found  # {% trans count=... %}
    assert i18n.pgettext("en", "SLA", "par") == "by"
    assert i18n.pgettext("en", "visite", "par") == "through"


@pytest.mark.parametrize(("lang", "n", "said"), [
    ("fr", 0, "0 répétition"), ("fr", 1, "1 répétition"), ("fr", 2, "2 répétitions"),
    ("en", 0, "0 repeats"), ("en", 1, "1 repeat"), ("en", 2, "2 repeats"),
])
def test_plurals_follow_each_languages_rule(lang: str, n: int, said: str) -> None:
    """French says "0 répétition" (0 and 1 are singular), English "0 repeats"."""
    text = i18n.ngettext(lang, "%(count)s répétition", "%(count)s répétitions", n)
    assert text % {"count": n} == said


def test_numbers_percentages_and_dates_are_babels_for_each_language() -> None:
    assert i18n.number("fr", 1234.5) == "1\u202f234,5"
    assert i18n.number("en", 1234.5) == "1,234.5"
    assert i18n.percent("fr", 0) == "0,0\u00a0%"
    assert i18n.percent("en", 12.5) == "12.5%"
    winter = datetime(2026, 12, 7, 20, 5, tzinfo=UTC)  # Paris is UTC+1
    summer = datetime(2027, 7, 7, 20, 5, tzinfo=UTC)  # UTC+2
    assert i18n.moment("fr", winter, "Europe/Paris") == "07/12/2026 21:05"
    assert i18n.moment("en", summer, "Europe/Paris", "day_time") == "07/07 22:05"
    assert i18n.moment("fr", None, "Europe/Paris") == "—"
    assert i18n.day_name("fr", "2027-03-16") == "mardi 16 mars 2027"
    assert i18n.day_name("en", "2027-03-16") == "Tuesday 16 March 2027"


def test_the_case_workflows_reasons_are_in_the_catalog() -> None:
    """Every reason constant of the case machine is one of the timeline's msgids (a new
    one without its English fails here), and each reads in English."""
    from workflows import case_machine

    constants = {v for k, v in vars(case_machine).items()
                 if k.endswith("_REASON") and isinstance(v, str)}
    assert constants and constants <= set(SYSTEM_REASONS), constants - set(SYSTEM_REASONS)
    tokens = internal_tokens("en")
    for reason in SYSTEM_REASONS:
        english = timeline_reason("en", reason)
        assert english != reason and not problems_in(english, "en", [], tokens), english
        assert timeline_reason("fr", reason) == reason


def test_a_call_line_of_the_contact_workflow_reads_in_english() -> None:
    """The line as ``workflows.contact`` builds it: its fixed phrases in English, the
    contact's name and the values the evidence recorded as they are."""
    from workflows.contact import PHONE_STILL_DUE, ROLE_LABELS

    line = f"Jean Martin ({ROLE_LABELS['primary']}), appel 2/3 : confié à Twilio : CA12"
    assert timeline_reason("en", line) == (
        "Jean Martin (primary contact), call 2/3 : handed to Twilio : CA12")
    fallback = "aucun contact joint par téléphone" + " ; mail de repli" + PHONE_STILL_DUE
    assert timeline_reason("en", fallback) == (
        "no contact reached by phone; fallback mail; the first contact (a person on the "
        "phone) is still to do")
    dry_run = ("Jean Martin (contact principal), appel 1/2 : dry-run : appel vers +3312 "
               "enregistré, non envoyé (VIGIE_PHONE_TRANSPORT=dry-run)")  # activities.phone
    assert timeline_reason("en", dry_run) == (
        "Jean Martin (primary contact), call 1/2 : dry run: call to +3312 recorded, not "
        "placed (VIGIE_PHONE_TRANSPORT=dry-run)")
    typed = "Le client rappelle demain"  # what a person wrote stays as written
    assert timeline_reason("en", typed) == typed


@pytest.fixture
def desk(sqlite_engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(sqlite_engine, tmp_path)


def test_the_english_case_page_shows_the_workflows_timeline_in_english(desk: Desk) -> None:
    """A ledger the workflow wrote (French reasons) on the case page and its SLA
    derivation: English page, English lines; the French page keeps the French."""
    from workflows.case_machine import AUTO_CLOSE_REASON, L1_TIMEOUT_REASON, RECOVERY_REASON

    case_id = add_case(desk.engine, desk.clients["client-a"], criticality="major",
                       state="closed", closed=True)
    reasons = [L1_TIMEOUT_REASON, RECOVERY_REASON, AUTO_CLOSE_REASON,
               "Jean Martin (contact principal), appel 1/2 : dry-run"]
    with session_scope(desk.engine) as s:
        for seq, (action, reason) in enumerate(
                zip(("escalate_l2", "resolve", "close", "communication"), reasons,
                    strict=True), start=2):
            s.add(AuditEvent(case_id=case_id, seq=seq, action=action, actor="system",
                             at=MONDAY_9H + timedelta(minutes=10 * seq), reason=reason))
    http, _ = desk.signed_in("technician")
    for path in (f"/cases/{case_id}", f"/cases/{case_id}/sla"):
        english = visible_text(http.get(f"{path}?lang=en").text)
        french = visible_text(http.get(f"{path}?lang=fr").text)
        for reason in reasons:
            assert reason not in english and timeline_reason("en", reason) in english, path
            assert reason in french, path
