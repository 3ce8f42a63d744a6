"""Marks for the console's catalog, beneath every layer (the workflows' messages included).

A label table anywhere (a visit state, a contract option, a technical document's section)
writes its French text inside ``N_`` where it is declared; ``pybabel extract`` (see
``scripts/words.py``) finds it there, and the console looks it up in the page's language
when it shows it. Nothing is translated here: the French is the source and what the ledger,
the calendar feed and the PDF reports write.
"""

from __future__ import annotations

from typing import NamedTuple


def N_(text: str) -> str:
    """Marks a French text for ``pybabel extract`` where it is written (a label table); the
    lookup happens when a page shows it, in that page's language."""
    return text


class Contextual(NamedTuple):
    """A French text that reads differently by where it stands ("par": "by" in an SLA
    sentence, "through" for how a client answered): a gettext context (msgctxt)."""

    context: str
    text: str


def NC_(context: str, text: str) -> Contextual:
    return Contextual(context, text)
