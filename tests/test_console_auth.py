"""Console access: sign-in (hashed passwords, audit, rate limit), sessions, CSRF, API tokens,
the roles matrix, and the client role confined to its own company at the data layer."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from console.auth import (
    SESSION_COOKIE,
    check_password,
    create_api_token,
    create_user,
    revoke_api_token,
)
from models.auth import ApiToken, SignInAttempt, UserSession
from models.db import session_scope
from models.tables import User
from tests.browser.support import PASSWORD, Desk, add_case, csrf_of, make_desk, sign_in


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(engine, tmp_path)


def outcomes(engine: Engine, username: str) -> list[str]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(SignInAttempt.outcome)
                .where(SignInAttempt.username == username)
                .order_by(col(SignInAttempt.id))
            ).all()
        )


def test_passwords_are_stored_as_argon2_hashes(desk: Desk) -> None:
    user = create_user(desk.engine, "alice", "a long enough secret", "technician")
    assert user.password_hash.startswith("$argon2")
    assert "a long enough secret" not in user.password_hash


def test_sign_in_sets_a_hardened_session_cookie_and_is_audited(desk: Desk) -> None:
    http = desk.client()
    r = sign_in(http, "tech")
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http in tests; see the next test
    assert http.get("/queue").status_code == 200
    assert outcomes(desk.engine, "tech") == ["ok"]
    with Session(desk.engine) as s:
        stored = s.exec(select(UserSession)).one()
    # the cookie holds a signed random token; the database only its digest
    assert stored.id not in cookie and len(stored.id) == 64


def test_the_cookie_is_secure_when_configured(engine: Engine, tmp_path: Path) -> None:
    desk = make_desk(engine, tmp_path, cookie_secure=True)
    r = sign_in(desk.client(), "tech")
    assert "Secure" in r.headers["set-cookie"]


def test_wrong_passwords_are_refused_then_rate_limited_per_user_and_address(desk: Desk) -> None:
    http = desk.client()
    for _ in range(desk.settings.login_max_failures):
        assert sign_in(http, "tech", "wrong password").status_code == 401
    # the right password no longer helps during the window
    r = sign_in(http, "tech")
    assert r.status_code == 429
    assert "Trop de tentatives" in r.text
    assert outcomes(desk.engine, "tech") == ["bad_password"] * 5 + ["throttled"]
    # an unknown user is audited too, with the same answer as a wrong password
    assert sign_in(http, "nobody", "x").status_code == 401
    assert outcomes(desk.engine, "nobody") == ["unknown_user"]
    # another user from the same address is not locked out
    assert sign_in(desk.client(), "manager").status_code == 303


def test_the_login_form_itself_needs_its_csrf_token(desk: Desk) -> None:
    http = desk.client()
    http.get("/login")
    r = http.post("/login", data={"username": "tech", "password": PASSWORD})
    assert r.status_code == 403
    assert outcomes(desk.engine, "tech") == ["csrf"]
    assert SESSION_COOKIE not in http.cookies


def test_a_form_post_without_the_csrf_token_is_refused(desk: Desk) -> None:
    http, token = desk.signed_in("admin")
    form = {"code": "client-z", "name": "Zeta"}
    assert http.post("/admin/clients", data=form).status_code == 403
    assert http.post("/admin/clients", data={**form, "csrf_token": "forged"}).status_code == 403
    assert http.post("/logout").status_code == 403
    ok = http.post("/admin/clients", data={**form, "csrf_token": token})
    assert ok.status_code == 303
    assert "Zeta" in http.get("/admin/clients").text
    # JSON calls from the console's script carry it in a header
    case_id = add_case(desk.engine, desk.clients["client-a"])
    r = http.post(f"/api/cases/{case_id}/actions/add_note", json={"text": "x"})
    assert r.status_code == 403
    r = http.post(
        f"/api/cases/{case_id}/actions/add_note",
        json={"text": "x"},
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 503  # got past CSRF; no Temporal in this test


def test_sign_out_ends_the_session_server_side(desk: Desk) -> None:
    http, token = desk.signed_in("technician")
    stolen = http.cookies[SESSION_COOKIE]
    assert http.post("/logout", data={"csrf_token": token}).status_code == 303
    replay = desk.client()
    replay.cookies.set(SESSION_COOKIE, stolen)
    r = replay.get("/queue")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert replay.get("/api/cases").status_code == 401
    assert outcomes(desk.engine, "tech") == ["ok", "signed_out"]


def test_a_deactivated_user_loses_the_session_at_once(desk: Desk) -> None:
    http, _ = desk.signed_in("technician")
    with session_scope(desk.engine) as s:
        user = s.exec(select(User).where(User.username == "tech")).one()
        user.active = False
        s.add(user)
    assert http.get("/queue").status_code == 303
    assert sign_in(desk.client(), "tech").status_code == 401


def test_a_tampered_cookie_is_not_a_session(desk: Desk) -> None:
    http, _ = desk.signed_in("technician")
    value = http.cookies[SESSION_COOKIE]
    forged = desk.client()
    forged.cookies.set(SESSION_COOKIE, value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    assert forged.get("/queue").status_code == 303


def test_the_api_needs_a_caller_except_the_health_check(desk: Desk) -> None:
    http = desk.client()
    r = http.get("/api/cases")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert http.get("/api/cases/1").status_code == 401
    assert http.get("/api/openapi.json").status_code == 401
    assert http.post("/api/cases/1/actions/classify", json={}).status_code == 401
    assert http.get("/api/healthz").status_code in (200, 503)  # public, never 401


def test_api_tokens_act_with_their_users_role_and_can_be_revoked(desk: Desk) -> None:
    mine = add_case(desk.engine, desk.clients["client-a"], criticality="minor")
    other = add_case(desk.engine, desk.clients["client-b"])
    token = create_api_token(desk.engine, "client-a", "portal sync")
    http = desk.client()
    auth = {"Authorization": f"Bearer {token}"}
    assert [c["id"] for c in http.get("/api/cases", headers=auth).json()] == [mine]
    assert http.get(f"/api/cases/{other}", headers=auth).status_code == 404
    assert (
        http.post(f"/api/cases/{mine}/actions/add_note", headers=auth, json={}).status_code == 403
    )
    tech = {"Authorization": f"Bearer {create_api_token(desk.engine, 'tech')}"}
    assert {c["id"] for c in http.get("/api/cases", headers=tech).json()} == {mine, other}
    # bearer calls carry no ambient authority: no CSRF token needed (503: no Temporal here)
    assert (
        http.post(f"/api/cases/{mine}/actions/add_note", headers=tech, json={}).status_code == 503
    )
    with Session(desk.engine) as s:
        row = s.exec(select(ApiToken).where(ApiToken.name == "portal sync")).one()
        assert token not in row.token_sha256 and row.last_used_at is not None
    revoke_api_token(desk.engine, row.id or 0)
    assert http.get("/api/cases", headers=auth).status_code == 401
    assert http.get("/api/cases", headers={"Authorization": "Bearer vig_nope"}).status_code == 401
    assert http.get("/api/cases", headers={"Authorization": "Basic eDp5"}).status_code == 401


def test_the_bootstrap_token_from_the_environment_acts_as_an_administrator(
    engine: Engine, tmp_path: Path
) -> None:
    desk = make_desk(engine, tmp_path, bootstrap_api_token="boot-token-for-automation")
    add_case(desk.engine, desk.clients["client-c"])
    http = desk.client()
    r = http.get("/api/cases", headers={"Authorization": "Bearer boot-token-for-automation"})
    assert r.status_code == 200 and len(r.json()) == 1
    assert http.get("/api/cases", headers={"Authorization": "Bearer boot-token"}).status_code == 401
    # without the setting, no token is a bootstrap token
    plain = make_desk(engine, tmp_path / "2")
    assert plain.client().get("/api/cases", headers={"Authorization": "Bearer "}).status_code == 401


# (path, roles allowed) — the roles matrix of the console's pages
MATRIX: list[tuple[str, set[str]]] = [
    ("/queue", {"technician", "level2", "manager", "planner", "admin", "consultant"}),
    ("/unmatched", {"technician", "level2", "admin"}),
    ("/sla", {"manager", "admin"}),
    ("/sla/export.csv", {"manager", "admin"}),
    ("/planning", {"planner", "manager", "admin"}),
    ("/admin", {"admin"}),
    ("/admin/clients", {"admin"}),
    ("/admin/users", {"admin"}),
    ("/admin/tokens", {"admin"}),
    ("/admin/import", {"admin"}),
    ("/admin/policies", {"admin"}),
    ("/admin/signins", {"admin"}),
    ("/admin/expectations", {"admin"}),
    ("/portal", {"client"}),
    ("/portal/documents", {"client"}),
    ("/visits/mine", {"consultant", "admin"}),
    ("/entitlements", {"manager", "admin"}),
]


@pytest.mark.parametrize(
    "role", ["technician", "level2", "manager", "planner", "admin", "client", "consultant"]
)
def test_roles_matrix(engine: Engine, tmp_path: Path, role: str) -> None:
    desk = make_desk(engine, tmp_path)
    http, _ = desk.signed_in(role)
    for path, allowed in MATRIX:
        status = http.get(path).status_code
        assert status == (200 if role in allowed else 403), (role, path, status)


def test_a_client_user_sees_only_its_own_company(desk: Desk) -> None:
    mine = add_case(desk.engine, desk.clients["client-a"], title="chez nous", criticality="minor")
    closed = add_case(
        desk.engine, desk.clients["client-a"], state="closed", closed=True, title="ancien cas",
        criticality="significant",
    )
    theirs = add_case(desk.engine, desk.clients["client-b"], title="chez les voisins")
    http, _ = desk.signed_in("client")
    portal = http.get("/portal").text
    assert "chez nous" in portal and "ancien cas" in portal and "chez les voisins" not in portal
    assert http.get(f"/portal/cases/{mine}").status_code == 200
    assert http.get(f"/portal/cases/{closed}").status_code == 200
    # changing the id in the URL: the neighbour's case does not exist for this user
    r = http.get(f"/portal/cases/{theirs}")
    assert r.status_code == 404 and "chez les voisins" not in r.text
    assert http.get(f"/portal/cases/{theirs + 1000}").status_code == 404
    # the staff pages and the admin pages are closed to it
    assert http.get(f"/cases/{mine}").status_code == 403
    assert http.get(f"/cases/{theirs}").status_code == 403
    assert http.get(f"/events/{mine}").status_code == 403
    # and the API is filtered the same way
    assert {c["id"] for c in http.get("/api/cases?all=true").json()} == {mine, closed}
    assert http.get(f"/api/cases?client_id={desk.clients['client-b']}").json() == []
    assert http.get(f"/api/cases/{theirs}").status_code == 404
    assert http.get(f"/api/cases/{mine}").status_code == 200


def test_every_response_carries_a_strict_content_security_policy(desk: Desk) -> None:
    http = desk.client()
    for path in ("/login", "/api/healthz", "/static/console.js"):
        r = http.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
    assert http.get("/login").headers["cache-control"] == "no-store"


def test_the_next_parameter_cannot_send_a_user_off_site(desk: Desk) -> None:
    http = desk.client()
    page = http.get("/login?next=//evil.example/x")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = http.post(
        "/login",
        data={
            "username": "tech",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/x",
        },
    )
    assert r.headers["location"] == "/queue"
    assert csrf_of(http)


def test_webhook_routes_are_mounted_with_their_own_source_tokens(desk: Desk) -> None:
    r = desk.client().post("/api/events", json={})
    assert r.status_code == 401 and r.json()["detail"] == "Jeton de source manquant"


def test_demo_users_one_per_role_with_a_password_kept_private(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from base.settings import get_settings
    from vigie.demo import CREDENTIALS_FILE, USERS, load_demo

    monkeypatch.delenv("VIGIE_DEMO_PASSWORD", raising=False)
    monkeypatch.setenv("VIGIE_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        ids = load_demo(engine)
        creds = tmp_path / CREDENTIALS_FILE
        assert creds.stat().st_mode & 0o777 == 0o600
        password = creds.read_text().split("password: ")[1].strip()
        with Session(engine) as s:
            users = {u.username: u for u in s.exec(select(User)).all()}
        assert {role for _, role, _, _ in USERS} == {
            "technician", "level2", "manager", "planner", "admin", "client", "consultant",
        }  # fmt: skip
        assert users["client-a"].client_id == ids["client-a"]
        assert check_password(users["admin"], password)
        load_demo(engine)  # idempotent: nothing regenerated, nobody's password changed
        assert creds.read_text().split("password: ")[1].strip() == password
    finally:
        get_settings.cache_clear()
