"""The unmatched queue when the sender is known but the server is not: the sender's client's
servers come first, and the technician can create the missing server from the message (it
lands in the client's inventory, the message is attached to it and routed to its case)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.db import session_scope
from models.tables import AlertEventRow, Outbox, RawMessage, Server
from models.types import utcnow
from tests.browser.support import Desk, make_desk


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(engine, tmp_path)


def unknown_host_from_client_b(desk: Desk) -> int:
    """A mail from client B's own domain naming a server B's inventory lacks."""
    mail = (
        "From: supervision@client-b.example\r\nSubject: SRV-NEW01 disk\r\n\r\n"
        "Host: SRV-NEW01\r\n"
    )
    with session_scope(desk.engine) as s:
        raw = RawMessage(sha256="b" * 64, data=mail.encode(),
                         mail_from="supervision@client-b.example")  # fmt: skip
        s.add(raw)
        s.flush()
        s.add(Outbox(raw_message_id=raw.id or 0, done_at=utcnow()))
        ev = AlertEventRow(raw_message_id=raw.id or 0, family="disk_space", status="problem",
                           check="disk_free", host="SRV-NEW01.client-b.lan", triage="pending",
                           summary="SRV-NEW01 disque plein")  # fmt: skip
        s.add(ev)
        s.flush()
        return ev.id or 0


def test_the_senders_client_servers_come_first(desk: Desk) -> None:
    event_id = unknown_host_from_client_b(desk)
    b = desk.clients["client-b"]
    with Session(desk.engine) as s:
        b_hosts = set(s.exec(select(Server.hostname).where(Server.client_id == b)).all())
        others = set(s.exec(select(Server.hostname).where(Server.client_id != b)).all())
    assert b_hosts and others
    http, _ = desk.signed_in("technician")
    page = http.get("/unmatched").text
    row = page.split(f'data-event="{event_id}"', 1)[1].split("</tr>", 1)[0]
    select_html = row.split('name="server_id"', 1)[1].split("</select>", 1)[0]
    groups = re.findall(r'<optgroup label="([^"]*)">(.*?)</optgroup>', select_html, re.S)
    assert len(groups) == 2, select_html
    first_label, first = groups[0]
    assert "client de l&#39;expéditeur" in first_label
    assert set(re.findall(r">([^<>]+)</option>", first)) == b_hosts  # B's servers, first
    assert all(host not in first for host in others - b_hosts)
    # "create this server" proposes B, and the host the message names
    create = row.split('action="/unmatched/', 2)[-1]
    assert f'<option value="{b}" selected>' in create
    assert 'value="srv-new01"' in create  # normalized as the inventory keeps it
    english = http.get("/unmatched?lang=en").text
    assert "the sender&#39;s client" in english and "Create this server" in english


def test_create_the_missing_server_from_the_message(desk: Desk) -> None:
    event_id = unknown_host_from_client_b(desk)
    b = desk.clients["client-b"]
    http, token = desk.signed_in("technician")
    r = http.post(f"/unmatched/{event_id}/create-server", data={
        "client_id": b, "hostname": "SRV-NEW01.client-b.lan", "display_name": "Serveur neuf",
        "kind": "virtual", "role": "fichiers", "csrf_token": token})  # fmt: skip
    assert r.status_code == 303
    assert "Serveur srv-new01 créé" in http.get("/unmatched").text
    with Session(desk.engine) as s:
        srv = s.exec(select(Server).where(Server.hostname == "srv-new01")).one()
        ev = s.get(AlertEventRow, event_id)
        assert srv.client_id == b and srv.kind == "virtual" and srv.display_name == "Serveur neuf"
        assert ev is not None and ev.triage == "attached" and ev.server_id == srv.id
        assert ev.fingerprint.startswith("client-b|")
        assert s.exec(select(Outbox)).one().done_at is None  # the router routes it again
    # what was typed reaches pages: the inventory and the message's page
    admin, _ = desk.signed_in("admin")
    inventory = admin.get(f"/admin/clients/{b}").text
    assert "srv-new01" in inventory and "Serveur neuf" in inventory and "fichiers" in inventory
    event = http.get(f"/events/{event_id}").text
    assert "Serveur créé depuis ce message" in event and "srv-new01" in event
    # a second time: the server exists, the refusal says what to do
    again = unknown_host_from_client_b_again(desk)
    http.post(f"/unmatched/{again}/create-server", data={
        "client_id": b, "hostname": "srv-new01", "csrf_token": token})  # fmt: skip
    assert "a déjà un serveur srv-new01" in http.get("/unmatched").text


def unknown_host_from_client_b_again(desk: Desk) -> int:
    with session_scope(desk.engine) as s:
        raw = RawMessage(sha256="c" * 64, data=b"Subject: x\r\n\r\nHost: SRV-NEW01\r\n",
                         mail_from="supervision@client-b.example")  # fmt: skip
        s.add(raw)
        s.flush()
        ev = AlertEventRow(raw_message_id=raw.id or 0, family="disk_space", status="problem",
                           check="disk_free", host="SRV-NEW01", triage="pending")  # fmt: skip
        s.add(ev)
        s.flush()
        return ev.id or 0


def test_only_technicians_create_servers(desk: Desk) -> None:
    event_id = unknown_host_from_client_b(desk)
    for role in ("manager", "client"):
        http, token = desk.signed_in(role)
        r = http.post(f"/unmatched/{event_id}/create-server",
                      data={"client_id": desk.clients["client-b"], "hostname": "x",
                            "csrf_token": token})  # fmt: skip
        assert r.status_code == 403


def test_a_host_name_that_cannot_be_a_servers_is_refused_and_never_prefilled(desk: Desk) -> None:
    event_id = unknown_host_from_client_b_again(desk)
    with session_scope(desk.engine) as s:
        ev = s.get(AlertEventRow, event_id)
        assert ev is not None
        ev.host = '<svg onload="x()">'
        s.add(ev)
    http, token = desk.signed_in("technician")
    row = http.get("/unmatched").text.split(f'data-event="{event_id}"', 1)[1].split("</tr>")[0]
    assert '<input name="hostname" value="" required>' in row
    http.post(f"/unmatched/{event_id}/create-server", data={
        "client_id": desk.clients["client-b"], "hostname": "<svg onload=x>",
        "csrf_token": token})  # fmt: skip
    assert "Nom d&#39;hôte invalide" in http.get("/unmatched").text
    with Session(desk.engine) as s:
        assert s.get(AlertEventRow, event_id).triage == "pending"  # type: ignore[union-attr]
