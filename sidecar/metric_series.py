"""Series declared ahead of traffic: every method of every tool in the catalog gets its
series at 0 as soon as the catalog names it.

Why: Prometheus' `rate()` and `increase()` see an increase only between two samples of a
series. A counter that first appears at 1 (a tool's first fallback, a method's first retry,
the first call of a rarely used method) has no earlier sample, so its first events are
invisible to dashboards and alerts. Declaring the series from the catalog and each method's
resolved policy makes every increase visible, including the first.
"""

from __future__ import annotations

from mesh.telemetry.metrics import SidecarMetrics
from sidecar.catalog import Catalog
from sidecar.relay.policy_route import parse_policy


def declare_catalog_series(metrics: SidecarMetrics, catalog: Catalog, *, policies: bool) -> None:
    """Creates, at 0, the series each tool method in `catalog` can produce under its policy
    (`policies` False: the relay forwards plainly, so only calls and attempts). Idempotent:
    series that exist keep their values."""
    for entry in catalog.tools.values():
        tool_metrics = metrics.tool(entry.name)
        tool_metrics.expect_endpoints(entry.endpoints)
        config = parse_policy(entry) if policies else None
        tool = entry.state.tool
        cost_unit = tool.cost.unit if policies and tool.HasField("cost") else None
        for shape in entry.methods:
            route_metrics = metrics.route(entry.name, shape.path[1:])
            if config is None:
                route_metrics.expect(endpoints=entry.endpoints)
                continue
            policy = config.for_method(shape.service, shape.name)
            retry = policy.retry
            route_metrics.expect(
                retry_codes=retry.retryable_codes if retry.max_attempts > 1 else (),
                fallback=policy.fallback,
                cost_unit=cost_unit,
                endpoints=entry.endpoints,
            )
