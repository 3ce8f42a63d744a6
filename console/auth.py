"""Who is asking, and may they: passwords, sessions, API tokens, roles, CSRF, sign-in limits.

Two ways in, never mixed in one request:
* a browser session: a random token in an HttpOnly, SameSite=Lax cookie, signed with the
  console's key and stored server-side as its SHA-256 (sign-out and deactivation end it at
  once); unsafe requests must carry the session's CSRF token;
* ``Authorization: Bearer <token>`` for automation: an API token created by an administrator
  (stored hashed, acting with its user's role), or the environment's bootstrap token
  (``VIGIE_BOOTSTRAP_API_TOKEN``), which acts as an administrator. A request with an
  ``Authorization`` header is judged on it alone, so it needs no CSRF token: a foreign site
  cannot make a browser send that header.

The client role is scoped to its own company at the data layer: every query of a route a
client may reach filters on :attr:`Principal.client_scope`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request
from itsdangerous import BadSignature, Signer
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from console.deps import Services
from console.signin_limits import FAILURES, active_lockout, after_failure
from models.auth import ApiToken, SignInAttempt, UserSession
from models.db import session_scope
from models.tables import User
from models.types import utcnow

ROLES: tuple[str, ...] = (
    "technician", "level2", "manager", "planner", "admin", "client", "consultant"
)
STAFF = frozenset({"technician", "level2", "manager", "planner", "admin", "consultant"})

# What each role may do; the roles matrix of the console in one place.
PERMISSIONS: dict[str, frozenset[str]] = {
    "queue": STAFF,  # the queue, case pages, contacts
    "case.act": frozenset({"technician", "level2", "admin"}),  # workflow updates
    "triage": frozenset({"technician", "level2", "admin"}),  # unmatched messages
    "sla": frozenset({"manager", "admin"}),
    "planning": frozenset({"planner", "manager", "admin"}),
    "admin": frozenset({"admin"}),
    "portal": frozenset({"client"}),
    # contracts (console/pages_contracts.py): who sees, checks, waives, plans, ends
    "contracts": frozenset({"planner", "manager", "admin"}),
    "contract.read": frozenset({"planner", "manager", "admin", "client"}),  # the API; a client
    # reads its own contract only (scoped in console.contracts_view)
    "contract.check": frozenset({"admin"}),  # records the 3.1 items with their evidence
    "contract.waive": frozenset({"manager", "admin"}),  # a waiver with its reason
    "contract.plan": frozenset({"planner", "admin"}),  # onboarding length, sensors
    "contract.activate": frozenset({"manager", "admin"}),
    "contract.end": frozenset({"manager", "admin"}),  # notice, remedied, immediate end
    "privacy": frozenset({"manager", "admin"}),  # access log, export
    "privacy.erase": frozenset({"admin"}),
    # preventive visits (console/pages_visits.py)
    "visit.read": frozenset({"planner", "manager", "admin", "consultant"}),
    "visit.plan": frozenset({"planner", "admin"}),  # propose, confirm, assign, reschedule, cancel
    "visit.run": frozenset({"consultant", "admin"}),  # start, checklist, report, no access
    "entitlement": frozenset({"manager", "admin"}),  # the entitlement dashboard
    # a visit's report and the technical document's diagram: the desk's visit readers, and a
    # client for its own visits only (scoped in console.pages_visits)
    "visit.report": frozenset({"planner", "manager", "admin", "consultant", "client"}),
    "techdoc.edit": frozenset({"planner", "admin", "consultant"}),  # a new version
}
ROLE_HOME: dict[str, str] = {
    "technician": "/queue",
    "level2": "/queue",
    "manager": "/sla",
    "planner": "/planning",
    "admin": "/queue",
    "client": "/portal",
    "consultant": "/visits/mine",
}

SESSION_COOKIE = "vigie_session"
PRE_SESSION_COOKIE = "vigie_pre"  # anonymous nonce that binds the login form's CSRF token
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_PREFIX = "vig_"
NO_CLIENT = -1  # scope of a client user attached to no company: sees nothing

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))  # equalises time for unknown users


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as every route sees it."""

    user_id: int | None
    username: str
    role: str
    client_id: int | None = None
    full_name: str = ""
    via: str = "session"  # session | token | bootstrap
    session_id: str | None = None
    csrf: str | None = None
    flash: str = ""

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS.get(permission, frozenset())

    @property
    def client_scope(self) -> int | None:
        """The only client this caller may see, or None for staff (all clients)."""
        if self.role != "client":
            return None
        return self.client_id if self.client_id is not None else NO_CLIENT

    @property
    def home(self) -> str:
        return ROLE_HOME.get(self.role, "/queue")


