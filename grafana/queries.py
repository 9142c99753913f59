"""PromQL the dashboards share, built from the metric names of `mesh.telemetry.metrics`.

Grafana fills `$__rate_interval` (at least four scrape intervals, so `rate()` always has
samples) and `$__range` (the dashboard's time range); `$tool`, `$method` and `$endpoint` are
the dashboards' variables, matched with `=~` so "All" (`.*`) works.
"""

from __future__ import annotations

from typing import Final

from mesh.telemetry.metrics import (
    ATTEMPT_DURATION,
    CALL_DURATION,
    COST,
)

RATE_WINDOW: Final = "$__rate_interval"
RANGE: Final = "$__range"

# Statuses that say the tool or the mesh failed, not the agent's request; the same set as
# deploy/prometheus/recording.rules.yml (a test compares them).
SERVER_ERROR_CODES: Final = (
    "UNKNOWN",
    "DEADLINE_EXCEEDED",
    "RESOURCE_EXHAUSTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
)
SERVER_ERRORS: Final = "|".join(SERVER_ERROR_CODES)

CALLS: Final = f"{CALL_DURATION.name}_count"
CALL_BUCKETS: Final = f"{CALL_DURATION.name}_bucket"
ATTEMPT_COUNT: Final = f"{ATTEMPT_DURATION.name}_count"
ATTEMPT_BUCKETS: Final = f"{ATTEMPT_DURATION.name}_bucket"


def selector(metric: str, matchers: str) -> str:
    """`metric{matchers}`, or the bare name without matchers."""
    return f"{metric}{{{matchers}}}" if matchers else metric


def rate(metric: str, matchers: str, by: str, window: str = RATE_WINDOW) -> str:
    """Per-second rate of a counter summed by the labels in `by` ("" sums everything)."""
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({selector(metric, matchers)}[{window}]))"


def increase(metric: str, matchers: str, by: str, window: str = RATE_WINDOW) -> str:
    """Increase of a counter over `window`, summed by the labels in `by`."""
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (increase({selector(metric, matchers)}[{window}]))"


def quantile(q: float, buckets: str, matchers: str, by: str, window: str = RATE_WINDOW) -> str:
    """The `q` quantile of a histogram's observations over `window`, per `by` group."""
    grouping = f"{by}, le" if by else "le"
    return (
        f"histogram_quantile({q}, sum by ({grouping}) "
        f"(rate({selector(buckets, matchers)}[{window}])))"
    )


def ratio(numerator: str, denominator: str) -> str:
    """`numerator / denominator` (both already aggregated to the same labels)."""
    return f"{numerator} / {denominator}"


def success_ratio(matchers: str, by: str, window: str = RATE_WINDOW) -> str:
    """Share of calls that ended OK, per `by` group."""
    ok = f'{matchers}, code="OK"' if matchers else 'code="OK"'
    return ratio(rate(CALLS, ok, by, window), rate(CALLS, matchers, by, window))


def error_matchers(matchers: str) -> str:
    """`matchers` narrowed to the server-side error statuses."""
    errors = f'code=~"{SERVER_ERRORS}"'
    return f"{matchers}, {errors}" if matchers else errors


def error_ratio(counter: str, matchers: str, by: str, window: str = RATE_WINDOW) -> str:
    """Share of `counter`'s increase that carries a server-side error status, per `by` group."""
    everything = rate(counter, matchers, by, window)
    errors = rate(counter, error_matchers(matchers), by, window)
    # A group without errors has no error series; `or 0 * everything` makes its share 0
    # instead of leaving it out of the result.
    return ratio(f"({errors} or 0 * {everything})", everything)


def cost_per_hour(matchers: str, by: str) -> str:
    """Registered cost of the calls per hour, summed by the labels in `by` (keep `unit` in
    `by` to keep different units apart)."""
    return f"3600 * {rate(COST.name, matchers, by)}"
