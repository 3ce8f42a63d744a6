"""Issue 21, finding 10: every POST action carries an idempotency key, and a repeat returns
the first result instead of acting again.

Without Temporal: every form of a page has its own key; an API action and an admin form sent
twice with their key are done once. On the real stack (Temporal dev server, a worker with
the real activities, the console over HTTP): a note posted twice makes one note, through
the page and through the API; a recorded contact and instructions sent twice happen once; and
so does a note whose first answer was lost because the console died between the action and
the answer (the repeat takes the key over once its lease is out, and Temporal answers the
same update id with the first update's outcome).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from base.settings import Settings
from console import idempotency
from console.app import create_app
from console.auth import create_api_token
from contracts.codec import with_codec
from intake.router import Router
from models.db import make_engine, migrate
from models.idempotency import IdempotentRequest
from models.tables import AuditEvent, Communication, Contact
from models.types import utcnow
from tests.browser.support import (
    ROLE_USERS,
    Desk,
    csrf_of,
    load_demo_clients,
    make_desk,
    sign_in,
)
from tests.browser.test_console_browser import Stack
from tests.conftest import fresh_id
from tests.test_trust_roles import Served
from vigie.temporal import build_worker

KEY_RE = re.compile(r'name="idempotency_key" value="([^"]+)"')
FORM_RE = re.compile(r'<form\b([^>]*\bmethod="post"[^>]*)>(.*?)</form>', re.S | re.I)
ACTION_RE = re.compile(r'\baction="([^"]*)"')


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Desk:
    """SQLite and PostgreSQL: the claim leans on each one's unique constraint."""
    return make_desk(engine, tmp_path)


def forms(html: str) -> dict[str, str]:
    """Each post form's action -> its idempotency key."""
    out = {}
    for attributes, inner in FORM_RE.findall(html):
        action = ACTION_RE.search(attributes)
        found = KEY_RE.search(inner)
        out[action.group(1) if action else ""] = found.group(1) if found else ""
    return out


def test_every_form_of_every_page_carries_a_key_of_its_own(desk: Desk) -> None:
    """Every page an administrator opens without an id (and a client's page), each post
    form: a key, none shared, fresh at each rendering. Only the sign-in form has none."""
    from console.access import registered_routes

    http, _ = desk.signed_in("admin")
    pages = [p for m, p in registered_routes(desk.app.routes)
             if m == "GET" and "{" not in p and not p.startswith(("/api", "/static"))
             and not p.endswith((".csv", ".pdf", ".css", ".zip", ".ics"))]
    pages.append(f"/admin/clients/{desk.clients['client-a']}")
    seen: list[str] = []
    for page in pages:
        r = http.get(page)
        keys = forms(r.text)
        missing = [a for a, k in keys.items() if not k and a != "/login"]
        assert not missing, (page, missing)
        seen += [k for k in keys.values() if k]
    assert len(seen) >= 40 and len(set(seen)) == len(seen)  # one per form, none shared
    again = forms(http.get(f"/admin/clients/{desk.clients['client-a']}").text)
    assert not set(again.values()) & set(seen)  # and fresh at each rendering


def test_an_admin_form_sent_twice_adds_one_contact(desk: Desk) -> None:
    http, csrf = desk.signed_in("admin")
    a = desk.clients["client-a"]
    action = f"/admin/clients/{a}/contacts"
    key = forms(http.get(f"/admin/clients/{a}").text)[action]
    form = {"csrf_token": csrf, "idempotency_key": key, "name": "Nadia Relance",
            "email": "nadia@client-a.example", "role": "backup", "rank": "3"}
    first = http.post(action, data=form)
    second = http.post(action, data=form)  # the answer was lost: the browser sends it again
    assert first.status_code == second.status_code == 303
    assert second.headers["location"] == first.headers["location"]
    assert second.headers.get("idempotent-replayed") == "true"
    with Session(desk.engine) as s:
        assert len(s.exec(select(Contact).where(Contact.name == "Nadia Relance")).all()) == 1
    # the same key for something else is refused; a fresh key (a new form) acts again
    assert http.post(action, data={**form, "name": "Autre"}).status_code == 422
    fresh = forms(http.get(f"/admin/clients/{a}").text)[action]
    assert http.post(action, data={**form, "idempotency_key": fresh}).status_code == 303
    with Session(desk.engine) as s:
        assert len(s.exec(select(Contact).where(Contact.name == "Nadia Relance")).all()) == 2


