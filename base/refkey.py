"""The key of case-reference tags (``domain.refs``), shared by the worker and the intake.

Derived from ``VIGIE_SECRET_KEY`` when it is set (production). The embedded desk may run
without it: then a random key is created once in ``VIGIE_VAR_DIR/reference.key`` (mode 0600),
so the intake still recognises what the worker sent after a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path

from base.settings import Settings, get_settings

KEY_FILE = "reference.key"


def reference_key(settings: Settings | None = None) -> bytes:
    settings = settings or get_settings()
    if settings.secret_key:
        return hmac.new(settings.secret_key.encode(), b"vigie/case-references",
                        hashlib.sha256).digest()
    return _file_key(str(Path(settings.var_dir) / KEY_FILE))


@lru_cache(maxsize=8)
def _file_key(path: str) -> bytes:
    p = Path(path)
    if not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: read theirs
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    for _ in range(50):  # the creator may not have written it yet
        text = p.read_text().strip()
        if text:
            return bytes.fromhex(text)
        time.sleep(0.02)
    raise RuntimeError(f"clé des références vide : {p}")
