"""Issue 11, finding 3: a forged sender opens, and could end, cases for any client.

Alert sources are now authenticated before they act (``records/sources.py``): the peer the
intake saw, a registered relay, a webhook token, or a DKIM signature / SPF record checked by
``dkimpy`` / ``pyspf`` with DNS answers injected through the packages' own resolver hooks
(this machine has no DNS). The mails below go through the real intake over SMTP on loopback;
``127.0.0.2`` plays client B's registered relay and ``127.0.0.3`` the attacker.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import smtplib
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import dkim
import pytest
import spf
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from intake.router import Router, route_for
from intake.smtp import IntakeHandler, make_smtp_factory
from intake.store import accept
from messages.cases import AlertSignal, CaseInput, CaseState
from models.db import session_scope
from models.tables import AlertEventRow, AuditEvent, BackupRun, Case, Client, RawMessage, Server
from models.trust import SourceRule
from records.sources import SourceVerifier, Verdict, normalize_ip
from tests.conftest import fresh_id
from tests.smtp_helpers import ServerThread
from vigie.demo import load_demo
from vigie.temporal import build_worker
from workflows.case_machine import CaseCore, policy_for

RELAY_B = "127.0.0.2"  # client B's registered relay
ATTACKER = "127.0.0.3"
MAILBOX = "alerts@desk.example"


def probe(host: str, target: str, status: str = "PROBLEM",
          sender: str = "monitor@client-b.example", n: int = 1) -> bytes:
    return (
        f"From: {sender}\r\nTo: {MAILBOX}\r\nMessage-ID: <{target}-{n}-{status}@probe>\r\n"
        f"Subject: [VIGIE] {host} {status} service: {target}\r\n\r\n"
        f"Host: {host}\r\nCheck: service\r\nTarget: {target}\r\nStatus: {status}\r\n"
    ).encode()


def client_id(engine: Engine, code: str) -> int:
    with Session(engine) as s:
        return s.exec(select(Client.id).where(Client.code == code)).one() or 0


def add_rule(engine: Engine, code: str, kind: str, value: str) -> None:
    with session_scope(engine) as s:
        s.add(SourceRule(client_id=client_id(engine, code), kind=kind, value=value))


@pytest.fixture
def intake(sqlite_engine: Engine) -> Iterator[int]:
    """The real intake's SMTP server on a loopback port (as ``vigie ingest`` runs it)."""
    handler = IntakeHandler(sqlite_engine, frozenset({MAILBOX}))
    with ServerThread(make_smtp_factory(handler, max_bytes=1_000_000)) as server:
        yield server.port


def send(port: int, raw: bytes, *, envelope: str, source: str) -> None:
    """A real SMTP client, bound to ``source`` on loopback (the peer the intake sees)."""
    with smtplib.SMTP("127.0.0.1", port, source_address=(source, 0), timeout=10) as smtp:
        smtp.sendmail(envelope, [MAILBOX], raw)


def materialize(engine: Engine, **kw: object) -> list[AlertEventRow]:
    router = Router(engine, client=None, task_queue="unused", **kw)  # type: ignore[arg-type]
    router._materialize(router._claim())
    with Session(engine) as s:
        return list(s.exec(select(AlertEventRow).order_by(col(AlertEventRow.id))).all())


def test_the_intake_stores_the_real_tcp_peer(sqlite_engine: Engine, intake: int) -> None:
    """The router judges the peer stored with the raw message: the kernel's, not a header's."""
    raw = probe("SRV-DC01", "peer").replace(
        b"Subject:", b"Received: from trusted.client-b.example ([127.0.0.2])\r\nSubject:")
    send(intake, raw, envelope="monitor@client-b.example", source=ATTACKER)
    with Session(sqlite_engine) as s:
        stored = s.exec(select(RawMessage)).one()
    assert (stored.peer_ip, stored.mail_from) == (ATTACKER, "monitor@client-b.example")
    assert stored.helo  # kept for SPF


