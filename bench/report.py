"""From round results to the table: per target and scenario, with ratios against direct.

Per row: requests per second is the median over rounds; latency percentiles are taken over
every request of every round pooled (from h2load's per-request log, never its mean); CPU
per request is total CPU over total requests. A row with any invalid round is INVALID as a
whole: a figure is only shown when every round behind it was a run of successful calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bench.plan import Plan, Scenario
from bench.rounds import RoundResult, Target
from bench.stats import median, percentile

DIRECT = "direct"
SIDECAR = "sidecar"  # applying the tool's policy (here: the defaults)
SIDECAR_NO_POLICY = "sidecar (no policy)"  # the same relay, `--no-policies`


@dataclass(frozen=True, slots=True)
class Row:
    """One target under one scenario. Figures are None when `status` is set."""

    target: str
    scenario: Scenario
    status: str = ""  # "" when valid; otherwise "INVALID: ..." or "UNAVAILABLE: ..."
    requests_per_s: float | None = None  # median over rounds
    rps_low: float | None = None  # slowest round
    rps_high: float | None = None  # fastest round
    ratio_vs_direct: float | None = None  # requests_per_s / direct's
    p50_ms: float | None = None
    p99_ms: float | None = None
    added_p50_ms: float | None = None  # p50 minus direct's p50
    added_p99_ms: float | None = None
    proxy_cpu_us: float | None = None  # forwarding process CPU µs per request
    tool_cpu_us: float | None = None  # echo tool CPU µs per request
    proxy_rss_bytes: int | None = None  # largest RSS seen after a round
    proxy_reads: float | None = None  # read-like system calls of the forwarding process per request
    proxy_writes: float | None = None  # write-like system calls per request


def rows(plan: Plan, targets: Sequence[Target], results: Sequence[RoundResult]) -> list[Row]:
    """One row per scenario and target, in plan order then target order."""
    table: list[Row] = []
    for scenario in plan.scenarios:
        by_target = {target.name: _row(target, scenario, results) for target in targets}
        direct = by_target.get(DIRECT)
        for target in targets:
            table.append(_relative(by_target[target.name], direct))
    return table


def _row(target: Target, scenario: Scenario, results: Sequence[RoundResult]) -> Row:
    if target.address is None:
        return Row(target.name, scenario, status=f"UNAVAILABLE: {target.unavailable}")
    mine = [r for r in results if r.target == target.name and r.scenario == scenario]
    if not mine:
        return Row(target.name, scenario, status="UNAVAILABLE: not run")
    invalid = [r for r in mine if not r.valid]
    if invalid:
        first = invalid[0]
        return Row(
            target.name,
            scenario,
            status=f"INVALID ({len(invalid)}/{len(mine)} rounds): {'; '.join(first.problems)}",
        )
    durations = [d for r in mine for d in r.durations_us]
    rates = [r.requests_per_s for r in mine]
    requests = sum(r.requests for r in mine)
    proxy_cpu = [r.proxy_cpu_s for r in mine if r.proxy_cpu_s is not None]
    tool_cpu = [r.tool_cpu_s for r in mine if r.tool_cpu_s is not None]
    rss = [r.proxy_rss_bytes for r in mine if r.proxy_rss_bytes is not None]
    calls = [r.proxy_calls for r in mine if r.proxy_calls is not None]
    counted = len(calls) == len(mine)
    return Row(
        target.name,
        scenario,
        requests_per_s=median(rates),
        rps_low=min(rates),
        rps_high=max(rates),
        p50_ms=percentile(durations, 0.50) / 1000,
        p99_ms=percentile(durations, 0.99) / 1000,
        proxy_cpu_us=sum(proxy_cpu) * 1e6 / requests if len(proxy_cpu) == len(mine) else None,
        tool_cpu_us=sum(tool_cpu) * 1e6 / requests if len(tool_cpu) == len(mine) else None,
        proxy_rss_bytes=max(rss) if rss else None,
        proxy_reads=(
            sum(c.reads for c in calls) / requests if counted and target.reads_counted else None
        ),
        proxy_writes=sum(c.writes for c in calls) / requests if counted else None,
    )


def _relative(row: Row, direct: Row | None) -> Row:
    """`row` with its ratio and added latency against `direct` filled in."""
    if row.status or direct is None or direct.status or row.target == DIRECT:
        return row
    assert row.requests_per_s is not None and direct.requests_per_s is not None
    assert row.p50_ms is not None and direct.p50_ms is not None
    assert row.p99_ms is not None and direct.p99_ms is not None
    return replace(
        row,
        ratio_vs_direct=row.requests_per_s / direct.requests_per_s,
        added_p50_ms=row.p50_ms - direct.p50_ms,
        added_p99_ms=row.p99_ms - direct.p99_ms,
    )


HEADERS = (
    "target",
    "payload",
    "mode",
    "req/s",
    "x direct",
    "p50 ms",
    "p99 ms",
    "+p50 ms",
    "+p99 ms",
    "proxy CPU µs/req",
    "proxy reads/req",
    "proxy writes/req",
    "tool CPU µs/req",
    "proxy RSS MB",
)


def cells(table: Sequence[Row]) -> list[list[str]]:
    """The table's text cells, one list per row, matching HEADERS.

    In a closed loop latency is mostly queueing, so added latency is shown for fixed-rate
    rows only; at a fixed rate every target achieves the offered rate, so the RPS ratio is
    shown for closed-loop rows only.
    """
    lines: list[list[str]] = []
    for row in table:
        head = [row.target, row.scenario.payload_label, row.scenario.mode]
        if row.status:
            lines.append([*head, row.status, *([""] * (len(HEADERS) - 4))])
            continue
        closed = row.scenario.closed_loop
        lines.append(
            [
                *head,
                _rate(row),
                _number(row.ratio_vs_direct if closed else None, "{:.2f}x"),
                _number(row.p50_ms, "{:.2f}"),
                _number(row.p99_ms, "{:.2f}"),
                _number(None if closed else row.added_p50_ms, "{:+.2f}"),
                _number(None if closed else row.added_p99_ms, "{:+.2f}"),
                _number(row.proxy_cpu_us, "{:.0f}"),
                _number(row.proxy_reads, "{:.2f}"),
                _number(row.proxy_writes, "{:.2f}"),
                _number(row.tool_cpu_us, "{:.0f}"),
                _number(
                    None if row.proxy_rss_bytes is None else row.proxy_rss_bytes / 1e6, "{:.1f}"
                ),
            ]
        )
    return lines


def _rate(row: Row) -> str:
    """Requests per second, with the range over rounds when there were several."""
    median_text = _number(row.requests_per_s, "{:.0f}")
    if row.rps_low is None or row.rps_high is None or row.rps_low == row.rps_high:
        return median_text
    return f"{median_text} ({row.rps_low:.0f}-{row.rps_high:.0f})"


def _number(value: float | None, form: str) -> str:
    return "—" if value is None else form.format(value)


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
            return (
                "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line[:3])) + "  " + line[3]
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
    return len(line) > 3 and line[3].startswith(("INVALID", "UNAVAILABLE"))
