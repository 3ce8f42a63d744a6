"""The sign-in limit cannot be walked around (issue 11, finding 4), over real HTTP (the
console's own uvicorn configuration on loopback, clients on distinct 127.0.0.x addresses).

* ``X-Forwarded-For`` is believed only from ``VIGIE_TRUSTED_PROXIES`` (none by default), so a
  new forged address on every try does not reset the limit;
* failures also count per account (any address) and per address (any name);
* each lock-out is audited, and the next one of the same subject lasts twice as long.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models.auth import SignInAttempt
from models.db import session_scope
from models.signin import SignInLockout
from tests.browser.support import PASSWORD, Desk, make_desk, sign_in
from tests.http_helpers import UvicornThread
from vigie.services import console_config


@contextmanager
def served(desk: Desk) -> Iterator[UvicornThread]:
    with UvicornThread(console_config(desk.settings, desk.app)) as srv:
        yield srv


def browser(srv: UvicornThread, address: str = "127.0.0.1") -> httpx.Client:
    return httpx.Client(base_url=srv.url, follow_redirects=False,
                        transport=httpx.HTTPTransport(local_address=address))


def attempts(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as s:
        return [(a.ip, a.outcome) for a in s.exec(
            select(SignInAttempt).order_by(col(SignInAttempt.id))).all()]


def lockouts(engine: Engine) -> list[SignInLockout]:
    with Session(engine) as s:
        return list(s.exec(select(SignInLockout).order_by(col(SignInLockout.id))).all())


def try_sign_in(http: Any, username: str = "tech", password: str = "wrong",
                forwarded: str | None = None) -> int:
    if forwarded is not None:
        http.headers["X-Forwarded-For"] = forwarded
    return sign_in(http, username, password).status_code


def test_a_forged_forwarded_for_does_not_reset_the_limit(engine: Engine, tmp_path: Path) -> None:
    desk = make_desk(engine, tmp_path)
    tries = desk.settings.login_max_failures
    with served(desk) as srv, browser(srv) as http:
        codes = [try_sign_in(http, forwarded=f"203.0.113.{i}") for i in range(tries)]
        assert codes == [401] * tries
        # the right password, from "yet another address": still the same caller
        assert try_sign_in(http, password=PASSWORD, forwarded="198.51.100.77") == 429
    assert attempts(engine) == [("127.0.0.1", "bad_password")] * tries + [
        ("127.0.0.1", "throttled")]


def test_forwarded_for_is_believed_from_a_trusted_proxy_only(
    engine: Engine, tmp_path: Path
) -> None:
    desk = make_desk(engine, tmp_path, trusted_proxies="127.0.0.1, 10.0.0.0/8")
    with served(desk) as srv:
        with browser(srv, "127.0.0.1") as proxy:
            assert try_sign_in(proxy, "admin", PASSWORD, forwarded="203.0.113.7") == 303
        with browser(srv, "127.0.0.2") as stranger:
            assert try_sign_in(stranger, "admin", PASSWORD, forwarded="203.0.113.8") == 303
    assert attempts(engine) == [("203.0.113.7", "ok"), ("127.0.0.2", "ok")]


def test_failures_from_many_addresses_lock_the_account(engine: Engine, tmp_path: Path) -> None:
    desk = make_desk(engine, tmp_path, login_account_max_failures=4)
    with served(desk) as srv:
        for n in range(2, 6):  # one failure from each of four addresses
            with browser(srv, f"127.0.0.{n}") as http:
                assert try_sign_in(http) == 401
        with browser(srv, "127.0.0.6") as owner:
            assert try_sign_in(owner, password=PASSWORD) == 429
        with browser(srv, "127.0.0.6") as colleague:  # other accounts are not locked
            assert try_sign_in(colleague, "n2", PASSWORD) == 303
    (lock,) = lockouts(engine)
    assert (lock.scope, lock.subject, lock.failures, lock.ip) == ("account", "tech", 4,
                                                                   "127.0.0.5")
    assert lock.seconds == desk.settings.login_lockout_seconds


def test_many_names_from_one_address_lock_the_address(engine: Engine, tmp_path: Path) -> None:
    desk = make_desk(engine, tmp_path, login_address_max_failures=3)
    http = desk.client()
    assert [try_sign_in(http, name) for name in ("alice", "bob", "carol")] == [401] * 3
    assert try_sign_in(http, "tech", PASSWORD) == 429
    assert [(lk.scope, lk.subject) for lk in lockouts(engine)] == [("address", "testclient")]


def expire_lockouts(engine: Engine) -> None:
    """What waiting does: every lock-out is over (moved back, as if it began long ago)."""
    with session_scope(engine) as s:
        for row in s.exec(select(SignInLockout)).all():
            row.until = row.at
            s.add(row)


def test_each_lockout_doubles_up_to_the_ceiling_and_is_shown_to_administrators(
    engine: Engine, tmp_path: Path
) -> None:
    desk = make_desk(engine, tmp_path, login_max_failures=100, login_account_max_failures=3,
                     login_lockout_seconds=60, login_lockout_max_seconds=200)
    http = desk.client()
    for _round in range(3):
        assert [try_sign_in(http) for _ in range(3)] == [401] * 3
        assert try_sign_in(http, password=PASSWORD) == 429
        expire_lockouts(engine)
    assert [lk.seconds for lk in lockouts(engine)] == [60, 120, 200]
    assert try_sign_in(http, password=PASSWORD) == 303  # the lock-out over, the owner gets in
    admin, _ = desk.signed_in("admin")
    page = admin.get("/admin/signins")
    assert page.status_code == 200
    assert "Verrouillages" in page.text and page.text.count("<td>account</td>") == 3
    assert "Lock-outs" in admin.get("/admin/signins?lang=en").text


def test_a_successful_sign_in_forgives_earlier_failures(engine: Engine, tmp_path: Path) -> None:
    desk = make_desk(engine, tmp_path, login_max_failures=3, login_account_max_failures=3)
    http = desk.client()
    assert [try_sign_in(http) for _ in range(2)] == [401, 401]
    assert try_sign_in(http, password=PASSWORD) == 303
    http = desk.client()
    assert [try_sign_in(http) for _ in range(2)] == [401, 401]
    assert try_sign_in(http, password=PASSWORD) == 303
    assert lockouts(engine) == []