def test_a_forged_sender_opens_a_flagged_case_and_its_recovery_is_ignored(
    sqlite_engine: Engine, intake: int
) -> None:
    """Finding 3 over real SMTP: envelope attacker@evil.example, ``From:`` client B's monitor,
    a probe for SRV-DC01. The case still opens (nothing lost) but flagged, never preset; the
    forged recovery is recorded and not routed."""
    load_demo(sqlite_engine)
    add_rule(sqlite_engine, "client-b", "relay", RELAY_B)
    target = fresh_id("svc")
    send(intake, probe("SRV-DC01", target), envelope="attacker@evil.example", source=ATTACKER)
    send(intake, probe("SRV-DC01", target, "RECOVERY"), envelope="attacker@evil.example",
         source=ATTACKER)
    send(intake, probe("SRV-DC01", target, n=2), envelope="monitor@client-b.example",
         source=RELAY_B)
    forged, forged_recovery, genuine = materialize(sqlite_engine)
    b = client_id(sqlite_engine, "client-b")
    assert forged.client_id == forged_recovery.client_id == genuine.client_id == b
    assert (forged.source_check, genuine.source_check) == ("unverified", "relay")
    assert ATTACKER in forged.source_detail
    opening = route_for(forged)
    assert opening is not None and opening.start is not None  # still opens: flagged
    assert opening.start.source_verified is False and opening.signal.verified is False
    assert route_for(forged_recovery) is None  # never sent to the case
    assert forged_recovery.extra["ignored"] == "source non vérifiée"
    routed = route_for(genuine)
    assert routed is not None and routed.start is not None and routed.start.source_verified


def test_unverified_heartbeats_and_backups_change_no_state(sqlite_engine: Engine) -> None:
    """A heartbeat does not move the server's last-seen time, a successful backup writes no
    backup run (the audit would count it), when their source failed verification."""
    load_demo(sqlite_engine)  # client-a's fixed IP is 127.0.0.1
    accept(sqlite_engine, probe("SRV-DC01", "hb", "OK", "vigie-probe@client-a.example")
           .replace(b"service: hb", b"heartbeat").replace(b"Check: service", b"Check: heartbeat"),
           peer_ip="192.0.2.66", mail_from="vigie-probe@client-a.example")
    (hb,) = materialize(sqlite_engine)
    assert (hb.family, hb.source_check) == ("heartbeat", "unverified")
    assert route_for(hb) is None
    with Session(sqlite_engine) as s:
        assert s.get(Server, hb.server_id).last_heartbeat_at is None  # type: ignore[union-attr]
        assert s.exec(select(BackupRun)).all() == []
    # the same heartbeat from the registered address does move it
    accept(sqlite_engine, probe("SRV-DC01", "hb", "OK", "vigie-probe@client-a.example", n=2)
           .replace(b"service: hb", b"heartbeat").replace(b"Check: service", b"Check: heartbeat"),
           peer_ip="::ffff:127.0.0.1")
    _, good = materialize(sqlite_engine)
    assert good.source_check == "ip"
    with Session(sqlite_engine) as s:
        assert s.get(Server, good.server_id).last_heartbeat_at is not None  # type: ignore[union-attr]


def test_a_client_with_no_registered_source_is_unchecked_unless_strict(
    sqlite_engine: Engine,
) -> None:
    load_demo(sqlite_engine)  # client-c has no fixed IP and no rule
    accept(sqlite_engine, probe("SRV-01", "x", sender="root@client-c.example"),
           peer_ip="192.0.2.1")
    accept(sqlite_engine, probe("SRV-01", "x", sender="root@client-c.example", n=2),
           peer_ip="192.0.2.1")
    # one message each: a claimed message is its router's alone (intake/router.py)
    router = Router(sqlite_engine, client=None, task_queue="unused", batch=1)  # type: ignore[arg-type]
    router._materialize(router._claim())
    strict = Router(sqlite_engine, client=None, task_queue="unused", check_ip=True)  # type: ignore[arg-type]
    strict._materialize(strict._claim())
    with Session(sqlite_engine) as s:
        auto, strict_row = s.exec(select(AlertEventRow).order_by(col(AlertEventRow.id))).all()
    assert (auto.source_check, strict_row.source_check) == ("unchecked", "unverified")


