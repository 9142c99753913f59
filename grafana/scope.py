"""Panels the overview and a tool's dashboard both draw, each over its own `Scope`.

The overview looks at the selected tools, one series per tool; a tool's dashboard at the
selected methods of one tool, one series per method. The panels are otherwise the same, so
they are built here once.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import stat, timeseries

from grafana import panels, queries
from grafana.panels import SIXTH, THIRD, Query
from grafana.queries import CALL_BUCKETS, CALLS
from mesh.telemetry.metrics import FALLBACKS, HEDGES

# The values of the breaker state gauge (mesh.telemetry.metrics.BREAKER_STATE).
BREAKER_STATES = panels.state_mappings(
    [(0, "closed", "green"), (1, "half-open", "yellow"), (2, "open", "red")]
)


@dataclass(frozen=True, slots=True)
class Scope:
    """The calls a dashboard's panels look at: `matchers` select them (`tool=~"$tool"`),
    `label` splits them into one series per value (`tool`)."""

    matchers: str
    label: str

    def by(self, other: str) -> str:
        """A query's grouping: `label`, then the `other` labels (`tool, reason`)."""
        return f"{self.label}, {other}"

    def legend(self, rest: str) -> str:
        """A legend naming the series by `label`, followed by `rest` (`{{tool}} p99`)."""
        return f"{{{{{self.label}}}}} {rest}"


def call_rate_stat(scope: Scope, description: str) -> stat.Panel:
    """All the scope's calls per second, as one number."""
    return panels.single_stat(
        "Calls per second",
        description,
        Query(queries.rate(CALLS, scope.matchers, "")),
        unit="reqps",
        width=SIXTH,
    )


def success_rate_stat(scope: Scope, description: str) -> stat.Panel:
    """The share of the scope's calls that ended OK, as one number colored red below 95 %
    and green from 99 %."""
    return panels.single_stat(
        "Success rate",
        description,
        Query(queries.success_ratio(scope.matchers, "")),
        unit="percentunit",
        width=SIXTH,
        thresholds=[(None, "red"), (0.95, "orange"), (0.99, "green")],
    )


def latency_percentiles(scope: Scope) -> list[Query]:
    """p50, p95 and p99 of call duration per series, with exemplars linked to traces."""
    return [
        Query(
            queries.quantile(q, CALL_BUCKETS, scope.matchers, scope.label),
            scope.legend(name),
            exemplar=True,
        )
        for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99"))
    ]


def by_reason(scope: Scope, counter: str, title: str, description: str) -> timeseries.Panel:
    """The per-second rate of `counter` (a metric name with a `reason` label), one series
    per value of the scope's label and reason."""
    return panels.graph(
        title,
        description,
        [
            Query(
                queries.rate(counter, scope.matchers, scope.by("reason")),
                scope.legend("{{reason}}"),
            )
        ],
        unit="reqps",
        width=THIRD,
    )


def hedges_and_fallbacks(scope: Scope, description: str) -> timeseries.Panel:
    """Hedged attempts and calls handed to a fallback tool, per second, per series."""
    return panels.graph(
        "Hedges and fallbacks",
        description,
        [
            Query(queries.rate(HEDGES.name, scope.matchers, scope.label), scope.legend("hedges")),
            Query(
                queries.rate(FALLBACKS.name, scope.matchers, scope.by("fallback")),
                scope.legend("to {{fallback}}"),
            ),
        ],
        unit="reqps",
        width=THIRD,
    )
