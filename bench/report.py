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
from bench.table import number, rate_cell, status_cells
from bench.validation import row_status

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

    @property
    def problem(self) -> str:
        """The row's INVALID/UNAVAILABLE status naming its target; empty when it is valid."""
        return f"{self.status} ({self.target})" if self.status else ""


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
    mine = [r for r in results if r.target == target.name and r.scenario == scenario]
    unavailable = target.unavailable if target.address is None else None
    status = row_status(mine, unavailable=unavailable)
    if status:
        return Row(target.name, scenario, status=status)
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
            lines.append(status_cells(head, row.status, len(HEADERS)))
            continue
        closed = row.scenario.closed_loop
        lines.append(
            [
                *head,
                rate_cell(row.requests_per_s, row.rps_low, row.rps_high),
                number(row.ratio_vs_direct if closed else None, "{:.2f}x"),
                number(row.p50_ms, "{:.2f}"),
                number(row.p99_ms, "{:.2f}"),
                number(None if closed else row.added_p50_ms, "{:+.2f}"),
                number(None if closed else row.added_p99_ms, "{:+.2f}"),
                number(row.proxy_cpu_us, "{:.0f}"),
                number(row.proxy_reads, "{:.2f}"),
                number(row.proxy_writes, "{:.2f}"),
                number(row.tool_cpu_us, "{:.0f}"),
                number(
                    None if row.proxy_rss_bytes is None else row.proxy_rss_bytes / 1e6, "{:.1f}"
                ),
            ]
        )
    return lines
