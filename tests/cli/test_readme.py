"""The README documents every flag, its environment twin and its default."""

from __future__ import annotations

from pathlib import Path

from mesh.cli.options import markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_flag_table_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- flags:start")
    start = text.index("\n", start) + 1
    end = text.index("<!-- flags:end -->")
    assert text[start:end] == markdown_table(), (
        "README flag table is stale: regenerate it from mesh.cli.options.markdown_table()"
    )
