"""From stored message to recorded events: matching, heartbeats, backup runs, triage.

These run the router's database step on both SQLite and PostgreSQL; the Temporal step is
covered in ``test_routing_temporal.py``.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from intake.router import Router, route_for
from intake.store import accept
from models.tables import AlertEventRow, BackupRun, Client, RawMessage, Server
from tests.conftest import samples_dir
from vigie.demo import load_demo


def drain_db_step(engine: Engine, check_ip: bool = False) -> list[AlertEventRow]:
    """The router's materialize step over every pending outbox row (no Temporal needed)."""
    router = Router(engine, client=None, task_queue="unused", check_ip=check_ip)  # type: ignore[arg-type]
    router._materialize(router._claim())
    with Session(engine) as s:
        return list(s.exec(select(AlertEventRow).order_by(AlertEventRow.id)).all())


def probe(host: str, sender: str = "vigie-probe@client-a.example", check: str = "cpu",
          status: str = "PROBLEM", n: int = 1) -> bytes:
    return (
        f"From: {sender}\r\nTo: alerts@desk.example\r\nMessage-ID: <r{n}.{host}@x>\r\n"
        f"Subject: [VIGIE] {host} {status} {check}\r\n\r\n"
        f"Host: {host}\r\nCheck: {check}\r\nStatus: {status}\r\n"
    ).encode()


def test_every_sample_lands_on_a_known_client(engine: Engine) -> None:
    load_demo(engine)
    files = sorted(samples_dir().glob("*.eml"))
    for f in files:
        accept(engine, f.read_bytes())
    events = drain_db_step(engine)
    assert len({e.raw_message_id for e in events}) == len(files)
    for ev in events:
        assert ev.client_id is not None, (ev.raw_message_id, ev.summary)
        if ev.family != "unknown":
            assert ev.server_id is not None, (ev.host, ev.summary)
            assert ev.triage == "none"
        else:
            assert ev.triage == "pending"  # the newsletter waits in triage, never dropped
    with Session(engine) as s:
        assert all(r.parsed_at is not None for r in s.exec(select(RawMessage)).all())


def test_the_same_host_name_at_two_clients_is_told_apart_by_the_sender(engine: Engine) -> None:
    ids = load_demo(engine)
    accept(engine, probe("SRV-DC01", "vigie-probe@client-a.example", n=1))
    accept(engine, probe("srv-dc01.corp.local", "vigie-probe@client-b.example", n=2))
    a, b = drain_db_step(engine)
    assert a.client_id == ids["client-a"] and b.client_id == ids["client-b"]
    assert a.server_id != b.server_id
    assert a.fingerprint != b.fingerprint


def test_an_unknown_sender_and_host_waits_in_the_unmatched_queue(engine: Engine) -> None:
    load_demo(engine)
    accept(engine, probe("SRV-NOWHERE", "agent@stranger.example"))
    (ev,) = drain_db_step(engine)
    assert ev.client_id is None and ev.server_id is None
    assert ev.triage == "pending"
    assert route_for(ev) is None  # no case until a technician attaches it


def test_a_host_known_to_one_client_only_matches_without_a_known_sender(engine: Engine) -> None:
    ids = load_demo(engine)
    accept(engine, probe("SRV-01", "monitor@unknown-relay.example"))
    (ev,) = drain_db_step(engine)
    assert ev.client_id == ids["client-c"]
    assert ev.server_id is not None


def test_a_heartbeat_updates_last_seen_and_opens_no_case(engine: Engine) -> None:
    load_demo(engine)  # client-a's registered fixed IP is 127.0.0.1: the heartbeat comes from it
    accept(engine, probe("SRV-DC01", check="heartbeat", status="OK"), peer_ip="127.0.0.1")
    (ev,) = drain_db_step(engine)
    with Session(engine) as s:
        srv = s.get(Server, ev.server_id)
        assert srv is not None and srv.last_heartbeat_at is not None
    route = route_for(ev)
    assert route is not None and route.start is None  # only ends an open absence case


def test_backup_results_become_backup_runs_and_failures_open_cases(engine: Engine) -> None:
    load_demo(engine)
    for name in ("030_arcserve_en_success.eml", "031_arcserve_en_failed.eml"):
        accept(engine, (samples_dir() / name).read_bytes(), peer_ip="127.0.0.1")
    ok, failed = drain_db_step(engine)
    with Session(engine) as s:
        runs = {r.event_id: r.result for r in s.exec(select(BackupRun)).all()}
    assert runs == {ok.id: "success", failed.id: "failed"}
    assert route_for(failed).start is not None  # type: ignore[union-attr]
    assert route_for(ok).start is None  # type: ignore[union-attr]


def test_a_mail_not_from_the_clients_fixed_ip_is_flagged_not_dropped(engine: Engine) -> None:
    load_demo(engine)  # client-a's registered fixed IP is 127.0.0.1
    accept(engine, probe("SRV-DC01", n=1), peer_ip="127.0.0.1")
    accept(engine, probe("SRV-DC01", n=2), peer_ip="203.0.113.9")
    good, bad = drain_db_step(engine, check_ip=True)
    assert good.source_ip_ok is True
    assert bad.source_ip_ok is False
    assert route_for(bad) is not None  # still routed: flagged, not dropped


def test_a_message_is_materialized_once_even_if_drained_twice(engine: Engine) -> None:
    load_demo(engine)
    raw = probe("SRV-DC01")
    accept(engine, raw)
    first = drain_db_step(engine)
    with Session(engine) as s:  # simulate a crash before the outbox row was marked done
        rid = s.exec(select(RawMessage.id)).one()
    router = Router(engine, client=None, task_queue="unused")  # type: ignore[arg-type]
    with Session(engine) as s:
        from models.tables import Outbox

        oid = s.exec(select(Outbox.id).where(Outbox.raw_message_id == rid)).one()
    router._materialize([oid])
    with Session(engine) as s:
        assert len(s.exec(select(AlertEventRow)).all()) == len(first) == 1
        assert s.exec(select(Client)).first() is not None


def test_a_case_is_opened_under_the_policy_in_effect(engine: Engine) -> None:
    """The administrators' newest policy version, not the environment, shapes new cases."""
    from models.auth import Policy

    load_demo(engine)
    router = Router(engine, client=None, task_queue="unused")  # type: ignore[arg-type]
    accept(engine, probe("SRV-DC01", n=1))
    ((_, (route,)),) = router._materialize(router._claim())
    assert route.start is not None
    assert (route.start.l1_minutes, route.start.business_start, route.start.policy_version) == (
        60, "09:00", "env")
    with Session(engine) as s:
        s.add(Policy(version=3, business_start="08:00", business_end="17:00", l1_minutes=45,
                     auto_close_hours=24, created_by="admin"))
        s.commit()
    accept(engine, probe("SRV-DC01", n=2, check="disk_queue"))
    ((_, (route,)),) = router._materialize(router._claim()[-1:])
    assert route.start is not None
    assert (route.start.l1_minutes, route.start.auto_close_hours, route.start.business_start,
            route.start.business_end, route.start.policy_version) == (45, 24, "08:00", "17:00",
                                                                       "3")
