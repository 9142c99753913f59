"""Table cells and tables: dashes for missing figures, rate ranges, status rows."""

from __future__ import annotations

import pytest

from bench.table import markdown_table, number, rate_cell, status_cells, text_table


def test_a_missing_figure_is_a_dash() -> None:
    assert number(None, "{:.2f}") == "—"
    assert number(1.234, "{:.2f}") == "1.23"
    assert number(0.5, "{:.1%}") == "50.0%"


@pytest.mark.parametrize(
    ("low", "high", "shown"),
    [(950.0, 1040.0, "1000 (950-1040)"), (1000.0, 1000.0, "1000"), (None, 1040.0, "1000")],
)
def test_the_rate_shows_its_range_only_when_rounds_differ(
    low: float | None, high: float | None, shown: str
) -> None:
    assert rate_cell(1000.0, low, high) == shown


def test_a_missing_rate_is_a_dash() -> None:
    assert rate_cell(None, None, None) == "—"


@pytest.mark.parametrize("head", [["a"], ["a", "b"], ["a", "b", "c"]])
def test_the_status_always_lands_in_the_fourth_cell(head: list[str]) -> None:
    line = status_cells(head, "INVALID: broken", 7)
    assert len(line) == 7
    assert line[: len(head)] == head
    assert line[3] == "INVALID: broken"
    assert all(cell == "" for cell in line[len(head) : 3] + line[4:])


def test_a_status_row_neither_widens_columns_nor_is_cut() -> None:
    headers = ("name", "size", "mode", "req/s")
    lines = [["a", "1", "x", "10"], status_cells(["b"], "UNAVAILABLE: did not start", 4)]
    rendered = text_table(headers, lines, left=1).splitlines()
    assert rendered[0] == "name  size  mode  req/s"
    assert rendered[2] == "a        1     x     10"  # numbers right-aligned
    assert rendered[3] == "b                 UNAVAILABLE: did not start"


def test_markdown_aligns_names_left_numbers_right_and_escapes_pipes() -> None:
    table = markdown_table(("name", "value"), [["a|b", "1"]], left=1)
    assert table.splitlines() == ["| name | value |", "| --- | ---: |", "| a\\|b | 1 |"]
