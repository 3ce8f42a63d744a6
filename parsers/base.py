"""The parser contract: a vendor module is one file with ``name`` and ``parse``.

``parse`` returns None for "not mine" so the registry can try the next parser; a parser
that raises is logged and skipped by ``parse_message``.
"""

from __future__ import annotations

from typing import Protocol

from parsers.event import AlertEvent
from parsers.mime import Envelope


class Parser(Protocol):
    """Structural type satisfied by each parser module (module-level name and parse)."""

    name: str

    def parse(self, env: Envelope) -> list[AlertEvent] | None:
        """Events of this message, or None when the message is not of this format."""
        ...