def test_a_webhook_token_of_another_client_does_not_verify(sqlite_engine: Engine) -> None:
    load_demo(sqlite_engine)
    raw = RawMessage(sha256="0" * 64, data=b"[]", channel="webhook",
                     client_hint_id=client_id(sqlite_engine, "client-a"), mail_from="source:nas")
    verifier = SourceVerifier()
    assert verifier.verify(raw, client_id(sqlite_engine, "client-a")) == Verdict(
        "token", "jeton de source nas")
    assert not verifier.verify(raw, client_id(sqlite_engine, "client-b")).verified
    assert normalize_ip("::ffff:192.0.2.7") == normalize_ip("192.0.2.7")


# --- DKIM and SPF, with the packages' own resolver hooks ----------------------------------


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    """An RSA key made by openssl (as dkimpy's own dknewkey does) and its DNS TXT record."""
    folder = tmp_path_factory.mktemp("dkim")
    key = folder / "key.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "1024"], check=True,
                   capture_output=True)
    pub = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return key.read_bytes(), f"v=DKIM1; k=rsa; p={base64.b64encode(pub).decode()}"


def test_a_dkim_signature_of_the_clients_relay_verifies(
    sqlite_engine: Engine, dkim_key: tuple[bytes, str]
) -> None:
    load_demo(sqlite_engine)
    add_rule(sqlite_engine, "client-b", "dkim", "relay.client-b.example")
    private, record = dkim_key
    zone = {b"sel1._domainkey.relay.client-b.example.": record.encode()}
    asked: list[bytes] = []

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        asked.append(name)
        return zone.get(name)

    body = probe("SRV-DC01", "dkim", "RECOVERY")
    signed = dkim.sign(body, b"sel1", b"relay.client-b.example", private,
                       include_headers=[b"from", b"subject", b"message-id"]) + body
    accept(sqlite_engine, signed, peer_ip=ATTACKER, mail_from="monitor@client-b.example")
    tampered = signed.replace(b"RECOVERY", b"PROBLEM ")
    accept(sqlite_engine, tampered, peer_ip=ATTACKER, mail_from="monitor@client-b.example")
    good, bad = materialize(sqlite_engine, dkim_dns=dnsfunc)
    # through dkimpy's resolver hook, once per key for the batch
    assert asked == [b"sel1._domainkey.relay.client-b.example."]
    assert good.source_check == "dkim" and "relay.client-b.example" in good.source_detail
    assert bad.source_check == "unverified"  # body changed after signing


