"""Words, not keys, on the visit pages and documents (issue 19, finding 9): the consultant's
calendar says "état : confirmée", the technical document "principal" and "Vigie
(automatique)", the entitlement page no setting's name, and a French page writes its
decimals with a comma ("0 (0,0 %)")."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from icalendar import Calendar
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from console.feed_links import ics_url
from models.db import session_scope
from models.tables import User
from models.visits import Visit
from planning import techdoc
from tests.browser.support import Desk, make_desk


@pytest.fixture
def desk(sqlite_engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(sqlite_engine, tmp_path)


def test_the_calendar_feed_says_the_state_in_words(desk: Desk) -> None:
    with session_scope(desk.engine) as s:
        cid = s.exec(select(User.id).where(User.username == "conseil")).one() or 0
        visit = s.exec(select(Visit).where(Visit.client_id == desk.clients["client-a"],
                                           Visit.state == "planned")).first()
        assert visit is not None
        visit.state, visit.date, visit.consultant_id = "confirmed", dt.date(2027, 3, 16), cid
        s.add(visit)
    feed = desk.client().get(ics_url(desk.app.state.services, cid))
    [event] = [e for e in Calendar.from_ical(feed.content).walk("VEVENT")
               if e.decoded("dtstart") == dt.date(2027, 3, 16)]
    description = str(event.get("description"))
    assert "état : confirmée" in description and "confirmed" not in description


def test_the_technical_document_names_roles_and_authors_in_words(desk: Desk) -> None:
    cid = desk.clients["client-a"]
    with session_scope(desk.engine) as s:
        doc = techdoc.save_version(s, cid, {"network": "LAN"}, "system", None)
        contacts = doc.sections.get("contacts", "")
    assert "(principal)" in contacts and "(suppléant)" in contacts
    assert "(primary)" not in contacts and "(backup)" not in contacts
    http, _ = desk.signed_in("consultant")
    for lang, author in (("fr", "Vigie (automatique)"), ("en", "Vigie (automatic)")):
        page = http.get(f"/clients/{cid}/techdoc?lang={lang}").text
        assert author in page and "(system)" not in page and "— system<" not in page


def test_the_entitlement_page_names_no_setting(desk: Desk) -> None:
    http, _ = desk.signed_in("manager")
    for lang in ("fr", "en"):
        page = http.get(f"/entitlements?lang={lang}")
        assert page.status_code == 200 and "VIGIE_VISIT_COUNTING" not in page.text


def test_french_pages_write_decimals_with_a_comma(desk: Desk) -> None:
    """Babel writes the share for each language: French comma and no-break space before
    the sign, English point and no space."""
    http, _ = desk.signed_in("manager")
    french = http.get("/sla?lang=fr").text
    assert "0 (0,0\u00a0%)" in french and "(0.0" not in french
    english = http.get("/sla?lang=en").text
    assert "0 (0.0%)" in english and "(0,0" not in english


def test_visit_pages_write_one_date_format_and_their_timeline_in_english(desk: Desk) -> None:
    """dd/mm/yyyy on the visit pages (ISO only in form fields), the workflow's sentences of
    the timeline in the page's language."""
    from messages.visits import VisitEventInput
    from planning.visits import append_event

    at = dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC)
    with session_scope(desk.engine) as s:
        visit = s.exec(select(Visit).where(Visit.client_id == desk.clients["client-a"],
                                           Visit.state == "planned")).first()
        assert visit is not None
        visit.state, visit.proposal = "awaiting_client", 1
        visit.proposed_dates = ["2027-03-16", "2027-03-18"]
        s.add(visit)
        vid = visit.id or 0
        for seq, (action, reason, data) in enumerate((
                ("plan", "fenêtre 2027-01-01 – 2027-06-30", {}),
                ("remind", "relance automatique", {}),
                ("client_answer_refused", "date 2027-03-17 non proposée",
                 {"proposal": "1", "date": "2027-03-17", "via": "link"})), start=1):
            append_event(s, VisitEventInput(vid, seq, at, action, "system", None, None,
                                            reason, data))
    http, _ = desk.signed_in("planner")
    with Session(desk.engine) as s:
        ids = [v.id for v in s.exec(select(Visit)).all()]
    from tests.test_console_words import visible_text

    iso = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
    for url in ["/planning", "/entitlements", "/visits/mine", *(f"/visits/{i}" for i in ids)]:
        for lang in ("fr", "en"):
            text = visible_text(http.get(f"{url}?lang={lang}").text)
            assert not iso.search(text), (url, lang, iso.findall(text))
    french = visible_text(http.get(f"/visits/{vid}?lang=fr").text)
    assert "16/03/2027, 18/03/2027" in french and "fenêtre 01/01/2027 – 30/06/2027" in french
    english = visible_text(http.get(f"/visits/{vid}?lang=en").text)
    assert "window 01/01/2027 – 30/06/2027" in english and "automatic reminder" in english
    assert "date 17/03/2027 not proposed" in english
    assert "fenêtre" not in english and "relance" not in english


def test_the_history_of_dates_reads_in_the_page_s_language() -> None:
    """The workflow's history lines (``VisitView.history``), as the visit page shows them."""
    from console.i18n_visits import visit_text

    lines = {
        "proposition 2 : 2027-03-16, 2027-03-17":
            ("proposition 2 : 16/03/2027, 17/03/2027", "proposal 2: 16/03/2027, 17/03/2027"),
        "date 2027-03-16 abandonnée : client absent":
            ("date 16/03/2027 abandonnée : client absent",
             "date 16/03/2027 dropped: client absent"),
        "date prévue 2027-03-16, visite faite le 2027-03-17":
            ("date prévue 16/03/2027, visite faite le 17/03/2027",
             "date booked 16/03/2027, visit done on 17/03/2027"),
    }
    for recorded, (french, english) in lines.items():
        assert visit_text("fr", recorded) == french
        assert visit_text("en", recorded) == english