class LoginRequired(Exception):
    """No valid credentials: pages redirect to the login form, the API answers 401."""


# --- passwords and users ---------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    """Verifies in constant-ish time whether or not the user exists."""
    try:
        return _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and bool(user)
    except (VerificationError, InvalidHashError):
        return False


def create_user(
    engine: Engine,
    username: str,
    password: str,
    role: str,
    *,
    client_id: int | None = None,
    full_name: str = "",
) -> User:
    """Creates (or updates the password and role of) a user; used by the demo and tests."""
    if role not in ROLES:
        raise ValueError(f"rôle inconnu : {role}")
    if role == "client" and client_id is None:
        raise ValueError("un utilisateur client doit être rattaché à un client")
    with session_scope(engine) as s:
        user = s.exec(select(User).where(User.username == username)).first()
        if user is None:
            user = User(username=username)
        user.password_hash = hash_password(password)
        user.role = role
        user.client_id = client_id if role == "client" else None
        user.full_name = full_name or user.full_name
        user.active = True
        s.add(user)
        s.flush()
        s.expunge(user)
        return user


# --- API tokens ------------------------------------------------------------------------------


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(engine: Engine, username: str, name: str = "", created_by: str = "") -> str:
    """A new bearer token for ``username``; the clear value is returned once, never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with session_scope(engine) as s:
        user = s.exec(select(User).where(User.username == username)).first()
        if user is None or not user.active:
            raise ValueError(f"utilisateur inconnu ou inactif : {username}")
        s.add(
            ApiToken(
                user_id=user.id or 0,
                name=name[:120],
                token_sha256=digest(token),
                prefix=token[:10],
                created_by=created_by,
            )
        )
    return token


def revoke_api_token(engine: Engine, token_id: int) -> None:
    with session_scope(engine) as s:
        row = s.get(ApiToken, token_id)
        if row is not None and row.revoked_at is None:
            row.revoked_at = utcnow()
            s.add(row)


# --- sessions --------------------------------------------------------------------------------


def _signer(secret: str) -> Signer:
    return Signer(secret, salt="vigie-session")


def open_session(svc: Services, user: User, ip: str, user_agent: str) -> str:
    """Stores a new session and returns the signed cookie value."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with session_scope(svc.engine) as s:
        s.add(
            UserSession(
                id=digest(token),
                user_id=user.id or 0,
                csrf=secrets.token_urlsafe(32),
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(hours=svc.settings.session_hours),
                ip=ip[:64],
                user_agent=user_agent[:300],
            )
        )
    return _signer(svc.secret).sign(token.encode()).decode()


def _session_id(svc: Services, cookie: str | None) -> str | None:
    if not cookie:
        return None
    try:
        token = _signer(svc.secret).unsign(cookie.encode()).decode()
    except (BadSignature, UnicodeDecodeError):
        return None
    return digest(token)


def close_session(svc: Services, session_id: str | None) -> None:
    if not session_id:
        return
    with session_scope(svc.engine) as s:
        row = s.get(UserSession, session_id)
        if row is not None:
            s.delete(row)


def set_flash(svc: Services, principal: Principal, message: str) -> None:
    """One message for the next page of this session (post/redirect/get)."""
    if not principal.session_id:
        return
    with session_scope(svc.engine) as s:
        row = s.get(UserSession, principal.session_id)
        if row is not None:
            row.flash = message[:2000]
            s.add(row)


def clear_flash(svc: Services, principal: Principal) -> None:
    set_flash(svc, principal, "")


# --- who is asking ---------------------------------------------------------------------------


def resolve(svc: Services, headers: Any, cookies: dict[str, str]) -> Principal | None:
    """The caller of a request, or None. Blocking (database): call from a thread."""
    auth = headers.get("authorization")
    if auth is not None:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return _from_token(svc, token.strip())
    sid = _session_id(svc, cookies.get(SESSION_COOKIE))
    if sid is None:
        return None
    now = utcnow()
    with Session(svc.engine) as s:
        row = s.exec(
            select(UserSession, User)
            .join(User, col(User.id) == UserSession.user_id)
            .where(UserSession.id == sid)
        ).first()
        if row is None:
            return None
        sess, user = row
        if sess.expires_at <= now or not user.active:
            return None
        if (now - sess.last_seen_at).total_seconds() > 60:
            sess.last_seen_at = now
            s.add(sess)
            s.commit()
        return Principal(
            user_id=user.id,
            username=user.username,
            role=user.role,
            client_id=user.client_id,
            full_name=user.full_name,
            via="session",
            session_id=sid,
            csrf=sess.csrf,
            flash=sess.flash,
        )


