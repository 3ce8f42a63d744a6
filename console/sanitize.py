"""Alert mails with an HTML part, made safe to show inside the console.

An alert mail is attacker-controlled input (anyone can write to the desk's mailbox), and the
console is where technicians are signed in. So HTML parts are rebuilt from scratch through
``html.parser``: only an allow-list of layout tags survives, with no attributes at all except
``href`` on links (``http``, ``https`` and ``mailto`` only) and table spans; the content of
``script``, ``style`` and similar elements is dropped, every text is re-escaped, and tags are
re-balanced so nothing leaks out of the container. The page's Content-Security-Policy (no
inline script, no foreign origin) is the second line of defence, not the first.
"""

from __future__ import annotations

from html import escape
from html.parser import HTMLParser
from urllib.parse import urlsplit

MAX_INPUT_CHARS = 1_000_000

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "div", "span", "b", "strong", "i", "em", "u", "small", "sub", "sup",
        "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "tr", "td",
        "th", "caption", "pre", "code", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "a", "font", "center",
    }
)  # fmt: skip
VOID_TAGS = frozenset({"br", "hr"})
DROP_CONTENT = frozenset(
    {"script", "style", "head", "title", "iframe", "object", "embed", "template", "svg",
     "math", "noscript", "frame", "frameset", "applet", "textarea", "select", "xml"}
)  # fmt: skip
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
SPAN_ATTRS = frozenset({"colspan", "rowspan"})


def safe_href(value: str | None) -> str | None:
    """The URL if its scheme is harmless (no ``javascript:``, ``data:`` ...), else None."""
    if not value:
        return None
    cleaned = "".join(ch for ch in value.strip() if ch.isprintable() and not ch.isspace())
    try:
        scheme = urlsplit(cleaned).scheme.lower()
    except ValueError:
        return None
    return cleaned if scheme in SAFE_SCHEMES else None


class _Sanitizer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.dropping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.dropping:
            if tag in DROP_CONTENT:
                self.dropping.append(tag)
            return
        if tag in DROP_CONTENT:
            self.dropping.append(tag)
            return
        if tag not in ALLOWED_TAGS:
            return
        kept: list[str] = []
        for name, value in attrs:
            if tag == "a" and name == "href":
                href = safe_href(value)
                if href:
                    kept.append(f' href="{escape(href, quote=True)}"')
            elif tag in ("td", "th") and name in SPAN_ATTRS and (value or "").isdigit():
                kept.append(f' {name}="{int(value or 1)}"')
        if tag == "a":
            kept.append(' rel="noopener noreferrer nofollow"')
        self.out.append(f"<{tag}{''.join(kept)}>")
        if tag not in VOID_TAGS:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID_TAGS and not self.dropping:
            self.out.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if self.dropping:
            if tag in self.dropping:
                while self.dropping and self.dropping.pop() != tag:
                    pass
            return
        if tag not in self.open:
            return
        while self.open:
            top = self.open.pop()
            self.out.append(f"</{top}>")
            if top == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(escape(data, quote=False))

    def close_all(self) -> str:
        while self.open:
            self.out.append(f"</{self.open.pop()}>")
        return "".join(self.out)


def sanitize_html(html: str) -> str:
    """A fragment with only allow-listed markup; safe to insert as is into a page."""
    parser = _Sanitizer()
    parser.feed(html[:MAX_INPUT_CHARS])
    parser.close()
    return parser.close_all()
