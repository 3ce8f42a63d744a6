"""Each client's key for its Temporal payloads, kept wrapped in ``client_key`` (issue 20).

A client's payloads (workflow inputs, signals, updates, results, memos) are encrypted by
``contracts.codec`` under a 256-bit AES-GCM key of its own, created on first use and stored
wrapped (AES-GCM) by the master key: ``VIGIE_CODEC_MASTER_KEY`` (64 hex digits), else a key
generated once into ``var/codec-master.key`` (0600). Erasing the client deletes its row:
without it no history of that client can be read again (crypto-shredding). Payloads of no
client use the ``desk`` key.

Processes keep unwrapped keys in memory for :data:`CACHE_SECONDS`, so an erasure in the
console reaches the worker's cache within that delay; the erasing process forgets at once.
The cache is per database: a process that serves several desks (tests, benches) never seals
one desk's payloads with a key that only another desk's database holds.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from models.privacy import ClientKey

DESK = "desk"
MASTER_FILE = "codec-master.key"
CACHE_SECONDS = 60.0
_cache: dict[tuple[str, str], tuple[float, bytes | None]] = {}
_lock = threading.Lock()


def key_id(client_id: int | None) -> str:
    return f"client-{client_id}" if client_id is not None else DESK


def master_key() -> bytes:
    from base.refkey import _file_key
    from base.settings import get_settings

    settings = get_settings()
    if settings.codec_master_key:
        key = bytes.fromhex(settings.codec_master_key.strip())
        if len(key) != 32:
            raise ValueError("VIGIE_CODEC_MASTER_KEY : 64 chiffres hexadécimaux attendus")
        return key
    return _file_key(str(Path(settings.var_dir) / MASTER_FILE))


def _wrap(key: bytes, kid: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(master_key()).encrypt(nonce, key, kid.encode())


def _unwrap(blob: bytes, kid: str) -> bytes:
    return AESGCM(master_key()).decrypt(blob[:12], blob[12:], kid.encode())


def _slot(engine: Engine, kid: str) -> tuple[str, str]:
    """The cache's entry: the key ``kid`` of this database."""
    return engine.url.render_as_string(hide_password=True), kid


def cached(engine: Engine, kid: str) -> bytes | None:
    """The key if this process holds it fresh; None otherwise (then ask :func:`get_key`)."""
    hit = _cache.get(_slot(engine, kid))
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    return None


def get_key(engine: Engine, kid: str, *, create: bool) -> bytes | None:
    """The key ``kid`` (created when asked and missing); None when it was destroyed or never
    existed and ``create`` is false."""
    now = time.monotonic()
    slot = _slot(engine, kid)
    with _lock:
        hit = _cache.get(slot)
    if hit is not None and now - hit[0] < CACHE_SECONDS and (hit[1] is not None or not create):
        return hit[1]
    with Session(engine) as s:
        row = s.get(ClientKey, kid)
        if row is None and create:
            try:
                s.add(ClientKey(key_id=kid, wrapped=_wrap(AESGCM.generate_key(256), kid)))
                s.commit()
            except IntegrityError:  # another process created it first: use theirs
                s.rollback()
            row = s.get(ClientKey, kid)
        key = _unwrap(row.wrapped, kid) if row is not None else None
    with _lock:
        _cache[slot] = (now, key)
    return key


def destroy(s: Session, client_id: int) -> bool:
    """Deletes the client's key in the erasure's own transaction."""
    row = s.get(ClientKey, key_id(client_id))
    if row is None:
        return False
    s.delete(row)
    return True


def forget_cached(client_id: int | None = None) -> None:
    with _lock:
        if client_id is None:
            _cache.clear()
        else:
            for slot in [slot for slot in _cache if slot[1] == key_id(client_id)]:
                _cache.pop(slot, None)
