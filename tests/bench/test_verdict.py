"""Goals judged on a figure: met, not met, or not measured with the reason."""

from __future__ import annotations

from bench.verdict import Verdict, judge, markdown_rows


def _under_ten(value: float) -> bool:
    return value < 10


def test_a_figure_is_judged_and_shown_in_its_form() -> None:
    assert judge("p99 < 10 ms", "", 4.5, _under_ten, "{:.2f} ms") == Verdict(
        "p99 < 10 ms", "4.50 ms", True
    )
    assert judge("p99 < 10 ms", "", 12.0, _under_ten, "{:.2f} ms").label == "NOT met"


def test_without_a_figure_the_row_status_says_why() -> None:
    found = judge("p99 < 10 ms", "UNAVAILABLE: it crashed", None, _under_ten, "{:.2f}")
    assert found == Verdict("p99 < 10 ms", "UNAVAILABLE: it crashed", None)
    assert found.label == "not measured"
    assert judge("p99 < 10 ms", "", None, _under_ten, "{:.2f}").measured == "not measured"


def test_the_markdown_rows_put_a_missed_goal_in_bold() -> None:
    rows = markdown_rows([Verdict("a", "1", True), Verdict("b", "2", False)])
    assert rows == [
        "| goal | measured | verdict |",
        "| --- | ---: | --- |",
        "| a | 1 | met |",
        "| b | 2 | **NOT met** |",
    ]
