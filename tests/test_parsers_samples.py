"""Every shared sample message parses to its expected events (graded fields, same order)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parsers import parse_file

GRADED = ("family", "status", "host", "check", "target", "backup_result")


def samples_dir() -> Path:
    """``shared/samples`` lives beside the repository (``../shared`` in CI and locally)."""
    return Path(__file__).resolve().parents[1].parent / "shared" / "samples"


def _cases() -> list[Path]:
    return sorted(samples_dir().glob("*.eml"))


def test_samples_are_present() -> None:
    assert len(_cases()) >= 45, f"expected the shared samples in {samples_dir()}"


@pytest.mark.parametrize("eml", _cases(), ids=lambda p: p.stem)
def test_sample_parses_to_expected_events(eml: Path) -> None:
    expected = json.loads(eml.with_suffix(".expected.json").read_text(encoding="utf-8"))
    parsed = parse_file(eml)
    got = [{name: event.to_dict()[name] for name in GRADED} for event in parsed.events]
    want = [{name: item.get(name) for name in GRADED} for item in expected]
    assert got == want, f"parser {parsed.parser}"


@pytest.mark.parametrize("eml", _cases(), ids=lambda p: p.stem)
def test_sample_events_are_well_formed(eml: Path) -> None:
    parsed = parse_file(eml)
    assert parsed.events
    for event in parsed.events:
        data = event.to_dict()
        json.dumps(data)
        assert type(event).from_dict(data) == event
        assert event.summary
        if event.occurred_at is not None:
            assert event.occurred_at.utcoffset() is not None
        assert (event.backup_result is None) == (event.family.value != "backup")
    assert parsed.envelope.subject
    assert parsed.envelope.date is not None
