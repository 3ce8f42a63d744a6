"""The signing key of sessions, CSRF tokens and signed links: where it comes from.

Production (``VIGIE_ENV=production`` or a ``DATABASE_URL``) takes it from the environment only
and refuses a missing or short one: a guessable key lets anyone forge a session. The embedded
desk of ``make up`` generates one on its first start and keeps it in ``var/secret-key``
(mode 0600), so restarting the desk does not sign everyone out.

It knows the settings by what it reads of them (``KeyedSettings``), not by importing
``base.settings``: the settings import this module to fill in the key, never the reverse, so
the two modules form no import cycle.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

MIN_LENGTH = 32
KEY_FILE = "secret-key"


class KeyedSettings(Protocol):
    """What this module reads of ``base.settings.Settings``."""

    @property
    def embedded(self) -> bool: ...

    secret_key: str
    var_dir: Path

    def model_copy(self, *, update: dict[str, Any] | None = None,
                   deep: bool = False) -> Self: ...


S = TypeVar("S", bound=KeyedSettings)


class WeakSecretKey(SystemExit):
    """Raised at start-up; a SystemExit so the command says why and stops, no traceback."""


def check_secret_key(settings: KeyedSettings) -> None:
    """Refuses to start a production service without a strong key."""
    if settings.embedded:
        return
    key = settings.secret_key
    if not key:
        raise WeakSecretKey(
            "VIGIE_SECRET_KEY est requis hors du mode embarqué (DATABASE_URL ou "
            f"VIGIE_ENV=production) : au moins {MIN_LENGTH} caractères aléatoires, par exemple "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    if len(key) < MIN_LENGTH or len(set(key)) < 8:
        raise WeakSecretKey(
            f"VIGIE_SECRET_KEY est trop faible ({len(key)} caractères) : il en faut au moins "
            f"{MIN_LENGTH}, aléatoires"
        )


def embedded_key(var_dir: Path) -> str:
    """The key kept in ``var/``, created (0600) on the first call."""
    path = var_dir / KEY_FILE
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if len(key) >= MIN_LENGTH:
            return key
        path.unlink()  # an unusable leftover (empty, truncated): replaced below
    var_dir.mkdir(parents=True, exist_ok=True)
    tmp = var_dir / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_urlsafe(48) + "\n")
    try:
        os.link(tmp, path)  # atomic and exclusive: two services starting at once keep one key
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text(encoding="utf-8").strip()


def with_secret_key(settings: S) -> S:
    """The settings with the embedded key filled in where the environment gave none."""
    if settings.secret_key or not settings.embedded:
        return settings
    return settings.model_copy(update={"secret_key": embedded_key(settings.var_dir)})
