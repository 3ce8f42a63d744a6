"""Host-name normalisation shared by every parser and by the event fingerprint.

Sources name the same server ``SRV-APP``, ``srv-app.corp.local``, ``CORP\\SRV-APP`` or
``root@srv-app``; the desk compares hosts case-insensitively and without domain suffix.
"""

from __future__ import annotations

import ipaddress
import re

_STRIP = " \t\r\n\"'`<>()[]{},;:.!?*"
_HOST_TOKEN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?$")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def short_host(raw: str | None) -> str | None:
    """The host as the source names it, without domain suffix; None when nothing is left.

    Case is preserved (the samples keep it); IP addresses are kept whole.
    """
    if raw is None:
        return None
    text = str(raw).strip().strip(_STRIP)
    if "\\" in text:  # DOMAIN\HOST
        text = text.rsplit("\\", 1)[-1]
    if "@" in text:  # user@host
        text = text.rsplit("@", 1)[-1]
    text = text.strip(_STRIP)
    if not text:
        return None
    if _is_ip(text):
        return text
    text = text.split(".", 1)[0].strip(_STRIP)
    return text or None


def host_key(raw: str | None) -> str:
    """Comparison key for a host: short form, lowercased ('' for no host)."""
    host = short_host(raw)
    return host.lower() if host else ""


def looks_like_host(token: str | None) -> bool:
    """True for a single token that could be a server name (no spaces, sane characters)."""
    if not token:
        return False
    return bool(_HOST_TOKEN.match(token.strip().strip(_STRIP)))
