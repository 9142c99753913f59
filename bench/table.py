"""Tables as people read them: aligned plain text and GitHub-flavoured Markdown, and the
cells in them.

A row that could not be measured carries its status (`INVALID ...` / `UNAVAILABLE ...`) in
its fourth cell and nothing after it (`status_cells`); the plain-text table lets that cell
run past its column instead of widening it.
"""

from __future__ import annotations

from collections.abc import Sequence

STATUS_COLUMN = 3  # the 0-based column of a status cell


def number(value: float | None, form: str) -> str:
    """`value` formatted with `form` (a `str.format` pattern); a dash when it is None."""
    return "—" if value is None else form.format(value)


def rate_cell(median: float | None, low: float | None, high: float | None) -> str:
    """A req/s median, with the range over rounds (`low-high`) when they differ."""
    median_text = number(median, "{:.0f}")
    if low is None or high is None or low == high:
        return median_text
    return f"{median_text} ({low:.0f}-{high:.0f})"


def status_cells(head: Sequence[str], status: str, width: int) -> list[str]:
    """A row of `width` cells for a row that has only a status: its name cells `head` (at
    most STATUS_COLUMN), empty cells up to the status column, the status, empty cells."""
    padding = [""] * (STATUS_COLUMN - len(head))
    return [*head, *padding, status, *([""] * (width - STATUS_COLUMN - 1))]


def text_table(headers: Sequence[str], lines: Sequence[Sequence[str]], left: int = 3) -> str:
    """A plain-text table with aligned columns: the first `left` left-aligned (names), the
    others right-aligned (numbers). A cell that states a row's status (INVALID/UNAVAILABLE,
    the fourth cell) is not used for column widths."""
    widths = [len(header) for header in headers]
    for line in lines:
        if _is_status(line):
            continue
        for column, cell in enumerate(line):
            widths[column] = max(widths[column], len(cell))

    def render(line: Sequence[str]) -> str:
        if _is_status(line):
            names = line[:STATUS_COLUMN]
            return (
                "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(names))
                + "  "
                + line[STATUS_COLUMN]
            )
        parts = [
            cell.ljust(widths[i]) if i < left else cell.rjust(widths[i])
            for i, cell in enumerate(line)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render(headers), rule, *(render(line) for line in lines)])


def markdown_table(headers: Sequence[str], lines: Sequence[Sequence[str]], left: int = 3) -> str:
    """A GitHub-flavoured Markdown table: the first `left` columns left-aligned (names), the
    others right-aligned (numbers)."""
    align = ["---" if i < left else "---:" for i in range(len(headers))]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    for line in lines:
        escaped = [cell.replace("|", "\\|") for cell in line]
        out.append("| " + " | ".join(escaped) + " |")
    return "\n".join(out)


def _is_status(line: Sequence[str]) -> bool:
    return len(line) > STATUS_COLUMN and line[STATUS_COLUMN].startswith(("INVALID", "UNAVAILABLE"))
