"""The load provoked every kind of event the dashboards show, not merely series at zero.

The panel tests pass on series that exist, and many exist at 0 from the moment a route is
built; these queries ask Prometheus that each event was counted. They read the counters, not
their `increase()`: a labelled series born during the load (the first fallback, the first
ejection of an endpoint) starts at its first count, which `increase()` cannot see.
"""

from __future__ import annotations

import pytest

from tests.observability.conftest import Live
from tests.observability.prometheus_server import poll

# What happened -> a PromQL expression (`$tool`: the drill-down tool) with a positive
# sample once it did. The warm-up's calls all succeed, so every count is the load's.
EVENTS = {
    "calls failed": 'sum(toolmesh_call_duration_seconds_count{code!="OK"})',
    "retries": 'sum(toolmesh_retries_total{tool="$tool"})',
    "retry attempts": 'sum(toolmesh_attempts_total{tool="$tool", kind="retry"})',
    "hedges": 'sum(toolmesh_hedges_total{tool="$tool"})',
    "fallbacks": 'sum(toolmesh_fallbacks_total{tool="$tool"})',
    "fallback attempts": 'sum(toolmesh_attempts_total{kind="fallback"})',
    "breaker opened": 'sum(toolmesh_circuit_breaker_transitions_total{tool="$tool", to="open"})',
    "endpoint ejected": 'sum(toolmesh_endpoint_ejections_total{tool="$tool"})',
    "retry budget exhausted": (
        'sum(toolmesh_fast_failures_total{reason="RETRY_BUDGET_EXHAUSTED"})'
    ),
    "cost counted": 'sum(toolmesh_cost_total{tool="$tool"})',
    "attempts on two endpoints": (
        'count(count by (endpoint) (toolmesh_attempt_duration_seconds_count{tool="$tool"})) > 1'
    ),
    "registry requests": "sum(toolmesh_registry_requests_total)",
    "registry tools": "toolmesh_registry_tools",
    "sidecar watching the registry": "toolmesh_registry_connected",
}


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_the_load_provoked(live: Live, event: str) -> None:
    expr = EVENTS[event].replace("$tool", live.source.drilldown_tool)

    def happened() -> float | None:
        samples = live.prometheus.query(expr)
        value = float(samples[0]["value"][1]) if samples else 0.0
        return value if value > 0 else None

    assert poll(f"{event} ({expr})", happened, 3) > 0
