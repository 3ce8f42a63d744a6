"""HTML-to-text for HTML-only alert mails (WSB reports, Veeam, Outlook forwards).

Uses the stdlib ``html.parser`` only: nothing is fetched or executed, and the content of
``<script>``, ``<style>`` and similar elements is dropped. Table cells become
tab-separated so ``Label<TAB>value`` rows read like ``Label: value`` lines.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

MAX_HTML_CHARS = 2_000_000

_SKIP = frozenset(
    {
        "script",
        "style",
        "head",
        "title",
        "noscript",
        "template",
        "iframe",
        "object",
        "svg",
        "math",
        "xml",
    }
)
_BLOCK = frozenset(
    {
        "p",
        "div",
        "br",
        "tr",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "pre",
        "blockquote",
        "section",
        "article",
        "header",
        "footer",
        "dl",
        "dt",
        "dd",
        "caption",
        "body",
        "html",
        "form",
        "address",
        "center",
    }
)
_CELL = frozenset({"td", "th"})
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skip_depth = 0
        self.skip_stack: list[str] = []
        self.cell_open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            if tag not in _VOID:
                self.skip_stack.append(tag)
            return
        if self.skip_stack:
            return
        if tag in _CELL:
            if self.cell_open:
                self.chunks.append("\t")
            self.cell_open = True
        elif tag == "tr":
            self.cell_open = False
            self.chunks.append("\n")
        elif tag in _BLOCK:
            self.chunks.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.skip_stack and tag in _BLOCK:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.skip_stack:
            if tag in self.skip_stack:
                while self.skip_stack:
                    if self.skip_stack.pop() == tag:
                        break
            return
        if tag in _BLOCK and tag not in _VOID:
            self.chunks.append("\n")
            if tag in ("tr", "table"):
                self.cell_open = False

    def handle_data(self, data: str) -> None:
        if not self.skip_stack:
            self.chunks.append(data)


def _tidy(text: str) -> str:
    lines = []
    for line in text.replace("\r", "\n").split("\n"):
        cells = [" ".join(cell.split()) for cell in line.split("\t")]
        while cells and not cells[-1]:
            cells.pop()
        while cells and not cells[0]:
            cells.pop(0)
        lines.append("\t".join(cells))
    joined = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", joined).strip()


def _regex_fallback(html: str) -> str:
    html = re.sub(r"(?is)<(script|style|head|noscript|template)\b.*?(</\1\s*>|$)", " ", html)
    html = re.sub(r"(?i)<\s*(br|/p|/div|/tr|/h\d|/li)\b[^>]*>", "\n", html)
    html = re.sub(r"(?i)<\s*/?t[dh]\b[^>]*>", "\t", html)
    return unescape(re.sub(r"<[^>]*>", " ", html))


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML document; never raises."""
    if not html:
        return ""
    html = html[:MAX_HTML_CHARS]
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
        raw = "".join(parser.chunks)
    except Exception:  # html.parser has raised on odd markup in past versions
        raw = _regex_fallback(html)
    # A row's cells: keep the tab only between cells, so "Label\tvalue" survives.
    return _tidy(raw)
