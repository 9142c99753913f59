"""The `--no-telemetry` baseline's metrics: the same interface as the real ones, recording
nothing, and exporting nothing."""

from __future__ import annotations

import inspect

from prometheus_client import CollectorRegistry, generate_latest

from mesh.policy.breaker import BreakerState
from mesh.telemetry.metrics import (
    NullRouteMetrics,
    NullSidecarMetrics,
    NullToolMetrics,
    RouteMetrics,
    SidecarMetrics,
    ToolMetrics,
)


def _public_methods(cls: type) -> set[str]:
    return {
        name for name, member in vars(cls).items() if callable(member) and not name.startswith("_")
    }


def test_every_recording_method_is_overridden() -> None:
    # An inherited recording method would reach slots the null classes never set.
    for real, null in (
        (RouteMetrics, NullRouteMetrics),
        (ToolMetrics, NullToolMetrics),
        (SidecarMetrics, NullSidecarMetrics),
    ):
        missing = _public_methods(real) - _public_methods(null)
        assert not missing, f"{null.__name__} does not override {sorted(missing)}"
        for name in _public_methods(real):
            assert inspect.signature(getattr(real, name)).parameters.keys() == (
                inspect.signature(getattr(null, name)).parameters.keys()
            ), name


def test_recording_through_the_null_metrics_changes_nothing() -> None:
    metrics = NullSidecarMetrics()
    route = metrics.route("echo", "echo.v1.Echo/Echo")
    assert isinstance(route, RouteMetrics)
    route.call_started()
    route.attempt_started("first")
    route.attempt("127.0.0.1:1", 0, 0.001, "ab" * 16)
    route.retry(14)
    route.hedge()
    route.fallback("other")
    route.fast_failure("CIRCUIT_OPEN")
    route.breaker_transition(BreakerState.CLOSED, BreakerState.OPEN)
    route.breaker_state(BreakerState.OPEN)
    route.cost(1.0, "USD", True)
    route.call(0, 0.002)
    tool = metrics.tool("echo")
    tool.ejection("127.0.0.1:1")
    tool.track_ejected(lambda: 1)
    metrics.track_catalog(
        connected=lambda: True, version=lambda: 1, tools=lambda: 1, updated_at=lambda: None
    )
    metrics.forget_tool("echo")
    assert route.tool.in_flight.value == 0.0
    assert route.tool.name == "echo" and route.method == "echo.v1.Echo/Echo"
    assert metrics.families.families == {}


def test_the_real_metrics_record_what_the_null_ones_do_not() -> None:
    # The contrast that makes the previous test able to fail.
    registry = CollectorRegistry()
    metrics = SidecarMetrics(registry)
    route = metrics.route("echo", "echo.v1.Echo/Echo")
    route.call_started()
    route.call(0, 0.002)
    assert b"toolmesh_call_duration_seconds_count" in generate_latest(registry)
