"""What telemetry costs the sidecar: each telemetry variant against the same sidecar with
telemetry off (`--no-telemetry`), from one interleaved run, and the issue's targets.

Pure: from the report's rows (and the spans the OTLP sink counted) to comparisons, goals
and text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.report import Row
from bench.table import markdown_table, number, rate_cell, status_cells, text_table

OFF = "telemetry off"
METRICS = "metrics"
TRACING_1 = "metrics + 1 % tracing"
TRACING_100 = "metrics + 100 % tracing"
VARIANTS = (OFF, METRICS, TRACING_1, TRACING_100)

# The most RPS a variant may lose against telemetry off (fractions), from the issue.
MAX_RPS_LOSS = {TRACING_1: 0.10, TRACING_100: 0.35}


@dataclass(frozen=True, slots=True)
class TelemetryCost:
    """One variant against telemetry off. Figures are None when `status` says why."""

    variant: str
    status: str = ""
    rps: float | None = None  # median over rounds
    rps_low: float | None = None  # slowest round
    rps_high: float | None = None  # fastest round
    baseline_rps: float | None = None
    cpu_us: float | None = None  # sidecar CPU µs per call
    baseline_cpu_us: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    spans: int | None = None  # spans the OTLP sink received from this variant (traced only)

    @property
    def rps_ratio(self) -> float | None:
        """req/s of the variant ÷ telemetry off."""
        if self.rps is None or not self.baseline_rps:
            return None
        return self.rps / self.baseline_rps

    @property
    def added_cpu_us(self) -> float | None:
        if self.cpu_us is None or self.baseline_cpu_us is None:
            return None
        return self.cpu_us - self.baseline_cpu_us


def compare(table: Sequence[Row], spans: Mapping[str, int]) -> list[TelemetryCost]:
    """One TelemetryCost per row, in table order (the baseline's own row included, at 1.00x);
    `spans` maps a variant's name to the spans received from it."""
    baseline = next((row for row in table if row.target == OFF), None)
    found: list[TelemetryCost] = []
    for row in table:
        problem = row.problem or (baseline.problem if baseline is not None else f"no {OFF!r} row")
        if problem:
            found.append(TelemetryCost(row.target, status=problem))
            continue
        assert baseline is not None
        found.append(
            TelemetryCost(
                row.target,
                rps=row.requests_per_s,
                rps_low=row.rps_low,
                rps_high=row.rps_high,
                baseline_rps=baseline.requests_per_s,
                cpu_us=row.proxy_cpu_us,
                baseline_cpu_us=baseline.proxy_cpu_us,
                p50_ms=row.p50_ms,
                p99_ms=row.p99_ms,
                spans=spans.get(row.target),
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class Verdict:
    """One target of the issue: `met` None when it could not be judged."""

    goal: str
    met: bool | None
    measured: str


def verdicts(costs: Sequence[TelemetryCost]) -> list[Verdict]:
    """The issue's RPS targets, judged on the comparisons."""
    found = []
    for variant, loss in MAX_RPS_LOSS.items():
        goal = f"{variant}: at most {loss:.0%} fewer req/s than telemetry off"
        cost = next((c for c in costs if c.variant == variant), None)
        ratio = cost.rps_ratio if cost is not None else None
        if ratio is None:
            reason = cost.status if cost is not None and cost.status else "not measured"
            found.append(Verdict(goal, None, reason))
            continue
        lost = 1.0 - ratio
        measured = f"{abs(lost):.1%} {'fewer' if lost >= 0 else 'more'} ({ratio:.2f}x)"
        found.append(Verdict(goal, ratio >= 1.0 - loss, measured))
    return found


NOTES = (
    "req/s: median of the rounds (slowest-fastest); ÷ telemetry off: the medians' ratio."
    " CPU µs/call: sidecar user+system time ÷ calls (its export thread included); +CPU: minus"
    " telemetry off's. p50/p99: over every call of every round. Spans exported: what the"
    " OTLP sink received from that sidecar over the whole run, warm-up and readiness probe"
    " included (a traced call makes 3 spans: SERVER, the tool's CLIENT, the attempt)."
)

HEADERS = (
    "variant",
    "req/s",
    "÷ telemetry off",
    "sidecar CPU µs/call",
    "+CPU µs/call",
    "p50 ms",
    "p99 ms",
    "spans exported",
)


def cells(costs: Sequence[TelemetryCost]) -> list[list[str]]:
    """Text cells matching HEADERS; a row that could not be compared carries its reason in
    the status cell (`table.status_cells`)."""
    lines = []
    for cost in costs:
        if cost.status:
            lines.append(status_cells([cost.variant], cost.status, len(HEADERS)))
            continue
        lines.append(
            [
                cost.variant,
                rate_cell(cost.rps, cost.rps_low, cost.rps_high),
                number(cost.rps_ratio, "{:.2f}x"),
                number(cost.cpu_us, "{:.0f}"),
                number(cost.added_cpu_us, "{:+.0f}"),
                number(cost.p50_ms, "{:.2f}"),
                number(cost.p99_ms, "{:.2f}"),
                "—" if cost.spans is None else f"{cost.spans:,}",
            ]
        )
    return lines


def _verdict_line(verdict: Verdict) -> str:
    state = {True: "met", False: "NOT met", None: "not judged"}[verdict.met]
    return f"{verdict.goal}: {state} ({verdict.measured})"


def text(costs: Sequence[TelemetryCost]) -> str:
    lines = [text_table(HEADERS, cells(costs), left=1), ""]
    lines += [_verdict_line(v) for v in verdicts(costs)]
    return "\n".join(lines)


def markdown(costs: Sequence[TelemetryCost], context: str) -> str:
    """The generated section: `context` (machine, load, command), the table, the targets."""
    lines = [context, "", markdown_table(HEADERS, cells(costs), left=1), ""]
    lines.append(NOTES)
    lines.append("")
    lines += [f"- {_verdict_line(v)}" for v in verdicts(costs)]
    return "\n".join(lines)
