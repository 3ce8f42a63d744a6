"""The SLA PDF is the SLA page printed by WeasyPrint: a manager can read every column header
in full, sees median and p90, both charts, the period and the filters, and numbered pages.

The proof is taken from the PDF as a reader gets it: ``pdftoppm`` turns page 1 into an
image (which must not be blank) and ``pdftotext`` extracts the words (which must include
every header of the page's table, whole).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from sqlalchemy.engine import Engine
from weasyprint.urls import FatalURLFetchingError

from console.i18n import FIGURE_LABELS, pair_label
from console.slacache import SUMMARY_FIGURES
from documents import html_to_pdf
from tests.browser.support import Desk, make_desk
from tests.conftest import IN_CI
from tests.test_console_sla import NOVEMBER
from tests.test_console_sla import cases as cases  # the five November cases

POPPLER = shutil.which("pdftoppm") and shutil.which("pdftotext")
pytestmark = pytest.mark.skipif(  # never skipped in CI: scripts/ensure-tools installs it
    not POPPLER and not IN_CI, reason="poppler-utils missing (run scripts/ensure-tools)"
)


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(engine, tmp_path)


def pdf_text(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True,
                         check=True, text=True)  # fmt: skip
    return out.stdout


def words(text: str) -> str:
    """The text as a reader reads it: wrapped lines joined, spaces collapsed."""
    return " ".join(text.split())


def page_one_png(pdf: Path, tmp_path: Path) -> Path:
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True)  # fmt: skip
    (png,) = tmp_path.glob("page*.png")
    return png


def header_cells(html: str) -> list[list[str]]:
    """The column headers of the page's SLA table, each as its lines of text."""
    head = html.split('id="sla-table"', 1)[1].split("</thead>", 1)[0]
    cells = re.findall(r"<th>(.*?)</th>", head, re.S)
    return [
        [words(re.sub(r"<[^>]+>", " ", part)).replace("&#39;", "'") for part in c.split("<br>")]
        for c in cells
    ]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_sla_pdf_prints_the_page_readably(
    desk: Desk, cases: dict[str, int], tmp_path: Path, lang: str
) -> None:
    http, _ = desk.signed_in("manager")
    query = f"{NOVEMBER}&by=client&class=major&lang={lang}"
    page = http.get(f"/sla?{query}").text
    r = http.get(f"/sla/export.pdf?{query}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "sla.pdf"
    pdf.write_bytes(r.content)

    png = page_one_png(pdf, tmp_path)
    with Image.open(png) as img:
        assert img.width > img.height  # landscape
        stat = ImageStat.Stat(img.convert("L"))
        assert stat.stddev[0] > 10, "page 1 is blank"  # ink on white: a table and charts

    text = words(pdf_text(pdf))
    headers = header_cells(page)
    assert len(headers) == 2 + len(SUMMARY_FIGURES) + 2
    for header in headers:  # each one whole: wrapped, never cut nor overlapping
        for line in header:
            assert line in text, (line, text[:1500])
    for name in SUMMARY_FIGURES:
        assert pair_label(FIGURE_LABELS, lang, name) in text
    median_p90 = "median / p90" if lang == "en" else "médiane / p90"
    assert median_p90 in text
    # the figures themselves: median / p90 of the major case's triage (10 min)
    assert "0 h 10 / 0 h 10" in text
    # the period and the filters
    assert "01/11/2026" in text and "30/11/2026" in text
    assert ("major/extended" if lang == "en" else "majeur") in text
    # both charts, with their captions
    if lang == "en":
        assert "Time to triage distribution" in text
        assert "Cases and cases in breach per period" in text
    else:
        assert "Distribution du délai de classification" in text
        assert "Cas et cas hors délai par période" in text
    links = subprocess.run(["pdfinfo", "-url", str(pdf)], capture_output=True, text=True,
                           check=True).stdout  # fmt: skip
    assert "/sla/cases?" in links  # every number still leads to its cases
    # numbered pages
    assert re.search(r"page 1 / \d+", text)


def test_the_print_machinery_renders_any_template_and_loads_nothing_from_outside() -> None:
    pdf = html_to_pdf("<h1>Rapport de visite</h1><p>Serveur SRV-DC01 : RAS.</p>")
    assert pdf.startswith(b"%PDF-")
    with pytest.raises(FatalURLFetchingError):
        html_to_pdf('<img src="http://127.0.0.1:9/x.png">', base_url="http://127.0.0.1:9/")
