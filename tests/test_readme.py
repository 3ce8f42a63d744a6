"""The README is the user's manual: it must name every setting and the two commands."""

from __future__ import annotations

from pathlib import Path

from base.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    for name, field in Settings.model_fields.items():
        env = field.validation_alias or f"VIGIE_{name.upper()}"
        assert f"| `{env}` |" in README, f"{env} missing from the README settings table"


def test_the_readme_shows_the_two_commands() -> None:
    assert "`make up`" in README and "`make test`" in README
