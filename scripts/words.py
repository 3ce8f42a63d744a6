"""The console's words, with Babel: ``extract`` writes ``console/locale/messages.pot`` from
the templates and the Python (``babel.cfg``), ``update`` merges it into each language's
``.po``, ``check`` says what is untranslated or fuzzy. No ``.mo`` is written: the console
compiles each ``.po`` in memory when it starts (``console.i18n.catalog``).

    python scripts/words.py extract && python scripts/words.py update
    (translate the new entries of console/locale/en/LC_MESSAGES/messages.po)
    python scripts/words.py check
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.frontend import CommandLineInterface

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "console" / "locale"
POT = LOCALE / "messages.pot"
KEYWORDS = ("N_", "NC_:1c,2")  # besides Babel's own (_, gettext, ngettext, pgettext...)
# where the console's words are written: the console itself, and the label tables of the
# layers beneath it that mark their French with messages.words.N_ (visit and onboarding
# states, contract options, technical document sections, access-log subjects)
SOURCES = ("console", "messages", "domain", "planning", "contracts")
LANGUAGES = ("en",)


def pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


def extract(output: Path = POT) -> None:
    """The msgids of today's sources, sorted and without line numbers (a moved line changes
    nothing; a new or changed French text does)."""
    keywords = [arg for k in KEYWORDS for arg in ("-k", k)]
    pybabel("extract", "-F", str(ROOT / "babel.cfg"), *keywords, "--no-location",
            "--sort-output", "--project=Vigie", "--version=1", "--copyright-holder=Vigie",
            "--msgid-bugs-address=desk@vigie.invalid",
            "-o", str(output), *(str(ROOT / d) for d in SOURCES))


def update() -> None:
    for lang in LANGUAGES:
        pybabel("update", "-i", str(POT), "-d", str(LOCALE), "-l", lang, "--ignore-obsolete",
                "--no-wrap")


def check() -> int:
    """Untranslated and fuzzy entries of each language; 1 when there is one."""
    sys.path.insert(0, str(ROOT))
    from console.i18n import po_catalog

    bad = 0
    for lang in LANGUAGES:
        for message in po_catalog(lang):
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if message.fuzzy or not all(strings):
                bad += 1
                print(f"{lang}: {'fuzzy' if message.fuzzy else 'untranslated'}: {message.id!r}")
    return 1 if bad else 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "extract":
        extract(Path(sys.argv[2]) if len(sys.argv) > 2 else POT)
    elif command == "update":
        update()
    else:
        sys.exit(check())
