"""What the resilience policies cost on the happy path: the sidecar with them against itself
without them (`--no-policies`), scenario by scenario, from the same interleaved rounds.

Every call succeeds in these scenarios, so no policy ever acts: the difference is the price
of the decisions taken on every call (breaker admission, retry-budget accounting, balancer
pick with outlier filter, in-flight counts, deadline header, outcome recording).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.plan import Scenario
from bench.report import SIDECAR, SIDECAR_NO_POLICY, Row
from bench.table import number, status_cells


@dataclass(frozen=True, slots=True)
class PolicyCost:
    """One scenario's comparison. Figures are None when `status` says why they are missing."""

    scenario: Scenario
    status: str = ""
    rps: float | None = None  # with policies, median over rounds
    baseline_rps: float | None = None  # without
    cpu_us: float | None = None  # sidecar CPU µs per call with policies
    baseline_cpu_us: float | None = None
    p50_ms: float | None = None
    baseline_p50_ms: float | None = None
    p99_ms: float | None = None
    baseline_p99_ms: float | None = None

    @property
    def rps_ratio(self) -> float | None:
        """req/s with policies ÷ without; closed loop only (at a fixed rate both achieve the
        offered rate, so the ratio says nothing)."""
        if not self.scenario.closed_loop or self.rps is None or not self.baseline_rps:
            return None
        return self.rps / self.baseline_rps

    @property
    def added_cpu_us(self) -> float | None:
        if self.cpu_us is None or self.baseline_cpu_us is None:
            return None
        return self.cpu_us - self.baseline_cpu_us


def sidecar_pairs(table: Sequence[Row]) -> list[tuple[Row, Row]]:
    """(the sidecar with policies, the same without) rows of every scenario that has both,
    in table order."""
    pairs: list[tuple[Row, Row]] = []
    for row in table:
        if row.target != SIDECAR:
            continue
        baseline = next(
            (r for r in table if r.target == SIDECAR_NO_POLICY and r.scenario == row.scenario),
            None,
        )
        if baseline is not None:
            pairs.append((row, baseline))
    return pairs


def compare(table: Sequence[Row]) -> list[PolicyCost]:
    """One PolicyCost per scenario that has both sidecar rows, in table order."""
    found: list[PolicyCost] = []
    for row, baseline in sidecar_pairs(table):
        problem = row.problem or baseline.problem
        if problem:
            found.append(PolicyCost(row.scenario, status=problem))
            continue
        found.append(
            PolicyCost(
                row.scenario,
                rps=row.requests_per_s,
                baseline_rps=baseline.requests_per_s,
                cpu_us=row.proxy_cpu_us,
                baseline_cpu_us=baseline.proxy_cpu_us,
                p50_ms=row.p50_ms,
                baseline_p50_ms=baseline.p50_ms,
                p99_ms=row.p99_ms,
                baseline_p99_ms=baseline.p99_ms,
            )
        )
    return found


HEADERS = (
    "payload",
    "mode",
    "req/s with",
    "req/s without",
    "with ÷ without",
    "CPU µs/call with",
    "CPU µs/call without",
    "+CPU µs/call",
    "p50 ms with",
    "p50 ms without",
    "p99 ms with",
    "p99 ms without",
)


def cells(costs: Sequence[PolicyCost]) -> list[list[str]]:
    """Text cells matching HEADERS. A row that could not be compared carries its reason in
    the status cell (`table.status_cells`)."""
    lines: list[list[str]] = []
    for cost in costs:
        head = [cost.scenario.payload_label, cost.scenario.mode]
        if cost.status:
            lines.append(status_cells(head, cost.status, len(HEADERS)))
            continue
        lines.append(
            [
                *head,
                number(cost.rps, "{:.0f}"),
                number(cost.baseline_rps, "{:.0f}"),
                number(cost.rps_ratio, "{:.2f}x"),
                number(cost.cpu_us, "{:.0f}"),
                number(cost.baseline_cpu_us, "{:.0f}"),
                number(cost.added_cpu_us, "{:+.0f}"),
                number(cost.p50_ms, "{:.2f}"),
                number(cost.baseline_p50_ms, "{:.2f}"),
                number(cost.p99_ms, "{:.2f}"),
                number(cost.baseline_p99_ms, "{:.2f}"),
            ]
        )
    return lines
