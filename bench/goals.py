"""The goals the sidecar is held to, and whether this run met them.

The sidecar judged is the one applying its resilience policies (the defaults), as deployed.
Throughput and CPU per call are judged in the closed loop (where forwarding cost limits
throughput); added latency at the fixed rate of 500 req/s (where queueing does not hide
it). CPU per call at the fixed rate is listed too: with less batching per wake-up it is
the harder figure. The policies' own cost is judged against the same relay without them
(`sidecar (no policy)`), in the closed loop.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.footprint import Footprint
from bench.policy_cost import sidecar_pairs
from bench.report import SIDECAR, SIDECAR_NO_POLICY, Row
from bench.verdict import Verdict, judge

MIN_RPS_RATIO = 0.60
MIN_POLICY_RPS_RATIO = 0.90  # the policy stack costs at most 10 % of raw forwarding's req/s
MAX_CPU_US = 120.0
MAX_ADDED_P50_MS = 0.4
MAX_ADDED_P99_MS = 1.0
MAX_RSS_BYTES = 80_000_000
RSS_TOOLS = 100


def evaluate(table: Sequence[Row], footprint: Footprint) -> list[Verdict]:
    """Every goal, scenario by scenario, from the sidecar's rows and its footprint."""
    verdicts: list[Verdict] = []
    sidecar_rows = [row for row in table if row.target == SIDECAR]
    closed = [row for row in sidecar_rows if row.scenario.closed_loop]
    fixed = [row for row in sidecar_rows if not row.scenario.closed_loop]
    for row in closed:
        verdicts.append(
            judge(
                f"req/s ≥ {MIN_RPS_RATIO:.2f}x direct ({row.scenario.payload_label}, closed loop)",
                row.status,
                row.ratio_vs_direct,
                lambda v: v >= MIN_RPS_RATIO,
                "{:.2f}x",
            )
        )
    verdicts += policy_goals(table)
    for row in (*closed, *fixed):
        verdicts.append(
            judge(
                f"CPU ≤ {MAX_CPU_US:.0f} µs per call ({row.scenario.payload_label}, {_mode(row)})",
                row.status,
                row.proxy_cpu_us,
                lambda v: v <= MAX_CPU_US,
                "{:.0f} µs",
            )
        )
    for row in fixed:
        verdicts.append(
            judge(
                f"p50 ≤ +{MAX_ADDED_P50_MS} ms over direct ({row.scenario.payload_label},"
                f" {_mode(row)})",
                row.status,
                row.added_p50_ms,
                lambda v: v <= MAX_ADDED_P50_MS,
                "{:+.2f} ms",
            )
        )
        verdicts.append(
            judge(
                f"p99 ≤ +{MAX_ADDED_P99_MS} ms over direct ({row.scenario.payload_label},"
                f" {_mode(row)})",
                row.status,
                row.added_p99_ms,
                lambda v: v <= MAX_ADDED_P99_MS,
                "{:+.2f} ms",
            )
        )
    goal = f"RSS ≤ {MAX_RSS_BYTES / 1e6:.0f} MB with {RSS_TOOLS} tools registered"
    if footprint.many_tools_bytes is None or footprint.tools < RSS_TOOLS:
        verdicts.append(Verdict(goal, footprint.problem or "not measured", None))
    else:
        rss = footprint.many_tools_bytes
        verdicts.append(Verdict(goal, f"{rss / 1e6:.1f} MB", rss <= MAX_RSS_BYTES))
    return verdicts


def policy_goals(table: Sequence[Row]) -> list[Verdict]:
    """The policy stack's cost: req/s with policies against without, per closed-loop scenario
    (none when the lineup has no `sidecar (no policy)`)."""
    verdicts: list[Verdict] = []
    for row, baseline in sidecar_pairs(table):
        if not row.scenario.closed_loop:
            continue
        goal = (
            f"req/s with policies ≥ {MIN_POLICY_RPS_RATIO:.2f}x without"
            f" ({row.scenario.payload_label}, closed loop)"
        )
        if row.status or baseline.status:
            problem = row.status or f"{SIDECAR_NO_POLICY}: {baseline.status}"
            verdicts.append(Verdict(goal, problem, None))
            continue
        assert row.requests_per_s is not None and baseline.requests_per_s
        ratio = row.requests_per_s / baseline.requests_per_s
        verdicts.append(Verdict(goal, f"{ratio:.2f}x", ratio >= MIN_POLICY_RPS_RATIO))
    return verdicts


def _mode(row: Row) -> str:
    return "closed loop" if row.scenario.closed_loop else f"{row.scenario.mode}"
