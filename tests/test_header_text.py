"""Text that can reach a mail header is refused at input when it holds a line break (issue
21, finding 7). A contact named ``Jean\\r\\nBcc: …`` used to be stored from the admin form and
the CSV import; every proposal mail to that contact then failed at sending time (Python's
``email`` refuses such a ``To:``) and the visit stayed "proposed". Now each door refuses it,
naming the field, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from console.auth import create_api_token
from console.inventory_csv import COLUMNS, import_inventory
from domain.header_text import first_multiline, has_line_break
from models.tables import Client, Contact, Site, User
from planning.notify import mailbox
from tests.browser.support import Desk, add_case, make_desk

BROKEN_NAMES = ["Jean Dupont\r\nBcc: x@evil.example", "Jean\nDupont", "Jean\rDupont",
                "Jean\u2028Dupont", "Jean\x00Dupont"]


@pytest.fixture
def desk(sqlite_engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(sqlite_engine, tmp_path)


def contacts(engine: Engine, client_id: int) -> list[str]:
    with Session(engine) as s:
        return [c.name for c in s.exec(select(Contact).where(Contact.client_id == client_id))]


def test_what_a_header_would_choke_on_is_a_line_break() -> None:
    for name in BROKEN_NAMES:
        assert has_line_break(name), repr(name)
    assert not has_line_break("Zoé Müller-Dupont (astreinte)")
    assert first_multiline({"email": "a@b.example", "name": "A\r\nB"}) == "name"
    from email.message import EmailMessage

    with pytest.raises(ValueError):  # what the mail activity met when one got through
        EmailMessage()["To"] = f"{BROKEN_NAMES[1]} <jean@client.example>"


def test_a_name_stored_before_the_check_still_makes_a_sendable_mailbox() -> None:
    """Contacts stored with a line break before this check: their mail goes all the same."""
    from email.message import EmailMessage

    from activities.mail import mailbox as case_mailbox

    for make in (mailbox, case_mailbox):
        for name in BROKEN_NAMES[:4]:
            msg = EmailMessage()
            msg["To"] = make(name, "jean@client.example")
            assert "\n" not in str(msg["To"]) and "jean@client.example" in str(msg["To"])


@pytest.mark.parametrize("name", BROKEN_NAMES)
def test_the_admin_form_refuses_a_contact_name_with_a_line_break(desk: Desk, name: str) -> None:
    http, token = desk.signed_in("admin")
    cid = desk.clients["client-a"]
    before = contacts(desk.engine, cid)
    answer = http.post(f"/admin/clients/{cid}/contacts",
                       data={"name": name, "email": "jean@client-a.example", "role": "primary",
                             "csrf_token": token})
    assert answer.status_code == 303
    page = http.get(f"/admin/clients/{cid}").text
    assert "Champ « name » : retour à la ligne interdit" in page
    assert contacts(desk.engine, cid) == before


def test_every_admin_form_refuses_a_line_break_and_says_so_in_english_too(desk: Desk) -> None:
    http, token = desk.signed_in("admin")
    cid = desk.clients["client-a"]
    http.post(f"/admin/clients/{cid}", data={"name": "Alpha\r\nSubject: x", "csrf_token": token})
    http.post(f"/admin/clients/{cid}/sites", data={"name": "Site\nB", "csrf_token": token})
    http.post("/admin/users", data={"username": "bob", "full_name": "Bob\r\nBcc: y",
                                    "role": "technician", "password": "long enough password",
                                    "csrf_token": token})
    assert "Field “full_name”: no line break allowed" in http.get("/admin/users?lang=en").text
    with Session(desk.engine) as s:
        assert "\r" not in (s.get(Client, cid) or Client()).name
        assert s.exec(select(Site).where(Site.name == "Site\nB")).first() is None
        assert s.exec(select(User).where(User.username == "bob")).first() is None


def test_the_csv_import_refuses_a_quoted_cell_with_a_line_break(sqlite_engine: Engine) -> None:
    """A quoted CSV cell may hold a line break, and ``strip()`` keeps the inner one."""
    from tests.browser.support import load_demo_clients

    load_demo_clients(sqlite_engine)
    cells = {c: "" for c in COLUMNS}
    cells.update(type="contact", client="client-a", name='"Jean\r\nBcc: x@evil.example"',
                 email="jean@client-a.example", role="primary")
    data = (";".join(COLUMNS) + "\n" + ";".join(cells[c] for c in COLUMNS) + "\n").encode()
    for dry_run in (True, False):
        report = import_inventory(sqlite_engine, data, dry_run=dry_run)
        assert report.errors == [(2, "colonne « name » : retour à la ligne interdit")]  # its start
        assert not report.applied
    with Session(sqlite_engine) as s:
        assert s.exec(select(Contact).where(Contact.email == "jean@client-a.example")).first() \
            is None


def test_the_api_refuses_a_line_break_in_a_one_line_field_with_a_422(desk: Desk) -> None:
    case_id = add_case(desk.engine, desk.clients["client-a"])
    http = desk.client()
    auth = {"Authorization": f"Bearer {create_api_token(desk.engine, 'tech')}"}
    for body in ({"assignee": "tech\r\nBcc: x@evil.example"},
                 {"demande_ref": "DEM-1\nX"}, {"assignee": ["tech"]}):
        answer = http.post(f"/api/cases/{case_id}/actions/add_note", json=body, headers=auth)
        assert answer.status_code == 422, (body, answer.text)
        assert "Valeur invalide" in answer.json()["detail"]
    # multi-line free text (a note, the instructions' body) stays allowed: it is no header
    ok = http.post(f"/api/cases/{case_id}/actions/add_note", json={"text": "ligne 1\nligne 2"},
                   headers=auth)
    assert ok.status_code == 503  # past the checks; no Temporal in this test
