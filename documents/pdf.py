"""HTML to PDF with WeasyPrint: one place that knows the print stylesheet and the engine.

Why a module of its own: the SLA report and, later, the visit reports are printed from the
same Jinja templates their web pages use, so a printed figure can never differ from the one
on screen. The caller renders the template (with its own environment: filters, i18n) or
hands us the environment and a template name; we add the print stylesheet (page size,
orientation, page numbers, wrapped table headers) and return the PDF's bytes.

Nothing is fetched from the network: the URL fetcher allows ``data:`` URLs only and stops
the rendering on any other (a document never reaches out, and a missing picture is an
error, not a silent hole); links keep their absolute targets and stay clickable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment

HERE = Path(__file__).resolve().parent
PRINT_CSS = HERE / "print.css"


def html_to_pdf(
    html: str,
    *,
    base_url: str | None = None,
    landscape: bool = False,
    extra_css: str = "",
) -> bytes:
    """The PDF of a complete HTML document, with the print stylesheet (A4 portrait, or
    landscape for wide tables) and numbered pages."""
    from weasyprint import CSS, HTML  # imported late: pango loads on first use only
    from weasyprint.urls import URLFetcher

    page = "@page { size: A4 landscape; }" if landscape else "@page { size: A4 portrait; }"
    sheets = [CSS(filename=str(PRINT_CSS)), CSS(string=page + extra_css)]
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    document = HTML(string=html, base_url=base_url, url_fetcher=fetcher)
    return document.write_pdf(stylesheets=sheets)


def template_to_pdf(
    env: Environment,
    template: str,
    context: dict[str, Any],
    *,
    base_url: str | None = None,
    landscape: bool = False,
) -> bytes:
    """Renders ``template`` of ``env`` with ``context`` and prints it."""
    html = env.get_template(template).render(context)
    return html_to_pdf(html, base_url=base_url, landscape=landscape)
