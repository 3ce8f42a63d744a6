"""Text that can reach a mail header is one line (issue 21, finding 7).

A contact's name goes into ``To:`` (``Name <address>``), a client's or a site's name into
subjects. Python's ``email`` refuses a header value holding a line break, so a name typed
with one (a paste, or a CSV cell in quotes) made every mail to that contact fail at sending
time, after the workflow had already moved on. Such text is refused where it comes in
instead (admin forms, CSV import, API), with the field named: the person who typed it is
still there to fix it. Besides CR and LF, the other characters a header parser may take as
a line end, and NUL, are refused too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

BREAKS = re.compile("[\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def has_line_break(value: str) -> bool:
    return BREAKS.search(value) is not None


def first_multiline(fields: Mapping[str, object]) -> str | None:
    """The name of the first text field holding a line break, or None."""
    for name, value in fields.items():
        if isinstance(value, str) and has_line_break(value):
            return name
    return None
