"""Charts drawn on the server as inline SVG: no script, nothing to load, prints as is.

Two shapes are all the SLA view needs: bars for a distribution, and a trend of bars (cases)
with a line (breaches). Colours come from CSS classes (the page's stylesheet), since the
Content-Security-Policy allows no inline style. Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 220
LEFT, BOTTOM, TOP = 40, 44, 16
# Presentation attributes (not inline styles, so the CSP allows them): the page's stylesheet
# overrides them, and a printed copy (WeasyPrint, no page stylesheet) keeps its colours.
BAR = ' fill="#6f95d6"'
LINE = ' fill="none" stroke="#b3261e" stroke-width="2"'
AXIS = ' stroke="#8a93a3"'
TEXT = ' font-size="10" fill="#3c4454"'


def _axis(max_value: int) -> list[str]:
    parts = [
        f'<line class="axis"{AXIS} x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}"/>',
        f'<line class="axis"{AXIS} x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - 8}" '
        f'y2="{HEIGHT - BOTTOM}"/>',
        f'<text class="tick"{TEXT} x="{LEFT - 6}" y="{TOP + 4}" '
        f'text-anchor="end">{max_value}</text>',
        f'<text class="tick"{TEXT} x="{LEFT - 6}" y="{HEIGHT - BOTTOM}" '
        f'text-anchor="end">0</text>',
    ]
    return parts


def bars(title: str, points: Sequence[tuple[str, int]]) -> Markup:
    """A bar chart of labelled counts (the distribution of a figure)."""
    peak = max((v for _, v in points), default=0) or 1
    inner_w = WIDTH - LEFT - 8
    inner_h = HEIGHT - BOTTOM - TOP
    step = inner_w / max(1, len(points))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        *_axis(peak),
    ]
    for i, (label, value) in enumerate(points):
        h = inner_h * value / peak
        x = LEFT + i * step + step * 0.15
        y = HEIGHT - BOTTOM - h
        parts.append(
            f'<rect class="bar"{BAR} x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" '
            f'height="{h:.1f}"><title>{escape(label)} : {value}</title></rect>'
        )
        parts.append(
            f'<text class="value"{TEXT} x="{x + step * 0.35:.1f}" y="{y - 3:.1f}" '
            f'text-anchor="middle">{value}</text>'
        )
        parts.append(
            f'<text class="label"{TEXT} x="{x + step * 0.35:.1f}" y="{HEIGHT - BOTTOM + 14}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def trend(
    title: str,
    points: Sequence[tuple[str, int, int]],
    words: tuple[str, str] = ("cas", "hors délai"),
) -> Markup:
    """Cases per period as bars, breaches per period as a line (``(label, cases, breaches)``);
    ``words`` names both in the page's language (tooltips)."""
    peak = max((max(c, b) for _, c, b in points), default=0) or 1
    inner_w = WIDTH - LEFT - 8
    inner_h = HEIGHT - BOTTOM - TOP
    step = inner_w / max(1, len(points))
    every = max(1, len(points) // 12)  # at most a dozen labels on the axis
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        *_axis(peak),
    ]
    line: list[str] = []
    for i, (label, cases, breaches) in enumerate(points):
        x = LEFT + i * step
        h = inner_h * cases / peak
        parts.append(
            f'<rect class="bar"{BAR} x="{x + step * 0.1:.1f}" y="{HEIGHT - BOTTOM - h:.1f}" '
            f'width="{step * 0.8:.1f}" height="{h:.1f}"><title>{escape(label)} : {cases} '
            f"{escape(words[0])}, {breaches} {escape(words[1])}</title></rect>"
        )
        line.append(f"{x + step / 2:.1f},{HEIGHT - BOTTOM - inner_h * breaches / peak:.1f}")
        if i % every == 0:
            parts.append(
                f'<text class="label"{TEXT} x="{x + step / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    if line:
        parts.append(f'<polyline class="line"{LINE} points="{" ".join(line)}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
