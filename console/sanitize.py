"""Alert mails with an HTML part, made safe to show inside the console.

An alert mail is attacker-controlled input (anyone can write to the desk's mailbox), and the
console is where technicians are signed in. So HTML parts go through ``nh3`` (the binding of
the Ammonia sanitizer, which parses like a browser with html5ever): only an allow-list of
layout tags survives, with no attributes at all except ``href`` on links (``http``, ``https``
and ``mailto`` only) and numeric table spans; the content of ``script``, ``style`` and similar
elements is dropped, comments are removed, and the output is re-serialized balanced, so
nothing leaks out of the container. A maintained parser rather than a hand-written one: the
browser's parsing rules are the attack surface, and Ammonia follows them. The page's
Content-Security-Policy (no inline script, no foreign origin) is the second line of defence.
"""

from __future__ import annotations

import nh3

MAX_INPUT_CHARS = 1_000_000

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "div", "span", "b", "strong", "i", "em", "u", "small", "sub", "sup",
        "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "tr", "td",
        "th", "caption", "pre", "code", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "a", "font", "center",
    }
)  # fmt: skip
DROP_CONTENT = frozenset(
    {"script", "style", "head", "title", "iframe", "object", "embed", "template", "svg",
     "math", "noscript", "frame", "frameset", "applet", "textarea", "select", "xml"}
)  # fmt: skip
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
SPAN_ATTRS = frozenset({"colspan", "rowspan"})
ATTRIBUTES = {"a": {"href"}, "td": set(SPAN_ATTRS), "th": set(SPAN_ATTRS)}
LINK_REL = "noopener noreferrer nofollow"


def _numeric_spans(tag: str, attribute: str, value: str) -> str | None:
    """Table spans are kept only as plain numbers."""
    if attribute in SPAN_ATTRS:
        return value if value.strip().isascii() and value.strip().isdigit() else None
    return value


def sanitize_html(html: str) -> str:
    """A fragment with only allow-listed markup; safe to insert as is into a page."""
    return nh3.clean(
        html[:MAX_INPUT_CHARS],
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROP_CONTENT),
        attributes=ATTRIBUTES,
        attribute_filter=_numeric_spans,
        url_schemes=set(SAFE_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )
