"""From resilience rounds to tables and verdicts.

Per variant, over its rounds pooled: calls, successes, latency percentiles of every call
(failed ones included: h2load cannot tell a gRPC failure from a success by the request, only
by the bytes of the whole run), the sidecar's CPU per call, and per instance the attempts it
received, cancelled and failed. A variant with an invalid round is INVALID as a whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.instances import CallCounts
from bench.resilience_plan import (
    DEFAULT_POLICY,
    FAILING_KEY,
    HEDGING,
    HEDGING_WIDE_BUDGET,
    PEAK_EWMA_HEDGING,
    SLOW_KEY,
    SLOW_LATENCY_MS,
    ResilienceScenario,
)
from bench.resilience_rounds import ResilienceRound, VariantTarget
from bench.stats import percentile
from bench.table import number, status_cells
from bench.validation import row_status
from bench.verdict import Verdict, judge

MIN_SUCCESS_RATE = 0.995  # with retries and ejection, a flaky instance must barely show
HEDGED = (HEDGING.name, HEDGING_WIDE_BUDGET.name, PEAK_EWMA_HEDGING.name)
PERCENT = "{:.1%}"


@dataclass(frozen=True, slots=True)
class VariantRow:
    """One variant under one scenario. Figures are None when `status` is set."""

    scenario: str
    variant: str
    status: str = ""  # "" when valid; otherwise "INVALID: ..." or "UNAVAILABLE: ..."
    calls: int = 0
    successes: int = 0
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    sidecar_cpu_us: float | None = None  # per call
    instances: tuple[tuple[str, CallCounts], ...] = ()  # totals over the rounds

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.calls if self.calls and not self.status else None

    @property
    def attempts_per_call(self) -> float | None:
        """Attempts the instances received per call (1.0: no retry, no hedge)."""
        if not self.calls or not self.instances:
            return None
        return sum(counts.received for _, counts in self.instances) / self.calls

    def answered_share(self, label: str) -> float | None:
        """The share of calls the instance `label` answered (attempts neither cancelled nor
        failed there, ÷ calls)."""
        for name, counts in self.instances:
            if name == label and self.calls:
                return counts.answered / self.calls
        return None


def rows(
    scenario: ResilienceScenario,
    targets: Sequence[VariantTarget],
    results: Sequence[ResilienceRound],
) -> list[VariantRow]:
    """One row per variant of `scenario`, in the scenario's order."""
    return [_row(scenario, target, results) for target in targets]


def _row(
    scenario: ResilienceScenario, target: VariantTarget, results: Sequence[ResilienceRound]
) -> VariantRow:
    name = target.variant.name
    mine = [r for r in results if r.scenario == scenario.key and r.variant == name]
    unavailable = target.unavailable if target.address is None else None
    status = row_status(mine, unavailable=unavailable)
    if status:
        return VariantRow(scenario.key, name, status=status)
    durations = [d for r in mine for d in r.durations_us]
    calls = sum(r.requests for r in mine)
    cpu = [r.sidecar_cpu_s for r in mine if r.sidecar_cpu_s is not None]
    totals: dict[str, CallCounts] = {}
    for result in mine:
        for label, counts in result.instance_counts:
            totals[label] = totals.get(label, CallCounts()) + counts
    return VariantRow(
        scenario.key,
        name,
        calls=calls,
        successes=sum(r.successes or 0 for r in mine),
        p50_ms=percentile(durations, 0.50) / 1000,
        p90_ms=percentile(durations, 0.90) / 1000,
        p99_ms=percentile(durations, 0.99) / 1000,
        max_ms=max(durations) / 1000,
        sidecar_cpu_us=sum(cpu) * 1e6 / calls if len(cpu) == len(mine) else None,
        instances=tuple(totals.items()),
    )


def headers(scenario: ResilienceScenario) -> tuple[str, ...]:
    """The columns of a scenario's table: figures, then one share column per instance."""
    shares = tuple(f"answered by {spec.label}" for spec in scenario.instances)
    return (
        "variant",
        "calls",
        "succeeded",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        *shares,
        "attempts/call",
        "sidecar CPU µs/call",
    )


def cells(scenario: ResilienceScenario, table: Sequence[VariantRow]) -> list[list[str]]:
    """Text cells matching `headers(scenario)`. A row's status sits in the status cell
    (`table.status_cells`)."""
    width = len(headers(scenario))
    lines: list[list[str]] = []
    for row in table:
        if row.status:
            lines.append(status_cells([row.variant], row.status, width))
            continue
        rate = row.success_rate
        lines.append(
            [
                row.variant,
                str(row.calls),
                f"{row.successes} ({number(rate, PERCENT)})",
                number(row.p50_ms, "{:.2f}"),
                number(row.p90_ms, "{:.2f}"),
                number(row.p99_ms, "{:.2f}"),
                number(row.max_ms, "{:.1f}"),
                *(number(row.answered_share(spec.label), PERCENT) for spec in scenario.instances),
                number(row.attempts_per_call, "{:.3f}"),
                number(row.sidecar_cpu_us, "{:.0f}"),
            ]
        )
    return lines


INSTANCE_HEADERS = ("variant", "instance", "received", "cancelled", "failed", "answered")


def instance_cells(table: Sequence[VariantRow]) -> list[list[str]]:
    """What each instance saw, per valid variant: attempts received (hedges and retries
    included), cancelled while delaying them, failed on purpose, answered."""
    lines: list[list[str]] = []
    for row in table:
        for label, counts in row.instances:
            lines.append(
                [
                    row.variant,
                    label,
                    str(counts.received),
                    str(counts.cancelled),
                    str(counts.failed),
                    str(counts.answered),
                ]
            )
    return lines


def verdicts(table: Sequence[VariantRow]) -> list[Verdict]:
    """The benchmark's own goals for the resilience scenarios, from whichever rows exist:
    hedging keeps a slow instance out of the p99; retries and ejection keep a flaky
    instance's failures from the agent."""
    found: list[Verdict] = []
    for row in table:
        if row.scenario == SLOW_KEY and row.variant in HEDGED:
            found.append(
                judge(
                    f"p99 < the slow instance's {SLOW_LATENCY_MS} ms ({row.variant})",
                    row.status,
                    row.p99_ms,
                    lambda value: value < SLOW_LATENCY_MS,
                    "{:.2f} ms",
                )
            )
        if row.scenario == FAILING_KEY and row.variant == DEFAULT_POLICY.name:
            found.append(
                judge(
                    f"success ≥ {MIN_SUCCESS_RATE:.1%} with the default policy (retries, ejection)",
                    row.status,
                    row.success_rate,
                    lambda value: value >= MIN_SUCCESS_RATE,
                    "{:.2%}",
                )
            )
    return found