def test_an_spf_pass_for_the_envelope_domain_verifies(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_demo(sqlite_engine)
    add_rule(sqlite_engine, "client-b", "spf", "client-b.example")
    asked: list[tuple[str, str]] = []

    def lookup(name: str, qtype: str, strict: bool = True, timeout: int = 30) -> list:
        name = name.lower().rstrip(".")
        asked.append((name, qtype))
        if (name, qtype) == ("client-b.example", "TXT"):
            return [((name, "TXT"), [b"v=spf1 ip4:127.0.0.2 -all"])]
        return []

    monkeypatch.setattr(spf, "DNSLookup", lookup)  # pyspf's resolver hook
    accept(sqlite_engine, probe("SRV-DC01", "spf", "RECOVERY"), peer_ip=RELAY_B,
           mail_from="monitor@client-b.example", helo="mx.client-b.example")
    accept(sqlite_engine, probe("SRV-DC01", "spf", "RECOVERY", n=2), peer_ip=ATTACKER,
           mail_from="monitor@client-b.example", helo="mx.client-b.example")
    passed, failed = materialize(sqlite_engine)
    assert ("client-b.example", "TXT") in asked
    assert passed.source_check == "spf"
    assert failed.source_check == "unverified"


def test_without_dns_dkim_and_spf_simply_do_not_verify(
    sqlite_engine: Engine, dkim_key: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline (this machine): a lookup failure is no pass, and nothing crashes."""
    load_demo(sqlite_engine)
    add_rule(sqlite_engine, "client-b", "dkim", "client-b.example")
    add_rule(sqlite_engine, "client-b", "spf", "client-b.example")

    def no_dns(*_: object, **__: object) -> None:
        raise spf.TempError("DNS indisponible")

    monkeypatch.setattr(spf, "DNSLookup", no_dns)
    private, _ = dkim_key
    body = probe("SRV-DC01", "offline", "RECOVERY")
    signed = dkim.sign(body, b"sel1", b"client-b.example", private) + body
    accept(sqlite_engine, signed, peer_ip=ATTACKER, mail_from="monitor@client-b.example")
    (row,) = materialize(sqlite_engine, dkim_dns=lambda *_a, **_k: None)
    assert row.source_check == "unverified"


# --- the case itself ----------------------------------------------------------------------


def _input(**kw: object) -> CaseInput:
    base = CaseInput(fingerprint="client-b|srv-dc01|service|svc", client_id=1, server_id=1,
                     host="srv-dc01", family="service", check="service", target="svc",
                     title="SRV-DC01 — svc", opened_at=datetime(2026, 11, 23, 8, tzinfo=UTC))
    return replace(base, **kw)  # type: ignore[arg-type]


def test_the_case_core_never_acts_on_an_unverified_recovery() -> None:
    from domain.calendar import calendar_for

    inp = _input()
    core, _ = CaseCore.open(inp, policy_for(inp, calendar_for("Europe/Paris", "09:00", "18:00")))
    at = inp.opened_at
    core.alert(AlertSignal(event_id=1, status="problem", received_at=at, opening=True))
    core.alert(AlertSignal(event_id=2, status="recovery", received_at=at, verified=False))
    assert core.state == CaseState.NEW and not core.model.recovered
    core.alert(AlertSignal(event_id=3, status="recovery", received_at=at))
    assert core.state == CaseState.RESOLVED
    # a case an unverified source opened is never triaged by a preset, and says so
    flagged = _input(source_verified=False, source_check="unverified",
                     preset_criticality="major")
    core, _ = CaseCore.open(flagged, policy_for(flagged, calendar_for("Europe/Paris", "09:00",
                                                                      "18:00")))
    assert core.state == CaseState.NEW and core.model.criticality is None
    assert core.model.timeline[0].data["source"] == "non vérifiée"


# --- with Temporal: a forged recovery does not end a real case ------------------------------


@pytest.fixture
async def temporal_desk(time_env, sqlite_engine: Engine) -> AsyncIterator[Router]:
    load_demo(sqlite_engine)
    queue = fresh_id("q")
    pool = concurrent.futures.ThreadPoolExecutor(8)
    worker = build_worker(time_env.client, sqlite_engine, queue, pool)
    try:
        async with worker:
            yield Router(sqlite_engine, time_env.client, queue)
    finally:
        # the session shares one time-skipping server: a case left running here would have
        # its timers fire in a later test's time skip, with no worker on this queue
        with Session(sqlite_engine) as s:
            ids = {c.workflow_id for c in s.exec(select(Case)).all()}
        for wid in ids:
            try:
                await time_env.client.get_workflow_handle(wid).terminate("fin du test")
            except Exception:  # already finished
                pass
        pool.shutdown()


async def _until(engine: Engine, predicate, what: str, within: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with Session(engine) as s:
            if predicate(s):
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_forged_recovery_does_not_end_a_real_case(
    temporal_desk: Router, sqlite_engine: Engine
) -> None:
    """A real outage of client A (from its fixed IP) opens a case; a recovery mail forged
    from elsewhere is recorded on the case and ignored; the genuine recovery resolves it."""
    router, engine = temporal_desk, sqlite_engine
    target = fresh_id("svc")
    a_probe = "vigie-probe@client-a.example"
    accept(engine, probe("SRV-DC01", target, sender=a_probe), peer_ip="127.0.0.1")
    while await router.drain_once():
        pass
    await _until(engine, lambda s: s.exec(select(Case).where(Case.target == target)).first(),
                 "the case")
    accept(engine, probe("SRV-DC01", target, "RECOVERY", sender=a_probe), peer_ip="192.0.2.66",
           mail_from="attacker@evil.example")
    while await router.drain_once():
        pass
    with Session(engine) as s:
        case = s.exec(select(Case).where(Case.target == target)).one()
        forged = s.exec(select(AlertEventRow).where(AlertEventRow.status == "recovery")).one()
    await asyncio.sleep(1.0)  # give a wrongly sent signal every chance to land
    with Session(engine) as s:
        case = s.exec(select(Case).where(Case.target == target)).one()
        actions = [a.action for a in s.exec(select(AuditEvent).where(
            AuditEvent.case_id == case.id)).all()]
    assert case.state == "new" and not case.recovered and "resolve" not in actions
    assert forged.case_id == case.id and forged.source_check == "unverified"
    assert forged.routed_at is None
    accept(engine, probe("SRV-DC01", target, "RECOVERY", sender=a_probe, n=2),
           peer_ip="127.0.0.1")
    while await router.drain_once():
        pass
    # resolved (the time-skipping server may already have run the auto-close delay too)
    await _until(engine, lambda s: s.exec(select(Case).where(
        Case.target == target, col(Case.state).in_(("resolved", "closed")))).first(),
        "genuine recovery")
    with Session(engine) as s:
        case = s.exec(select(Case).where(Case.target == target)).one()
        resolved = [a for a in s.exec(select(AuditEvent).where(
            AuditEvent.case_id == case.id, AuditEvent.action == "resolve")).all()]
    assert [a.reason for a in resolved] == ["rétablissement reçu"]


# --- shown to the technician ------------------------------------------------------------------


def test_the_case_page_shows_how_each_source_was_verified(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    from tests.browser.support import add_case, make_desk

    desk = make_desk(sqlite_engine, tmp_path)
    case_id = add_case(desk.engine, desk.clients["client-b"], title="SRV-DC01 — forgé")
    with session_scope(desk.engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        case.source_verified = False
        s.add(case)
        raw = RawMessage(sha256="c" * 64, data=b"Subject: x\r\n\r\nx\r\n", peer_ip=ATTACKER)
        s.add(raw)
        s.flush()
        s.add(AlertEventRow(raw_message_id=raw.id or 0, family="service", status="recovery",
                            check="service", summary="forged recovery", case_id=case_id,
                            source_check="unverified", extra={"ignored": "source non vérifiée"},
                            source_detail=f"source {ATTACKER} (enveloppe attacker@evil.example)"
                            " non enregistrée pour ce client"))
    http, _ = desk.signed_in("technician")
    page = http.get(f"/cases/{case_id}").text
    assert 'id="case-source"' in page and "source non vérifiée" in page
    assert "Vérification de la source" in page and ATTACKER in page
    assert "ignoré (source non vérifiée)" in page
    assert "source non vérifiée" in http.get("/queue").text
    english = http.get(f"/cases/{case_id}?lang=en").text
    assert "unverified source" in english and "Source verification" in english


def test_an_administrator_registers_the_sources_of_a_client(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    from tests.browser.support import make_desk

    desk = make_desk(sqlite_engine, tmp_path)
    b = desk.clients["client-b"]
    http, token = desk.signed_in("admin")
    for kind, value in (("relay", "198.51.100.7"), ("sender", "@client-b.example"),
                        ("dkim", "relay.client-b.example"), ("ip", "not-an-ip")):
        http.post(f"/admin/clients/{b}/sources",
                  data={"kind": kind, "value": value, "csrf_token": token})
    with Session(desk.engine) as s:
        rules = {(r.kind, r.value) for r in s.exec(select(SourceRule)).all()}
    assert rules == {("relay", "198.51.100.7"), ("sender", "@client-b.example"),
                     ("dkim", "relay.client-b.example")}  # the bad address was refused
    page = http.get(f"/admin/clients/{b}").text
    assert "198.51.100.7" in page and "contrôle actif" in page
    verifier = SourceVerifier.load(Session(desk.engine))
    assert verifier.rules[b].enforced