def _from_token(svc: Services, token: str) -> Principal | None:
    boot = svc.settings.bootstrap_api_token
    if boot and hmac.compare_digest(token.encode(), boot.encode()):
        return Principal(user_id=None, username="bootstrap", role="admin", via="bootstrap")
    now = utcnow()
    with Session(svc.engine) as s:
        row = s.exec(
            select(ApiToken, User)
            .join(User, col(User.id) == ApiToken.user_id)
            .where(ApiToken.token_sha256 == digest(token))
        ).first()
        if row is None:
            return None
        tok, user = row
        if tok.revoked_at is not None or not user.active:
            return None
        if tok.last_used_at is None or (now - tok.last_used_at).total_seconds() > 60:
            tok.last_used_at = now
            s.add(tok)
            s.commit()
        return Principal(
            user_id=user.id,
            username=user.username,
            role=user.role,
            client_id=user.client_id,
            full_name=user.full_name,
            via="token",
        )


_UNRESOLVED = object()


async def get_principal(request: Request) -> Principal | None:
    """Resolves the caller once per request."""
    found = getattr(request.state, "principal", _UNRESOLVED)
    if found is _UNRESOLVED:
        svc: Services = request.app.state.services
        found = await run_in_threadpool(resolve, svc, request.headers, dict(request.cookies))
        request.state.principal = found
    return found


def require(permission: str | None = None) -> Any:
    """A dependency: the caller, who must be signed in (and hold ``permission`` if given)."""

    async def dependency(request: Request) -> Principal:
        principal = await get_principal(request)
        if principal is None:
            raise LoginRequired()
        request.state.client_scope = principal.client_scope
        if permission is not None and not principal.can(permission):
            raise HTTPException(403, "Accès refusé")
        return principal

    return dependency


# --- CSRF ------------------------------------------------------------------------------------


def pre_session_token(secret: str, nonce: str) -> str:
    """CSRF token of the login form, bound to the anonymous browser's nonce cookie."""
    return hmac.new(secret.encode(), f"login:{nonce}".encode(), hashlib.sha256).hexdigest()


async def csrf_protect(request: Request) -> None:
    """Global dependency: unsafe requests authenticated by the session cookie need its token.

    The token comes in the ``csrf_token`` form field (every form has it) or the
    ``X-CSRF-Token`` header (the console's script). The login form checks its own
    pre-session token; bearer-token requests carry no ambient authority and are exempt.
    """
    if request.method in SAFE_METHODS or "authorization" in request.headers:
        return
    if SESSION_COOKIE not in request.cookies or request.url.path in ("/login",
                                                                      "/codec/decode"):
        return  # /codec/decode changes nothing; CORS decides who may read its answer
    principal = await get_principal(request)
    if principal is None or principal.csrf is None:
        return  # a stale cookie: the route itself demands a sign-in
    sent = request.headers.get(CSRF_HEADER)
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), principal.csrf.encode()):
        raise HTTPException(403, "Jeton CSRF absent ou invalide : rechargez la page")


# --- sign-in attempts: audit and rate limit ---------------------------------------------------


def record_attempt(svc: Services, username: str, ip: str, user_agent: str, outcome: str) -> None:
    with session_scope(svc.engine) as s:
        s.add(
            SignInAttempt(
                username=username[:120], ip=ip[:64], user_agent=user_agent[:300], outcome=outcome
            )
        )


def authenticate(
    svc: Services, username: str, password: str, ip: str, user_agent: str
) -> tuple[str, User | None]:
    """Checks the limits (``console.signin_limits``), then the password; every attempt is
    recorded, and a failure may start a lock-out. Returns the outcome."""
    if active_lockout(svc, username, ip) is not None:
        record_attempt(svc, username, ip, user_agent, "throttled")
        return "throttled", None
    with Session(svc.engine) as s:
        user = s.exec(select(User).where(User.username == username)).first()
    ok = check_password(user, password)
    if user is None:
        outcome = "unknown_user"
    elif not ok:
        outcome = "bad_password"
    elif not user.active:
        outcome = "inactive"
    else:
        outcome = "ok"
        if _hasher.check_needs_rehash(user.password_hash):
            with session_scope(svc.engine) as s:
                fresh = s.get(User, user.id)
                if fresh is not None:
                    fresh.password_hash = hash_password(password)
                    s.add(fresh)
    record_attempt(svc, username, ip, user_agent, outcome)
    if outcome in FAILURES:
        after_failure(svc, username, ip)
    return outcome, user if outcome == "ok" else None
