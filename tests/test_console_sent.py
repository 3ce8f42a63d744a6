"""The mail the desk sent a client can be read, in full, by staff: on the case page (headers
and body, as escaped text) and through the API; a client user reads none of it, neither on
a staff page nor through the API, even for a case of its own company."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from models.db import session_scope
from models.tables import Communication
from tests.browser.support import MONDAY_9H, Desk, add_case, make_desk

RAW = (
    "From: Vigie <desk@vigie.example>\r\n"
    "To: dsi@client-a.example\r\n"
    "Subject: =?utf-8?q?[VIG-000001]_Consignes_=C3=A0_appliquer?=\r\n"
    "Date: Mon, 23 Nov 2026 09:10:00 +0100\r\n"
    "Message-ID: <c1@vigie.example>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\n"
    "Bonjour,\r\nVeuillez vider la corbeille <script>window.__x=1</script> & redémarrer.\r\n"
)


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(engine, tmp_path)


def sent_mail(desk: Desk) -> tuple[int, int]:
    case_id = add_case(desk.engine, desk.clients["client-a"], criticality="minor")
    with session_scope(desk.engine) as s:
        row = Communication(
            key=f"case-{case_id}:instructions:1", case_id=case_id, channel="email",
            recipient="dsi@client-a.example", subject="[VIG-000001] Consignes à appliquer",
            body="(text as rendered)", status="sent", step="instructions", attempt="1",
            transport="capture", raw=RAW, created_at=MONDAY_9H, sent_at=MONDAY_9H,
        )  # fmt: skip
        s.add(row)
        s.flush()
        return case_id, row.id or 0


def test_staff_read_the_sent_mail_on_the_case_page_and_through_the_api(desk: Desk) -> None:
    case_id, comm_id = sent_mail(desk)
    http, _ = desk.signed_in("technician")
    html = http.get(f"/cases/{case_id}").text
    block = html.split(f'id="comm-{comm_id}"', 1)[1].split("</article>", 1)[0]
    for shown in ("desk@vigie.example", "dsi@client-a.example", "Consignes à appliquer",
                  "&lt;c1@vigie.example&gt;", "Identifiant du message", "consignes au client",
                  "envoyé"):  # fmt: skip
        assert shown in block, shown
    body = block.split('<pre class="comm-body">', 1)[1].split("</pre>", 1)[0]
    assert body.startswith("Bonjour,") and "redémarrer." in body
    assert "&lt;script&gt;" in body and "<script>" not in block  # text, escaped
    english = http.get(f"/cases/{case_id}?lang=en").text
    assert "Message ID" in english and "instructions to the client" in english

    one = http.get(f"/api/comms/{comm_id}").json()
    assert one["headers"]["From"] == "Vigie <desk@vigie.example>"
    assert one["headers"]["Subject"] == "[VIG-000001] Consignes à appliquer"
    assert one["text"].startswith("Bonjour,") and "<script>" in one["text"]  # JSON: as sent
    case = http.get(f"/api/cases/{case_id}").json()
    assert case["communications"][0]["headers"]["To"] == "dsi@client-a.example"
    assert "redémarrer" in case["communications"][0]["text"]


def test_clients_never_read_the_desks_mail(desk: Desk) -> None:
    case_id, comm_id = sent_mail(desk)
    client, _ = desk.signed_in("client")  # client A's user: the case is its company's
    assert client.get(f"/cases/{case_id}").status_code == 403
    assert client.get(f"/api/comms/{comm_id}").status_code == 403
    assert client.get("/api/comms").status_code == 403
    mine = client.get(f"/api/cases/{case_id}")
    assert mine.status_code == 200 and "communications" not in mine.json()
    portal = client.get(f"/portal/cases/{case_id}").text
    assert "redémarrer" not in portal and "desk@vigie.example" not in portal
