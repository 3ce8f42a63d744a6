"""A small PDF writer for tabular exports (the SLA report), with no dependency.

Text only, in the PDF standard Helvetica font with WinAnsi encoding, which covers French
(é, è, à, ç, œ, «», the euro sign). Characters outside it become "?". Enough for a manager's
printable table; charts stay on the web page.
"""

from __future__ import annotations

from collections.abc import Sequence

PAGE_W, PAGE_H = 842, 595  # A4 landscape, points
MARGIN = 36
LINE = 13
FONT_SIZE = 9
TITLE_SIZE = 14


def _encode(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _fit(text: str, width_pt: float) -> str:
    """Crude truncation: Helvetica averages about half an em per character."""
    max_chars = max(3, int(width_pt / (FONT_SIZE * 0.52)))
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _text(ops: list[bytes], x: float, y: float, s: str, size: int, bold: bool) -> None:
    font = b"/F2" if bold else b"/F1"
    ops.append(b"BT " + font + b" %d Tf %.1f %.1f Td (" % (size, x, y) + _encode(s) + b") Tj ET")


def table_pdf(
    title: str,
    subtitle: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[float] | None = None,
) -> bytes:
    """A multi-page A4 landscape PDF: title, subtitle, then the table (header on each page)."""
    usable = PAGE_W - 2 * MARGIN
    widths = list(widths or [usable / max(1, len(header))] * len(header))
    scale = usable / sum(widths)
    widths = [w * scale for w in widths]
    per_page = int((PAGE_H - 2 * MARGIN - 3 * LINE - 2 * LINE) / LINE)
    pages: list[bytes] = []
    chunks = [rows[i : i + per_page] for i in range(0, len(rows), per_page)] or [[]]
    for number, chunk in enumerate(chunks, start=1):
        ops: list[bytes] = []
        y = PAGE_H - MARGIN - TITLE_SIZE

        _text(ops, MARGIN, y, title, TITLE_SIZE, True)
        y -= LINE + 4
        _text(ops, MARGIN, y, f"{subtitle} — page {number}/{len(chunks)}", FONT_SIZE, False)
        y -= 2 * LINE
        for line_cells, bold in ((header, True), *((r, False) for r in chunk)):
            x = MARGIN
            for cell, w in zip(line_cells, widths, strict=False):
                _text(ops, x, y, _fit(str(cell), w - 4), FONT_SIZE, bold)
                x += w
            if bold:
                ops.append(b"%.1f %.1f m %.1f %.1f l S" % (MARGIN, y - 3, PAGE_W - MARGIN, y - 3))
            y -= LINE
        pages.append(b"\n".join(ops))
    return _assemble(pages)


def _assemble(contents: list[bytes]) -> bytes:
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled below
    pages_obj = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    bold = add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
    )
    kids = []
    for content in contents:
        stream = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] "
                b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> /Contents %d 0 R >>"
                % (pages_obj, PAGE_W, PAGE_H, font, bold, stream)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        xref,
    )
    return bytes(out)
