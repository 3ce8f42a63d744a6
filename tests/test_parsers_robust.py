"""Bad input never raises, and the event contract holds for generated inputs."""

from __future__ import annotations

import json
import pickle
import time
from datetime import UTC, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import (
    AlertEvent,
    BackupResult,
    Family,
    Severity,
    Status,
    parse_message,
    read_envelope,
)
from parsers.dates import PARIS
from parsers.frozendict import FrozenDict

PROFILE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_sane(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert len(parsed.events) >= 1
    assert all(isinstance(e, AlertEvent) for e in parsed.events)
    assert isinstance(parsed.parser, str) and parsed.parser
    assert isinstance(parsed.envelope.subject, str)
    assert isinstance(parsed.envelope.text, str)
    for event in parsed.events:
        json.dumps(event.to_dict())


# --------------------------------------------------------------------------- fixed cases


def nested_multipart(depth: int) -> bytes:
    head = b"From: a@b.example\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    closing = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    return head + opening + b"Content-Type: text/plain\r\n\r\nFailed Backup on SRV-DEEP" + closing


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe",
        b"\r\n\r\n",
        b"Subject: only headers",
        b"From: x@y\r\nSubject: =?utf-8?b?!!!notbase64?= =?bogus-charset?q?caf=E9?=\r\n",
        b"Subject: [VIGIE] \r\n\r\n",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary param at all",
        b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\n--zz\r\nContent-Type: text/plain'
        b"\r\n\r\nbody without closing boundary\r\n--z",
        b'Content-Type: multipart/alternative; boundary="a"\r\n\r\n--a\r\n--a\r\n--a--',
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\ncaf\xe9",
        b"Content-Type: text/plain; charset=utf-8\r\n\r\ncaf\xe9 \xff\xfe",
        b'Content-Type: text/plain; charset="hex"\r\n\r\nnot hex',
        b"Content-Type: text/plain; charset*=utf-8''%E9%ZZ\r\n\r\nx",
        b"Content-Transfer-Encoding: base64\r\n\r\n@@@ not base64 ===",
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n=E9",
        b"Subject: Sauvegarde \xe9chou\xe9e de SRV-8BIT\r\nFrom: J\xe9r\xf4me <j@x.example>"
        b"\r\n\r\n",
        b"Content-Type: text/html\r\n\r\n<html><body><table><tr><td>unclosed <script>x",
        b"Content-Type: text/html\r\n\r\n<!DOCTYPE x [<!ENTITY a 'b'>]><![CDATA[ ]]><p &#xFFFFFF;",
        b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body",
        b"From: <<<@@@>>>\r\nDate: not a date\r\nReferences: <a> <b\r\n\r\n",
        b"Date: Mon, 99 Foo 9999 99:99:99 +9999\r\n\r\n",
    ],
)
def test_bad_input_never_raises(raw: bytes) -> None:
    assert_sane(raw)


def test_empty_bytes_gives_one_unknown_event() -> None:
    parsed = parse_message(b"")
    assert parsed.parser == "unknown"
    assert [(e.family, e.status, e.check) for e in parsed.events] == [
        (Family.UNKNOWN, Status.INFO, "unknown")
    ]
    assert parsed.envelope.subject == "" and parsed.envelope.text == ""


def test_headers_only_keeps_subject() -> None:
    envelope = read_envelope(b"Subject: Dell OMSA fanfail Alert on SRV-H\r\nFrom: a@b.example")
    assert envelope.subject == "Dell OMSA fanfail Alert on SRV-H"
    assert parse_message(b"Subject: Dell OMSA fanfail Alert on SRV-H\r\n").events[0].check == "fan"


def test_eight_bit_headers_are_decoded() -> None:
    envelope = read_envelope(
        b"Subject: Sauvegarde \xe9chou\xe9e de SRV-8BIT\r\nFrom: J\xe9r\xf4me <j@x.example>\r\n\r\n"
    )
    assert envelope.subject == "Sauvegarde échouée de SRV-8BIT"
    assert envelope.sender_name == "Jérôme"
    assert envelope.sender == "j@x.example"


