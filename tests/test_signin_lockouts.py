"""Sign-in lock-outs cannot shut a user out of their own desk, and administrators lift them
(issue 21, finding 5: ten bad passwords from two addresses locked a known user out
everywhere, and nobody could undo it). Real HTTP (the console's own uvicorn configuration on
loopback), each client on its own 127.0.0.x address."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models.signin import SignInLockout
from tests.browser.support import PASSWORD, Desk, make_desk
from tests.test_trust_signin import browser, served, try_sign_in

USUAL, ATTACKER_1, ATTACKER_2, ELSEWHERE = "127.0.0.6", "127.0.0.2", "127.0.0.3", "127.0.0.7"


def lockouts(engine: Engine) -> list[SignInLockout]:
    with Session(engine) as s:
        return list(s.exec(select(SignInLockout).order_by(col(SignInLockout.id))).all())


def ten_bad_passwords_from_two_addresses(srv: object) -> None:
    for address in (ATTACKER_1, ATTACKER_2):
        with browser(srv, address) as http:  # type: ignore[arg-type]
            assert {try_sign_in(http) for _ in range(5)} <= {401, 429}


@pytest.fixture
def desk(sqlite_engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(sqlite_engine, tmp_path, login_max_failures=5,
                     login_account_max_failures=10)


def test_guessing_from_elsewhere_does_not_lock_the_user_out_of_their_usual_address(
    desk: Desk,
) -> None:
    with served(desk) as srv:
        with browser(srv, USUAL) as http:  # the user's own desk, yesterday
            assert try_sign_in(http, password=PASSWORD) == 303
        ten_bad_passwords_from_two_addresses(srv)
        assert [lk.scope for lk in lockouts(desk.engine)].count("account") == 1
        with browser(srv, USUAL) as http:
            assert try_sign_in(http, password=PASSWORD) == 303  # still gets in
        with browser(srv, ELSEWHERE) as http:  # a new address meets the account's lock-out
            assert try_sign_in(http, password=PASSWORD) == 429
        with browser(srv, USUAL) as http:  # guessing from the known address: the pair limit
            assert [try_sign_in(http) for _ in range(5)] == [401] * 5
            assert try_sign_in(http, password=PASSWORD) == 429


def test_with_no_known_addresses_the_account_lock_out_applies_everywhere(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    desk = make_desk(sqlite_engine, tmp_path, login_account_max_failures=10,
                     login_known_address_days=0)
    with served(desk) as srv:
        with browser(srv, USUAL) as http:
            assert try_sign_in(http, password=PASSWORD) == 303
        ten_bad_passwords_from_two_addresses(srv)
        with browser(srv, USUAL) as http:
            assert try_sign_in(http, password=PASSWORD) == 429


def test_an_administrator_sees_and_lifts_a_lock_out(desk: Desk) -> None:
    with served(desk) as srv:
        ten_bad_passwords_from_two_addresses(srv)
        with browser(srv, ELSEWHERE) as http:
            assert try_sign_in(http, password=PASSWORD) == 429
        (account,) = [lk for lk in lockouts(desk.engine) if lk.scope == "account"]
        admin, token = desk.signed_in("admin")
        page = admin.get("/admin/signins").text
        assert f'id="lift-{account.id}"' in page
        answer = admin.post(f"/admin/signins/{account.id}/lift", data={"csrf_token": token})
        assert answer.status_code == 303
        assert "Verrouillage de tech levé." in admin.get("/admin/signins").text
        with browser(srv, ELSEWHERE) as http:
            assert try_sign_in(http, password=PASSWORD) == 303
        (lifted,) = [lk for lk in lockouts(desk.engine) if lk.scope == "account"]
        assert lifted.lifted_by == "admin" and lifted.lifted_at is not None
        assert lifted.until <= lifted.lifted_at
        english = admin.get("/admin/signins?lang=en").text
        assert "Lifted by admin" in english and f'id="lift-{account.id}"' not in english
        # lifting again, or a lock-out that does not exist: said plainly, nothing changes
        admin.post(f"/admin/signins/{account.id}/lift", data={"csrf_token": token})
        page = admin.get("/admin/signins?lang=fr").text
        assert "Verrouillage introuvable ou déjà terminé" in page
        admin.post("/admin/signins/999999/lift", data={"csrf_token": token})
        assert "Verrouillage introuvable" in admin.get("/admin/signins").text


def test_only_administrators_lift_lock_outs(desk: Desk) -> None:
    with served(desk) as srv:
        ten_bad_passwords_from_two_addresses(srv)
    (account,) = [lk for lk in lockouts(desk.engine) if lk.scope == "account"]
    manager, token = desk.signed_in("manager")
    assert manager.post(f"/admin/signins/{account.id}/lift",
                        data={"csrf_token": token}).status_code == 403
    (still,) = [lk for lk in lockouts(desk.engine) if lk.scope == "account"]
    assert still.lifted_at is None