def test_a_token_created_twice_is_one_token_shown_once_and_never_kept(desk: Desk) -> None:
    """A page drawn for the answer is not kept (it shows the new token in clear): the repeat
    is sent to the token list, read afresh."""
    from models.auth import ApiToken

    http, csrf = desk.signed_in("admin")
    key = forms(http.get("/admin/tokens").text)["/admin/tokens"]
    form = {"csrf_token": csrf, "idempotency_key": key, "username": "tech", "name": "robot"}
    first = http.post("/admin/tokens", data=form)
    shown = re.search(r"vig_[\w-]{20,}", first.text)
    assert first.status_code == 200 and shown
    second = http.post("/admin/tokens", data=form)
    assert (second.status_code, second.headers["location"]) == (303, "/admin/tokens")
    assert shown.group(0) not in http.get("/admin/tokens").text
    with Session(desk.engine) as s:
        assert len(s.exec(select(ApiToken).where(ApiToken.name == "robot")).all()) == 1
        (kept,) = s.exec(select(IdempotentRequest).where(IdempotentRequest.key == key)).all()
    assert kept.body is None and shown.group(0) not in str(kept)


def test_an_api_action_sent_twice_with_its_key_is_done_once(desk: Desk) -> None:
    http = desk.client()
    token = create_api_token(desk.engine, ROLE_USERS["technician"], "idem")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "silence-0001-abcd"}
    body = {"ends_at": (utcnow() + timedelta(hours=2)).isoformat(), "reason": "maintenance",
            "client_id": desk.clients["client-a"]}
    first = http.post("/api/silences", json=body, headers=headers)
    second = http.post("/api/silences", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers.get("idempotent-replayed") == "true"
    listed = http.get("/api/silences", headers=headers).json()
    assert [s["reason"] for s in listed] == ["maintenance"]
    # another request under the same key: 422; a malformed key: 422; no key: as before
    changed = http.post("/api/silences", json={**body, "reason": "autre"}, headers=headers)
    assert changed.status_code == 422
    bad = {**headers, "Idempotency-Key": "<court>"}
    assert http.post("/api/silences", json=body, headers=bad).status_code == 422
    plain = {"Authorization": headers["Authorization"]}
    assert http.post("/api/silences", json=body, headers=plain).status_code == 200
    assert len(http.get("/api/silences", headers=headers).json()) == 2
    # keys are per caller: another user's same key is a new action of its own
    other = {"Authorization": "Bearer " + create_api_token(desk.engine, "n2", "idem"),
             "Idempotency-Key": headers["Idempotency-Key"]}
    assert http.post("/api/silences", json=body, headers=other).headers.get(
        "idempotent-replayed") is None


def test_a_pending_key_is_waited_for_then_taken_over_once(engine: Engine) -> None:
    """The claim itself, on both databases: a key held by a live request is waited for; once
    its lease is out, exactly one repeat takes it over."""
    import time

    lease, keep = timedelta(seconds=0.5), timedelta(hours=1)
    args = ("user:1", "clef-en-cours-01", "/api/x", "f" * 64)
    outcome, row_id = idempotency.claim(engine, *args, lease, keep)
    assert outcome == "run"
    assert idempotency.claim(engine, *args, lease, keep) == ("wait", None)
    assert idempotency.claim(engine, *args[:3], "0" * 64, lease, keep) == ("conflict", None)
    time.sleep(0.6)
    taken = [idempotency.claim(engine, *args, lease, keep) for _ in range(2)]
    assert taken == [("run", row_id), ("wait", None)]
    idempotency.record_done(engine, row_id, 200, "application/json", "", b"{}")
    outcome, done = idempotency.claim(engine, *args, lease, keep)
    assert outcome == "replay" and done.body == b"{}"  # type: ignore[union-attr]


# --- on the real stack ----------------------------------------------------------------------


@pytest.fixture(scope="module")
async def stack(dev_env: Any, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[tuple[Stack, Desk]]:
    var = tmp_path_factory.mktemp("idempotent")
    url = f"sqlite:///{var / 'vigie.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    clients = load_demo_clients(engine)
    queue = fresh_id("idem")
    client = with_codec(dev_env.client, engine)  # the desk's codec, as the console's own
    settings = Settings(var_dir=var, temporal_address=client.service_client.config.target_host,
                        temporal_namespace=client.namespace, task_queue=queue,
                        secret_key="idempotent-test-key", idempotency_lease_seconds=2.0)
    app = create_app(settings, engine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        async with build_worker(client, engine, queue, pool):
            with Served(app) as base:
                yield (Stack(base, engine, Router(engine, client, queue), clients),
                       Desk(app, engine, settings, clients))
    engine.dispose()


async def new_case(stack: tuple[Stack, Desk], host: str, check: str = "disk_free"
                   ) -> tuple[Stack, Desk, int, dict[str, str]]:
    """A significant case of its own on one of client-a's servers (one per test), and a
    technician's API token."""
    st, desk = stack
    # a volume no other module probes: a case's workflow id is its fingerprint, and the dev
    # server is shared by the whole suite, where the console's browser test leaves client-a's
    # SRV-DC01 C: case open (a signal-with-start would reach that run, not open this one)
    case_id = await st.probe("client-a.example", host, check, "Q:", "Q: 4% free")
    await st.classify(case_id, "significant")
    token = create_api_token(desk.engine, ROLE_USERS["technician"], fresh_id("tech"))
    return st, desk, case_id, {"Authorization": f"Bearer {token}"}


def actions(engine: Engine, case_id: int, action: str) -> list[dict[str, Any]]:
    with Session(engine) as s:
        return [a.data for a in s.exec(select(AuditEvent).where(
            AuditEvent.case_id == case_id, AuditEvent.action == action)
            .order_by(col(AuditEvent.seq))).all()]


async def ledger_after_a_last_note(st: Stack, desk: Desk, case_id: int,
                                   action: str) -> list[dict[str, Any]]:
    """The case's ``action`` lines, once a last note (a fresh key) is in the ledger: the
    ledger is written in the workflow's order, so a second copy of what came before would
    be there by then."""
    token = create_api_token(desk.engine, ROLE_USERS["technician"], fresh_id("last"))
    last = await post(st.base, f"/api/cases/{case_id}/actions/add_note", json={"text": "fin"},
                      headers={"Authorization": f"Bearer {token}"})
    assert last.status_code == 200, last.text
    deadline = asyncio.get_running_loop().time() + 60
    while not any(d.get("text") == "fin" for d in actions(desk.engine, case_id, "note")):
        assert asyncio.get_running_loop().time() < deadline, "the last note never came"
        await asyncio.sleep(0.2)
    return actions(desk.engine, case_id, action)


def texts(lines: list[dict[str, Any]]) -> list[str]:
    return [str(d.get("text")) for d in lines if d.get("text") != "fin"]


async def post(base: str, url: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=60, follow_redirects=False) as http:
        return await http.post(url, **kwargs)


async def test_a_note_posted_twice_through_the_api_is_one_note(
    stack: tuple[Stack, Desk],
) -> None:
    st, desk, case_id, auth = await new_case(stack, "SRV-DC01")
    headers = {**auth, "Idempotency-Key": fresh_id("note")}
    url = f"/api/cases/{case_id}/actions/add_note"
    first = await post(st.base, url, json={"text": "Disque purgé"}, headers=headers)
    second = await post(st.base, url, json={"text": "Disque purgé"}, headers=headers)
    assert first.status_code == second.status_code == 200, first.text
    assert second.json() == first.json()
    # a double click: both at once, the second waits for the first and gets its answer
    both = {**headers, "Idempotency-Key": fresh_id("double")}
    answers = await asyncio.gather(*(post(st.base, url, json={"text": "Double clic"},
                                          headers=both) for _ in range(2)))
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    assert answers[0].json() == answers[1].json()
    notes = await ledger_after_a_last_note(st, desk, case_id, "note")
    assert texts(notes) == ["Disque purgé", "Double clic"]


async def test_a_note_posted_twice_through_the_page_is_one_note(
    stack: tuple[Stack, Desk],
) -> None:
    st, desk, case_id, _ = await new_case(stack, "SRV-FILE01")
    http, csrf = await asyncio.to_thread(signed_in_over_http, st.base, "technician")
    try:
        page = await asyncio.to_thread(http.get, f"/cases/{case_id}")
        action = f"/cases/{case_id}/act/add_note"
        key = forms(page.text)[action]
        form = {"csrf_token": csrf, "idempotency_key": key, "text": "Relancé le service"}
        first = await asyncio.to_thread(http.post, action, data=form)
        second = await asyncio.to_thread(http.post, action, data=form)
    finally:
        http.close()
    assert first.status_code == second.status_code == 303
    assert second.headers["location"] == first.headers["location"] == f"/cases/{case_id}"
    notes = await ledger_after_a_last_note(st, desk, case_id, "note")
    assert texts(notes) == ["Relancé le service"]


def signed_in_over_http(base: str, role: str) -> tuple[httpx.Client, str]:
    http = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    sign_in(http, ROLE_USERS[role])  # type: ignore[arg-type]
    return http, csrf_of(http)  # type: ignore[arg-type]


async def test_a_contact_recorded_and_instructions_sent_twice_happen_once(
    stack: tuple[Stack, Desk],
) -> None:
    st, desk, case_id, auth = await new_case(stack, "SRV-APP")
    contact = {**auth, "Idempotency-Key": fresh_id("contact")}
    url = f"/api/cases/{case_id}/actions/record_contact"
    body = {"channel": "phone", "outcome": "reached", "reason": "client joint"}
    answers = [await post(st.base, url, json=body, headers=contact) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200], answers[0].text

    sent = {**auth, "Idempotency-Key": fresh_id("instr")}
    url = f"/api/cases/{case_id}/instructions"
    body = {"channel": "email", "text": "Videz la corbeille du serveur."}
    answers = [await post(st.base, url, json=body, headers=sent) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    assert answers[1].json() == answers[0].json()
    assert len(await ledger_after_a_last_note(st, desk, case_id, "record_contact")) == 1
    assert len(actions(desk.engine, case_id, "send_instructions")) == 1
    deadline = asyncio.get_running_loop().time() + 30
    while True:  # the mail itself: once
        with Session(desk.engine) as s:
            mails = s.exec(select(Communication).where(
                Communication.case_id == case_id, Communication.step == "instructions")).all()
        if mails or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.2)
    assert len(mails) == 1


async def test_a_note_whose_answer_was_lost_in_a_crash_is_still_one_note(
    stack: tuple[Stack, Desk], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The console dies after the note was added and before its answer was written: the
    row stays ``pending``. The technician's retry waits for the lease, takes the key over,
    runs the route again, and Temporal answers the same update id with the first outcome."""
    st, desk, case_id, auth = await new_case(stack, "SRV-DC01", "cpu")
    headers = {**auth, "Idempotency-Key": fresh_id("crash")}
    url = f"/api/cases/{case_id}/actions/add_note"
    crashed = iter([True])

    def dies_before_writing(*args: Any, **kwargs: Any) -> None:
        if next(crashed, False):
            return  # what a killed process writes: nothing; the row stays pending
        real_record_done(*args, **kwargs)

    real_record_done = idempotency.record_done
    monkeypatch.setattr(idempotency, "record_done", dies_before_writing)
    await post(st.base, url, json={"text": "Note unique"}, headers=headers)  # answer "lost"
    with Session(desk.engine) as s:
        (row,) = s.exec(select(IdempotentRequest).where(
            IdempotentRequest.key == headers["Idempotency-Key"])).all()
        assert row.state == "pending"
    retry = await post(st.base, url, json={"text": "Note unique"}, headers=headers)
    assert retry.status_code == 200, retry.text
    notes = await ledger_after_a_last_note(st, desk, case_id, "note")
    assert texts(notes) == ["Note unique"]
    with Session(desk.engine) as s:
        assert s.get(IdempotentRequest, row.id).state == "done"  # type: ignore[union-attr]