def test_wrong_declared_charset_does_not_raise() -> None:
    envelope = read_envelope(b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\ncaf\xe9")
    assert envelope.text == "café"


@pytest.mark.parametrize("depth", [10, 200, 3000])
def test_deeply_nested_multiparts(depth: int) -> None:
    started = time.perf_counter()
    parsed = parse_message(nested_multipart(depth))
    assert parsed.events
    assert parsed.envelope.subject == "deep"
    assert time.perf_counter() - started < 10
    if depth == 10:  # ordinary nesting is read; hostile nesting is capped, not followed
        assert "Failed Backup on SRV-DEEP" in parsed.envelope.text


def test_many_sibling_parts_are_capped() -> None:
    parts = b"".join(b"--s\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(5000))
    raw = b'Subject: x\r\nContent-Type: multipart/mixed; boundary="s"\r\n\r\n' + parts + b"--s--"
    assert_sane(raw)


def test_five_megabyte_body_is_quick() -> None:
    listing = b"".join(b"/srv/data/dir%06d/file.bin\n" % i for i in range(200_000))
    body = listing[: 5 * 1024 * 1024] + b"tar: Exiting with failure status due to previous errors\n"
    raw = (
        b"From: root@srv-big (Cron Daemon)\r\nSubject: Cron <root@srv-big> tar cvf /dev/st0 /srv"
        b"\r\nContent-Type: text/plain\r\n\r\n" + body
    )
    started = time.perf_counter()
    parsed = parse_message(raw)
    elapsed = time.perf_counter() - started
    assert elapsed < 5, f"took {elapsed:.1f}s"
    assert parsed.events[0].backup_result is BackupResult.FAILED
    assert parsed.events[0].host == "srv-big"


def test_five_megabyte_html_body_does_not_raise() -> None:
    html = b"<html><body>" + b"<p>row <b>bold</b> &amp; text</p>" * 160_000 + b"</body></html>"
    raw = b"Subject: big html\r\nContent-Type: text/html\r\n\r\n" + html
    started = time.perf_counter()
    assert_sane(raw)
    assert time.perf_counter() - started < 15


def test_a_crashing_parser_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    from parsers import hp

    def explode(env: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(hp, "parse", explode)
    parsed = parse_message(b"Subject: HP AlertMail-001: (CRITICAL) Fan #1: Failed\r\n\r\nx")
    assert parsed.parser == "unknown"
    assert len(parsed.events) == 1


# --------------------------------------------------------------------------- event contract


def test_event_is_hashable_frozen_and_picklable() -> None:
    event = AlertEvent(
        family=Family.HARDWARE,
        status=Status.PROBLEM,
        host="SRV",
        check="fan",
        target=None,
        severity=Severity.CRITICAL,
        backup_result=None,
        product="hp",
        extra={"a": "b"},
    )
    assert hash(event) == hash(pickle.loads(pickle.dumps(event)))
    assert {event, event} == {event}
    with pytest.raises(TypeError):
        event.extra["a"] = "c"  # type: ignore[index]
    assert isinstance(event.extra, FrozenDict)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"status": "problem", "check": "cpu"}, "family is required"),
        ({"family": "nope", "status": "problem", "check": "cpu"}, "family must be one of"),
        (
            {
                "family": "backup",
                "status": "problem",
                "check": "backup_job",
                "backup_result": "meh",
            },
            "backup_result must be one of",
        ),
        (
            {"family": "hardware", "status": "problem", "check": "fan", "backup_result": "failed"},
            "only allowed on family=backup",
        ),
        (
            {"family": "performance", "status": "problem", "check": "cpu", "value": "high"},
            "value must be a number",
        ),
        (
            {
                "family": "performance",
                "status": "problem",
                "check": "cpu",
                "occurred_at": "yesterday",
            },
            "occurred_at must be ISO 8601",
        ),
        (
            {"family": "performance", "status": "problem", "check": "cpu", "colour": "red"},
            "unknown field(s): colour",
        ),
        ({"family": "performance", "status": "problem", "check": 3}, "check must be a string"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_from_dict_rejects_bad_input_clearly(payload: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AlertEvent.from_dict(payload)  # type: ignore[arg-type]


def test_from_dict_defaults_and_naive_time_is_paris() -> None:
    event = AlertEvent.from_dict(
        {
            "family": "link",
            "status": "problem",
            "check": "vpn",
            "target": "SITE-A",
            "value": "734",
            "occurred_at": "2026-07-01T10:00:00",
            "fingerprint": "ignored",
        }
    )
    assert event.severity is Severity.WARNING
    assert event.product == "unknown"
    assert event.value == 734.0
    assert event.occurred_at is not None and event.occurred_at.utcoffset() == timedelta(hours=2)


def test_fingerprint_is_readable_and_truncated_when_long() -> None:
    base = dict(
        family=Family.SERVICE,
        status=Status.PROBLEM,
        host="SRV-A.corp.local",
        check="service",
        severity=Severity.MINOR,
        backup_result=None,
        product="p",
    )
    event = AlertEvent(target="Spooler", **base)  # type: ignore[arg-type]
    assert event.fingerprint("client-a") == "client-a|srv-a|service|service|spooler"
    long_a = AlertEvent(target="x" * 300 + "a", **base).fingerprint("c")  # type: ignore[arg-type]
    long_b = AlertEvent(target="x" * 300 + "b", **base).fingerprint("c")  # type: ignore[arg-type]
    assert len(long_a) <= 200 and len(long_b) <= 200 and long_a != long_b
    piped = AlertEvent(target="a|b", **base).fingerprint("c")  # type: ignore[arg-type]
    assert piped.count("|") == 4


# --------------------------------------------------------------------------- properties

_FRAGMENTS = st.sampled_from(
    [
        b"Subject: ",
        b"From: ",
        b'Content-Type: multipart/mixed; boundary="q"\r\n',
        b"--q\r\n",
        b"--q--",
        b"\r\n",
        b"\r\n\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"=?utf-8?b?",
        b"?=",
        b"=?x?q?=E9",
        b'charset="utf-16"',
        b"Content-Type: text/html\r\n",
        b"<script>",
        b"<td>",
        b"Event[0]:",
        b"HP AlertMail-1: (CRITICAL) ",
        b"Dell OMSA fanfail Alert on ",
        b"Check: cpu\n",
        b"Status: PROBLEM\n",
        b"Cron <root@h> ",
        b"\xe9\xff\x00",
        b"Job Failed",
        b"[Warning] ",
        b"Content-Type: message/rfc822\r\n\r\n",
        b"---------- Forwarded message ---------\n",
        b"From: a@b\nSubject: Fwd: x\n\n",
    ]
)


@PROFILE
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    assert_sane(raw)


@PROFILE
@given(st.lists(st.one_of(_FRAGMENTS, st.binary(max_size=40)), max_size=40).map(b"".join))
def test_mail_shaped_garbage_never_raises(raw: bytes) -> None:
    assert_sane(raw)


_CHECKS = [
    "cpu",
    "disk_time",
    "disk_queue",
    "pagefile",
    "committed_bytes",
    "disk_free",
    "event",
    "service",
    "heartbeat",
    "latency",
    "vpn",
    "fan",
    "raid",
    "threat",
]
_STATUS = {"PROBLEM": Status.PROBLEM, "RECOVERY": Status.RECOVERY, "OK": Status.INFO}
_TEXT = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)


@PROFILE
@given(
    host=st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,30}", fullmatch=True),
    check=st.sampled_from(_CHECKS),
    target=st.none() | _TEXT,
    status=st.sampled_from(sorted(_STATUS)),
    value=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    cte=st.sampled_from(["8bit", "base64", "quoted-printable"]),
)
def test_probe_round_trip(
    host: str,
    check: str,
    target: str | None,
    status: str,
    value: float | None,
    cte: str,
) -> None:
    import base64
    import quopri

    lines = [f"Host: {host}", f"Check: {check}"]
    if target is not None:
        lines.append(f"Target: {target}")
    lines.append(f"Status: {status}")
    if value is not None:
        lines.append(f"Value: {value!r}")
    body = ("\n".join(lines) + "\n").encode("utf-8")
    if cte == "base64":
        body = base64.encodebytes(body)
    elif cte == "quoted-printable":
        body = quopri.encodestring(body)
    raw = (
        f"From: vigie-probe@client.example\nSubject: [VIGIE] {host} {status} {check}: generated\n"
        f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: {cte}\n\n"
    ).encode() + body
    parsed = parse_message(raw)
    assert parsed.parser == "probe"
    (event,) = parsed.events
    assert (event.host, event.check, event.target, event.status, event.value) == (
        host,
        check,
        target,
        _STATUS[status],
        value,
    )


@st.composite
def alert_events(draw: st.DrawFn) -> AlertEvent:
    family = draw(st.sampled_from(list(Family)))
    backup = (
        draw(st.none() | st.sampled_from(list(BackupResult))) if family is Family.BACKUP else None
    )
    zones = st.sampled_from([UTC, PARIS, timezone(timedelta(hours=-5, minutes=-30))])
    return AlertEvent(
        family=family,
        status=draw(st.sampled_from(list(Status))),
        host=draw(st.none() | _TEXT),
        check=draw(_TEXT),
        target=draw(st.none() | _TEXT),
        severity=draw(st.sampled_from(list(Severity))),
        backup_result=backup,
        product=draw(_TEXT),
        value=draw(st.none() | st.floats(allow_nan=False, allow_infinity=False)),
        threshold=draw(st.none() | st.integers(-(10**6), 10**6).map(float)),
        occurred_at=draw(
            st.none() | st.datetimes(timezones=zones).filter(lambda d: 1971 <= d.year <= 2999)
        ),
        summary=draw(st.text(max_size=60)),
        extra=draw(st.dictionaries(_TEXT, st.text(max_size=20), max_size=4)),
    )


@PROFILE
@given(alert_events())
def test_to_dict_from_dict_round_trip(event: AlertEvent) -> None:
    data = json.loads(json.dumps(event.to_dict()))
    back = AlertEvent.from_dict(data)
    assert back.to_dict() == event.to_dict()
    if event.occurred_at is None:
        assert back == event
    else:  # aware datetimes in a DST fold never compare equal across zones (PEP 495)
        assert back.occurred_at is not None
        assert back.occurred_at.timestamp() == event.occurred_at.timestamp()


@PROFILE
@given(
    host=st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
    suffix=st.from_regex(r"(\.[a-z][a-z0-9-]{0,9}){1,3}", fullmatch=True),
    target=st.none() | _TEXT,
    client=st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
)
def test_fingerprint_stable_under_host_case_and_domain(
    host: str,
    suffix: str,
    target: str | None,
    client: str,
) -> None:
    def event(name: str, tgt: str | None) -> AlertEvent:
        return AlertEvent(
            family=Family.DISK_SPACE,
            status=Status.PROBLEM,
            host=name,
            check="disk_free",
            target=tgt,
            severity=Severity.MINOR,
            backup_result=None,
            product="vigie-probe",
        )

    reference = event(host, target).fingerprint(client)
    variants = [host.upper(), host.lower(), host + suffix, (host + suffix).upper()]
    for variant in variants:
        assert event(variant, target).fingerprint(client) == reference
    if target is not None:
        assert (
            event(host, target.upper()).fingerprint(client)
            == event(host, target.lower()).fingerprint(client)
            or target.upper().lower() != target.lower()
        )
    assert len(reference) <= 200
