"""The sign-in limits: per name and address, per account, per address, with a back-off.

Three counters of failed sign-ins (wrong password, unknown name, inactive user) inside
``VIGIE_LOGIN_WINDOW_MINUTES``:

* ``pair``: one name from one address (``VIGIE_LOGIN_MAX_FAILURES``);
* ``account``: one name from any address (``VIGIE_LOGIN_ACCOUNT_MAX_FAILURES``), so that
  changing address (a botnet, or a forged ``X-Forwarded-For`` before issue 11) gains nothing;
* ``address``: any name from one address (``VIGIE_LOGIN_ADDRESS_MAX_FAILURES``), against
  password spraying.

When a counter reaches its limit, a lock-out is written (``models.signin``): every sign-in
of that subject is refused (``429``, recorded ``throttled``, the password not even checked)
until it ends. It lasts ``VIGIE_LOGIN_LOCKOUT_SECONDS``, doubled for each earlier lock-out of
the same subject in the last 24 hours, at most ``VIGIE_LOGIN_LOCKOUT_MAX_SECONDS``. Counting
starts afresh after a lock-out ends, and, for a name, after its last successful sign-in.

The address is the peer's, or the one a trusted proxy reports (``VIGIE_TRUSTED_PROXIES``):
never a header the caller chose. A per-account limit lets anyone delay a known name's
sign-in; the back-off's ceiling bounds that, and the lock-outs page shows who did it.

Issue 21 (finding 5) took the rest of that power away: ten bad passwords from two
addresses locked the user out everywhere, and no administrator could undo it.

* **Known addresses**: an ``account`` lock-out does not apply from an address the account
  signed in from successfully in the last ``VIGIE_LOGIN_KNOWN_ADDRESS_DAYS`` days: whoever
  guesses from elsewhere cannot lock the user out of their usual desk. Guessing *from* such
  an address still meets the ``pair`` and ``address`` limits.
* **Lifting**: an administrator ends a lock-out from the sign-ins page (``lift``); the row
  keeps who lifted it and when, and counting starts afresh from that moment.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, and_, col, select

from console.deps import Services
from models.auth import SignInAttempt
from models.db import session_scope
from models.signin import SignInLockout
from models.types import utcnow

log = logging.getLogger(__name__)

FAILURES = ("bad_password", "unknown_user", "inactive")
BACKOFF_MEMORY = timedelta(hours=24)


def _subjects(svc: Services, username: str, ip: str) -> list[tuple[str, str, int, list[Any]]]:
    """(scope, subject, limit, which attempts count) for one sign-in."""
    st, A = svc.settings, SignInAttempt
    return [
        ("pair", f"{username}|{ip}", st.login_max_failures, [A.username == username, A.ip == ip]),
        ("account", username, st.login_account_max_failures, [A.username == username]),
        ("address", ip, st.login_address_max_failures, [A.ip == ip]),
    ]


def known_address(s: Session, svc: Services, username: str, ip: str) -> bool:
    """Did this account sign in successfully from this address lately?"""
    days = svc.settings.login_known_address_days
    if days <= 0 or not ip:
        return False
    return s.exec(
        select(SignInAttempt.id).where(
            SignInAttempt.username == username, SignInAttempt.ip == ip,
            SignInAttempt.outcome == "ok", col(SignInAttempt.at) >= utcnow() - timedelta(days=days))
    ).first() is not None


def active_lockout(svc: Services, username: str, ip: str) -> SignInLockout | None:
    """The lock-out in force for this name or address, the one that ends last (an account's
    lock-out is not in force from one of its known addresses)."""
    now = utcnow()
    with Session(svc.engine) as s:
        known = known_address(s, svc, username, ip)
        keys = [and_(SignInLockout.scope == scope, SignInLockout.subject == subject)
                for scope, subject, _, _ in _subjects(svc, username, ip)
                if not (scope == "account" and known)]
        return s.exec(
            select(SignInLockout)
            .where(or_(*keys), col(SignInLockout.until) > now)
            .order_by(col(SignInLockout.until).desc())
        ).first()


def after_failure(svc: Services, username: str, ip: str) -> list[SignInLockout]:
    """Counts a failure just recorded; writes (and returns) the lock-outs it trips."""
    now = utcnow()
    st = svc.settings
    tripped: list[SignInLockout] = []
    with Session(svc.engine) as s:
        last_ok = s.exec(
            select(SignInAttempt.at)
            .where(SignInAttempt.username == username, SignInAttempt.outcome == "ok")
            .order_by(col(SignInAttempt.at).desc())
        ).first()
        for scope, subject, limit, where in _subjects(svc, username, ip):
            if limit <= 0:
                continue
            lockouts = s.exec(
                select(SignInLockout.until)
                .where(SignInLockout.scope == scope, SignInLockout.subject == subject,
                       col(SignInLockout.at) >= now - BACKOFF_MEMORY)
                .order_by(col(SignInLockout.until).desc())
            ).all()
            marks: list[datetime] = [now - timedelta(minutes=st.login_window_minutes)]
            if lockouts:
                marks.append(lockouts[0])
            if last_ok is not None and scope != "address":
                marks.append(last_ok)
            failures = s.exec(
                select(func.count()).select_from(SignInAttempt).where(
                    *where, col(SignInAttempt.at) >= max(marks),
                    col(SignInAttempt.outcome).in_(FAILURES))
            ).one()
            if failures < limit:
                continue
            seconds = min(st.login_lockout_max_seconds,
                          st.login_lockout_seconds * 2 ** len(lockouts))
            tripped.append(SignInLockout(
                at=now, until=now + timedelta(seconds=seconds), scope=scope,
                subject=subject[:200], username=username[:120], ip=ip[:64],
                failures=int(failures), seconds=int(seconds)))
    if tripped:
        with session_scope(svc.engine) as s:
            for row in tripped:
                s.add(row)
                log.warning("connexion : verrouillage %s de %s pour %s s après %s échecs",
                            row.scope, row.subject, row.seconds, row.failures)
    return tripped


def lift(svc: Services, lockout_id: int, by: str) -> SignInLockout | None:
    """Ends a lock-out now (an administrator's decision, kept on the row); None if there is
    no such lock-out or it is already over."""
    now = utcnow()
    with session_scope(svc.engine) as s:
        row = s.get(SignInLockout, lockout_id)
        if row is None or row.until <= now:
            return None
        row.until, row.lifted_at, row.lifted_by = now, now, by[:120]
        s.add(row)
        log.warning("connexion : verrouillage %s de %s levé par %s", row.scope, row.subject, by)
        s.flush()
        s.expunge(row)
        return row


def recent_lockouts(svc: Services, limit: int = 100) -> list[SignInLockout]:
    with Session(svc.engine) as s:
        return list(s.exec(
            select(SignInLockout).order_by(col(SignInLockout.id).desc()).limit(limit)).all())
