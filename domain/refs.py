"""Case references the desk can recognise and an outsider cannot guess (issue 11).

``VIG-000123`` is sequential: anyone can name a case in a subject line. Every reference the
desk puts in client-facing text (mail subjects, bodies, SMS, Message-IDs) therefore carries a
short HMAC of the reference keyed by the server's secret: ``VIG-000123-k3f9qa``. A reply that
names a case by its subject is attached only when that tag is right **and** the sender is a
contact of the case's client; anything else waits in the triage queue (``records/replies.py``).
Pure functions: the key is handed in (``base.refkey``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

TAG_CHARS = 6  # base32: 30 bits, checked together with the sender being a contact
# A reference as written anywhere: VIG-000123 or VIG-000123-k3f9qa
# (any tag-like suffix is captured, so that a wrong tag is seen as wrong, not as no tag)
REF_RE = re.compile(r"\b(VIG-\d{6})(?:-([a-z0-9]{1,16}))?(?![\w-])", re.I)


def ref_tag(ref: str, key: bytes) -> str:
    """The unguessable part of a reference (lower-case base32)."""
    mac = hmac.new(key, f"case-ref:{ref.upper()}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac).decode("ascii")[:TAG_CHARS].lower()


def client_ref(ref: str, key: bytes) -> str:
    """``VIG-000123`` -> ``VIG-000123-k3f9qa``, the form clients are shown."""
    return f"{ref.upper()}-{ref_tag(ref, key)}"


def tag_ok(ref: str, tag: str | None, key: bytes) -> bool:
    return bool(tag) and hmac.compare_digest(ref_tag(ref, key), (tag or "").lower())


def refs_in(text: str) -> list[tuple[str, str | None]]:
    """Every (reference, tag or None) written in ``text``, in order."""
    return [(m.group(1).upper(), m.group(2).lower() if m.group(2) else None)
            for m in REF_RE.finditer(text or "")]
