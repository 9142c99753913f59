"""A goal a benchmark holds a figure to, judged: met, not met, or not measured.

Shared by the forwarding goals (`bench.goals`) and the resilience goals
(`bench.resilience_report`), which read the same way in the generated sections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Verdict:
    """One goal for one scenario. `met` is None when it could not be measured."""

    goal: str
    measured: str
    met: bool | None

    @property
    def label(self) -> str:
        return {True: "met", False: "NOT met", None: "not measured"}[self.met]


def judge(
    goal: str, status: str, value: float | None, passes: Callable[[float], bool], form: str
) -> Verdict:
    """`goal` judged on `value` (shown with the `str.format` pattern `form`); when there is
    no value, not measured, for the reason `status` (the row's status) if there is one."""
    if value is None:
        return Verdict(goal, status or "not measured", None)
    return Verdict(goal, form.format(value), passes(value))


def markdown_rows(verdicts: Sequence[Verdict]) -> list[str]:
    """The verdicts as the lines of a Markdown table (goal, measured, verdict), a goal not
    met in bold."""
    out = ["| goal | measured | verdict |", "| --- | ---: | --- |"]
    for verdict in verdicts:
        label = f"**{verdict.label}**" if verdict.met is False else verdict.label
        out.append(f"| {verdict.goal} | {verdict.measured} | {label} |")
    return out
