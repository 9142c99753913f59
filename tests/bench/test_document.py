"""Generated sections of BENCHMARKS.md are replaced in place; the prose around them stays."""

from __future__ import annotations

import pytest

from bench.document import DocumentError, begin_marker, end_marker, replace_section


def test_a_missing_section_is_appended() -> None:
    out = replace_section("# Title\n\nProse.\n", "results", "| a |")
    assert out.startswith("# Title\n\nProse.\n\n")
    assert f"{begin_marker('results')}\n| a |\n{end_marker('results')}\n" in out


def test_an_existing_section_is_replaced_and_prose_kept() -> None:
    first = replace_section("Intro.\n", "results", "old figures")
    document = first + "\nClosing words.\n"
    out = replace_section(document, "results", "new figures")
    assert "old figures" not in out and "new figures" in out
    assert out.startswith("Intro.\n") and out.endswith("\nClosing words.\n")
    assert out.count(begin_marker("results")) == 1


def test_sections_do_not_touch_each_other() -> None:
    document = replace_section(replace_section("", "a", "one"), "b", "two")
    out = replace_section(document, "a", "uno")
    assert "uno" in out and "two" in out and "one" not in out


def test_a_lone_marker_is_an_error_naming_the_section() -> None:
    with pytest.raises(DocumentError, match="'results'"):
        replace_section(f"{begin_marker('results')}\nno end\n", "results", "x", "BENCHMARKS.md")
