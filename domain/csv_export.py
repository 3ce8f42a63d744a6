"""Every CSV the desk writes goes through here, so no cell can become a spreadsheet formula.

A cell a person or a monitored system typed (an assignee, a host name, a summary) that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel, LibreOffice and
Google Sheets as a formula (``=HYPERLINK(...)``, ``@SUM(...)``: "CSV injection", OWASP). Such a
cell is written with a leading apostrophe, which spreadsheets show as text and hide; the value
stays readable. Numbers the console itself formats (``-3.5`` minutes) are left alone: they are
not text anyone could have typed. Pure (the console's SLA exports and the client's personal
data export in ``contracts.privacy`` both use it); ``tests/test_csv_export.py`` fails when a
module writes CSV without it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")


def safe_cell(value: object) -> str:
    """The cell as text a spreadsheet cannot evaluate."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_text(header: list[str], rows: Iterable[Iterable[object]], *, delimiter: str = ";") -> str:
    """The whole CSV as text (no BOM), for files put in an archive."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter)
    writer.writerow([safe_cell(c) for c in header])
    for row in rows:
        writer.writerow([safe_cell(c) for c in row])
    return buf.getvalue()


def csv_stream(
    header: list[str], rows: Iterable[Iterable[object]], *, delimiter: str = ";",
    chunk_rows: int = 1000,
) -> Iterator[bytes]:
    """UTF-8 (with BOM, so spreadsheets read accents right) CSV, a chunk every ``chunk_rows``."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter)
    buf.write("\ufeff")
    writer.writerow([safe_cell(c) for c in header])
    for i, row in enumerate(rows):
        writer.writerow([safe_cell(c) for c in row])
        if i % chunk_rows == chunk_rows - 1:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()
