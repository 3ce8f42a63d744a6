"""The signed, expiring links a client answers a visit proposal with (one per date, and one
for "none of these suit").

A link carries the visit, the proposal number, the date (or none) and the answer deadline,
signed with ``itsdangerous`` under a key from the settings (``VIGIE_VISIT_LINK_SECRET``, else
``VIGIE_SECRET_KEY``, else one generated once into ``var/`` so the worker that writes the mail
and the console that reads the answer agree). A changed character fails the signature; a link
used after its deadline is refused; the workflow itself checks again that the proposal is
still the current one. Following a link shows a page; only its button answers (a mail
scanner that prefetches links answers nothing).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "vigie-visit-answer"
KEY_FILE = "visit-link.key"
NONE_SUITS = "none"


class LinkRefused(Exception):
    """The link is not one the desk signed, or it has expired; the reason is for the client."""


@dataclass(frozen=True)
class Answer:
    visit_id: int
    proposal: int
    date: str | None  # None: none of the dates suit
    deadline: datetime


def link_secret(settings: Any) -> str:
    if settings.visit_link_secret:
        return str(settings.visit_link_secret)
    if settings.secret_key:
        return "visit-links:" + str(settings.secret_key)
    path = Path(settings.var_dir) / KEY_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first: use theirs
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    return key


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT)


def sign_answer(
    secret: str, visit_id: int, proposal: int, date: str | None, deadline: datetime
) -> str:
    payload = {"v": visit_id, "p": proposal, "d": date or NONE_SUITS,
               "e": int(deadline.timestamp())}
    return str(_serializer(secret).dumps(payload))


def read_answer(secret: str, token: str, now: datetime) -> Answer:
    """The answer a link stands for; raises :class:`LinkRefused` if tampered or expired."""
    try:
        payload = _serializer(secret).loads(token)
        visit_id, proposal, day, expires = (int(payload["v"]), int(payload["p"]),
                                            str(payload["d"]), int(payload["e"]))
    except (BadSignature, KeyError, TypeError, ValueError) as exc:
        raise LinkRefused("Ce lien n'est pas valide (il a peut-être été modifié).") from exc
    deadline = datetime.fromtimestamp(expires, UTC)
    if now > deadline:
        raise LinkRefused("Ce lien a expiré : la date limite de réponse est passée. "
                          "Votre interlocuteur va vous recontacter.")
    return Answer(visit_id, proposal, None if day == NONE_SUITS else day, deadline)


def answer_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/visits/answer/{token}"


def public_base(settings: Any) -> str:
    return settings.public_url or f"http://{settings.console_host}:{settings.console_port}"
