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


def compare(table: Sequence[Row]) -> list[PolicyCost]:
    """One PolicyCost per scenario that has both sidecar rows, in table order."""
    found: list[PolicyCost] = []
    for row in table:
        if row.target != SIDECAR:
            continue
        baseline = next(
            (r for r in table if r.target == SIDECAR_NO_POLICY and r.scenario == row.scenario),
            None,
        )
        if baseline is None:
            continue
        problem = _problem(row) or _problem(baseline)
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


def _problem(row: Row) -> str:
    """The row's INVALID/UNAVAILABLE status, naming the target; empty when it is valid."""
    return f"{row.status} ({row.target})" if row.status else ""


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
    the fourth cell (where `report.text_table` looks for a status)."""
    lines: list[list[str]] = []
    for cost in costs:
        head = [cost.scenario.payload_label, cost.scenario.mode]
        if cost.status:
            lines.append([*head, "", cost.status, *([""] * (len(HEADERS) - 4))])
            continue
        lines.append(
            [
                *head,
                _number(cost.rps, "{:.0f}"),
                _number(cost.baseline_rps, "{:.0f}"),
                _number(cost.rps_ratio, "{:.2f}x"),
                _number(cost.cpu_us, "{:.0f}"),
                _number(cost.baseline_cpu_us, "{:.0f}"),
                _number(cost.added_cpu_us, "{:+.0f}"),
                _number(cost.p50_ms, "{:.2f}"),
                _number(cost.baseline_p50_ms, "{:.2f}"),
                _number(cost.p99_ms, "{:.2f}"),
                _number(cost.baseline_p99_ms, "{:.2f}"),
            ]
        )
    return lines


def _number(value: float | None, form: str) -> str:
    return "—" if value is None else form.format(value)
