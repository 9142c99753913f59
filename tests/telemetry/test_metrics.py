"""The metrics API: what each call records, as a scrape sees it (text and OpenMetrics)."""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from mesh.policy.breaker import BreakerState
from mesh.telemetry import metrics
from mesh.telemetry.metrics import (
    ALL_METRICS,
    DURATION_BUCKETS_S,
    RegistryMetrics,
    SidecarMetrics,
    metrics_registry,
    metrics_table,
    start_metrics_server,
)

TOOL = "echo"
METHOD = "echo.v1.Echo/Echo"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
UNAVAILABLE = 14


def samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a text-format scrape, by (name, labels)."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return samples(registry).get((name, frozenset(labels.items())))


@pytest.fixture
def registry() -> CollectorRegistry:
    return metrics_registry(process=False)


@pytest.fixture
def sidecar(registry: CollectorRegistry) -> SidecarMetrics:
    return SidecarMetrics(registry)


def test_a_call_lands_in_its_bucket_with_its_status(
    registry: CollectorRegistry, sidecar: SidecarMetrics
) -> None:
    route = sidecar.route(TOOL, METHOD)
    route.call_started()
    route.call_started()
    assert value(registry, "toolmesh_calls_in_flight", tool=TOOL) == 2
    route.call(0, 0.0007)
    route.call(UNAVAILABLE, 2.0)

    labels = {"tool": TOOL, "method": METHOD}
    bucket = "toolmesh_call_duration_seconds_bucket"
    assert value(registry, bucket, **labels, code="OK", le="0.0005") == 0
    assert value(registry, bucket, **labels, code="OK", le="0.001") == 1
    assert value(registry, bucket, **labels, code="OK", le="+Inf") == 1
    assert value(registry, bucket, **labels, code="UNAVAILABLE", le="1.0") == 0
    assert value(registry, bucket, **labels, code="UNAVAILABLE", le="2.5") == 1
    assert value(registry, "toolmesh_call_duration_seconds_count", **labels, code="OK") == 1
    assert value(registry, "toolmesh_call_duration_seconds_sum", **labels, code="UNAVAILABLE") == 2
    assert value(registry, "toolmesh_calls_in_flight", tool=TOOL) == 0


def test_bucket_bounds_are_inclusive_and_overflow_goes_to_inf(
    registry: CollectorRegistry, sidecar: SidecarMetrics
) -> None:
    route = sidecar.route(TOOL, METHOD)
    for seconds in (0.001, 61.0):
        route.call_started()
        route.call(0, seconds)
    labels = {"tool": TOOL, "method": METHOD, "code": "OK"}
    bucket = "toolmesh_call_duration_seconds_bucket"
    assert value(registry, bucket, **labels, le="0.001") == 1  # le means <=
    assert value(registry, bucket, **labels, le="60.0") == 1
    assert value(registry, bucket, **labels, le="+Inf") == 2


def test_buckets_cover_a_millisecond_to_a_minute() -> None:
    assert DURATION_BUCKETS_S[0] <= 0.001
    assert DURATION_BUCKETS_S[-1] >= 60
    assert list(DURATION_BUCKETS_S) == sorted(set(DURATION_BUCKETS_S))


def test_series_alerts_need_exist_at_zero_before_anything_happens(
    registry: CollectorRegistry, sidecar: SidecarMetrics
) -> None:
    sidecar.route(TOOL, METHOD)
    labels = {"tool": TOOL, "method": METHOD}
    for reason in metrics.FAST_FAILURE_REASONS:
        assert value(registry, "toolmesh_fast_failures_total", **labels, reason=reason) == 0
    for kind in metrics.ATTEMPT_KINDS:
        assert value(registry, "toolmesh_attempts_total", **labels, kind=kind) == 0
    for state in ("closed", "half_open", "open"):
        assert (
            value(registry, "toolmesh_circuit_breaker_transitions_total", **labels, to=state) == 0
        )
    assert value(registry, "toolmesh_call_duration_seconds_count", **labels, code="OK") == 0
    assert value(registry, "toolmesh_circuit_breaker_state", **labels) == 0


def test_attempts_retries_hedges_fallbacks_and_fast_failures(
    registry: CollectorRegistry, sidecar: SidecarMetrics
) -> None:
    route = sidecar.route(TOOL, METHOD)
    route.attempt_started("first")
    route.attempt("127.0.0.1:5001", UNAVAILABLE, 0.003)
    route.retry(UNAVAILABLE)
    route.attempt_started("retry")
    route.attempt_started("resend")
    route.retry(UNAVAILABLE, unprocessed=True)
    route.attempt_started("hedge")
    route.hedge()
    route.fallback("echo-backup")
    route.fast_failure("RETRY_BUDGET_EXHAUSTED")
    route.attempt("127.0.0.1:5002", 0, 0.002)

    labels = {"tool": TOOL, "method": METHOD}
    attempts = "toolmesh_attempts_total"
    assert value(registry, attempts, **labels, kind="first") == 1
    assert value(registry, attempts, **labels, kind="retry") == 1
    assert value(registry, attempts, **labels, kind="resend") == 1
    assert value(registry, attempts, **labels, kind="hedge") == 1
    assert value(registry, attempts, **labels, kind="fallback") == 0
    assert value(registry, "toolmesh_retries_total", **labels, reason="UNAVAILABLE") == 1
    assert value(registry, "toolmesh_retries_total", **labels, reason="UNPROCESSED") == 1
    assert value(registry, "toolmesh_hedges_total", **labels) == 1
    assert value(registry, "toolmesh_fallbacks_total", **labels, fallback="echo-backup") == 1
    fast = "toolmesh_fast_failures_total"
    assert value(registry, fast, **labels, reason="RETRY_BUDGET_EXHAUSTED") == 1
    assert value(registry, fast, **labels, reason="CIRCUIT_OPEN") == 0
    per_attempt = "toolmesh_attempt_duration_seconds_count"
    assert (
        value(registry, per_attempt, **labels, endpoint="127.0.0.1:5001", code="UNAVAILABLE") == 1
    )
    assert value(registry, per_attempt, **labels, endpoint="127.0.0.1:5002", code="OK") == 1


def test_unknown_status_codes_keep_their_number(
    registry: CollectorRegistry, sidecar: SidecarMetrics
) -> None:
    route = sidecar.route(TOOL, METHOD)
    route.call_started()
    route.call(42, 0.01)
    assert metrics.code_name(42) == "42"
    labels = {"tool": TOOL, "method": METHOD, "code": "42"}
    assert value(registry, "toolmesh_call_duration_seconds_count", **labels) == 1


def test_breaker_state_and_transitions(
    registry: CollectorRegistry, sidecar: SidecarMetrics
) -> None:
    route = sidecar.route(TOOL, METHOD)
    labels = {"tool": TOOL, "method": METHOD}
    route.breaker_transition(BreakerState.CLOSED, BreakerState.OPEN)
    assert value(registry, "toolmesh_circuit_breaker_state", **labels) == 2
    route.breaker_transition(BreakerState.OPEN, BreakerState.HALF_OPEN)
    assert value(registry, "toolmesh_circuit_breaker_state", **labels) == 1
    route.breaker_transition(BreakerState.HALF_OPEN, BreakerState.OPEN)
    route.breaker_state(BreakerState.CLOSED)  # a fresh breaker: no transition counted
    assert value(registry, "toolmesh_circuit_breaker_state", **labels) == 0
    transitions = "toolmesh_circuit_breaker_transitions_total"
    assert value(registry, transitions, **labels, to="open") == 2
    assert value(registry, transitions, **labels, to="half_open") == 1
    assert value(registry, transitions, **labels, to="closed") == 0


def test_cost_is_summed_by_unit_and_outcome(
    registry: CollectorRegistry, sidecar: SidecarMetrics
) -> None:
    route = sidecar.route(TOOL, METHOD)
    route.cost(0.25, "USD", success=True)
    route.cost(0.25, "USD", success=True)
    route.cost(0.25, "USD", success=False)
    route.cost(1500, "tokens", success=True)
    labels = {"tool": TOOL, "method": METHOD}
    cost = "toolmesh_cost_total"
    assert value(registry, cost, **labels, unit="USD", outcome="success") == 0.5
    assert value(registry, cost, **labels, unit="USD", outcome="failure") == 0.25
    assert value(registry, cost, **labels, unit="tokens", outcome="success") == 1500


def test_ejections_and_the_ejected_gauge_read_at_scrape(
    registry: CollectorRegistry, sidecar: SidecarMetrics
) -> None:
    tool = sidecar.tool(TOOL)
    tool.ejection("10.0.0.1:50051")
    tool.ejection("10.0.0.1:50051")
    ejected = [0]
    tool.track_ejected(lambda: ejected[0])
    assert value(registry, "toolmesh_endpoints_ejected", tool=TOOL) == 0
    ejected[0] = 1
    assert value(registry, "toolmesh_endpoints_ejected", tool=TOOL) == 1
    ejections = "toolmesh_endpoint_ejections_total"
    assert value(registry, ejections, tool=TOOL, endpoint="10.0.0.1:50051") == 2


def test_catalog_health_is_read_at_scrape(
    registry: CollectorRegistry, sidecar: SidecarMetrics
) -> None:
    state: dict[str, float | bool | None] = {"connected": False, "updated_at": None}
    now = [100.0]
    sidecar.track_catalog(
        connected=lambda: bool(state["connected"]),
        version=lambda: 7,
        tools=lambda: 3,
        updated_at=lambda: state["updated_at"],  # type: ignore[return-value,arg-type]
        clock=lambda: now[0],
    )
    assert value(registry, "toolmesh_registry_connected") == 0
    age = value(registry, "toolmesh_catalog_update_age_seconds")
    assert age is not None and math.isnan(age)
    state["connected"] = True
    state["updated_at"] = 90.0
    assert value(registry, "toolmesh_registry_connected") == 1
    assert value(registry, "toolmesh_catalog_update_age_seconds") == 10
    assert value(registry, "toolmesh_catalog_version") == 7
    assert value(registry, "toolmesh_catalog_tools") == 3


def test_a_failing_reader_leaves_out_its_series_not_the_scrape(
    registry: CollectorRegistry, sidecar: SidecarMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> int:
        raise RuntimeError("detector gone")

    sidecar.tool(TOOL).track_ejected(broken)
    sidecar.route(TOOL, METHOD).hedge()
    assert value(registry, "toolmesh_endpoints_ejected", tool=TOOL) is None
    assert value(registry, "toolmesh_hedges_total", tool=TOOL, method=METHOD) == 1
    assert "toolmesh_endpoints_ejected" in caplog.text


def test_forget_tool_drops_its_series_and_keeps_the_others(
    registry: CollectorRegistry, sidecar: SidecarMetrics
) -> None:
    sidecar.route(TOOL, METHOD).hedge()
    sidecar.tool(TOOL).ejection("10.0.0.1:1")
    sidecar.route("other", "o.v1.O/Do").hedge()
    sidecar.forget_tool(TOOL)
    names = {labels for (_, labels) in samples(registry)}
    assert not any(("tool", TOOL) in labels for labels in names)
    assert value(registry, "toolmesh_hedges_total", tool="other", method="o.v1.O/Do") == 1
    # Coming back starts from zero with fresh series.
    route = sidecar.route(TOOL, METHOD)
    assert value(registry, "toolmesh_hedges_total", tool=TOOL, method=METHOD) == 0
    route.hedge()
    assert value(registry, "toolmesh_hedges_total", tool=TOOL, method=METHOD) == 1


def test_routes_are_cached(sidecar: SidecarMetrics) -> None:
    assert sidecar.route(TOOL, METHOD) is sidecar.route(TOOL, METHOD)
    assert sidecar.route(TOOL, METHOD).tool is sidecar.tool(TOOL)


def test_two_registries_in_one_process_do_not_share_series() -> None:
    first, second = metrics_registry(process=False), metrics_registry(process=False)
    SidecarMetrics(first).route(TOOL, METHOD).hedge()
    SidecarMetrics(second)
    assert value(first, "toolmesh_hedges_total", tool=TOOL, method=METHOD) == 1
    assert value(second, "toolmesh_hedges_total", tool=TOOL, method=METHOD) is None


def test_exemplars_carry_the_trace_id_in_openmetrics_only(
    registry: CollectorRegistry, sidecar: SidecarMetrics
) -> None:
    route = sidecar.route(TOOL, METHOD)
    route.call_started()
    route.call(0, 0.02, TRACE_ID)
    route.attempt("127.0.0.1:5001", 0, 0.019, TRACE_ID)
    openmetrics = generate_openmetrics(registry).decode()  # type: ignore[no-untyped-call]
    bucket_line = next(
        line
        for line in openmetrics.splitlines()
        if line.startswith("toolmesh_call_duration_seconds_bucket") and 'le="0.025"' in line
    )
    assert f'# {{trace_id="{TRACE_ID}"}} 0.02' in bucket_line
    assert openmetrics.count(TRACE_ID) == 2
    assert TRACE_ID not in generate_latest(registry).decode()


def test_registry_metrics_follow_the_store(registry: CollectorRegistry) -> None:
    registry_metrics = RegistryMetrics(registry)
    registry_metrics.load_state(["a", "b"], version=10)
    registry_metrics.apply_change(11, "c", present=True)
    registry_metrics.apply_change(12, "a", present=False)
    registry_metrics.apply_change(13, "a", present=False)  # already gone: no change in count
    watchers = [3]
    registry_metrics.track_watchers(lambda: watchers[0])
    registry_metrics.request("RegisterTool", 0)
    registry_metrics.request("RegisterTool", 3)
    registry_metrics.request("RegisterTool", 0)
    assert value(registry, "toolmesh_registry_tools") == 2
    assert value(registry, "toolmesh_registry_version") == 13
    assert value(registry, "toolmesh_registry_watchers") == 3
    requests = "toolmesh_registry_requests_total"
    assert value(registry, requests, rpc="RegisterTool", code="OK") == 2
    assert value(registry, requests, rpc="RegisterTool", code="INVALID_ARGUMENT") == 1


def test_every_metric_is_named_once_and_in_the_docstring_table() -> None:
    names = [spec.name for spec in ALL_METRICS]
    assert len(names) == len(set(names))
    assert all(name.startswith("toolmesh_") for name in names)
    assert all(spec.name.endswith("_total") for spec in ALL_METRICS if spec.kind == "counter")
    assert all(spec.name.endswith("_seconds") for spec in ALL_METRICS if spec.kind == "histogram")
    doc = metrics.__doc__ or ""
    table = doc.split("<!-- metrics:start -->\n", 1)[1].split("<!-- metrics:end -->", 1)[0]
    header = "| metric | type | labels | meaning |\n|---|---|---|---|\n"
    assert table == header + metrics_table() + "\n"


def test_the_process_registry_adds_process_metrics() -> None:
    registry = metrics_registry()
    SidecarMetrics(registry)
    names = {name for name, _ in samples(registry)}
    assert "process_cpu_seconds_total" in names
    assert "python_info" in names


# ------------------------------------------------------------------ the /metrics server


@pytest.fixture
def served(registry: CollectorRegistry, sidecar: SidecarMetrics) -> Iterator[str]:
    route = sidecar.route(TOOL, METHOD)
    route.call_started()
    route.call(0, 0.02, TRACE_ID)
    server = start_metrics_server("127.0.0.1:0", registry)
    try:
        yield server.address
    finally:
        server.close()


def fetch(address: str, accept: str | None) -> tuple[str, str]:
    request = urllib.request.Request(f"http://{address}/metrics")
    if accept:
        request.add_header("Accept", accept)
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.headers["Content-Type"], response.read().decode()


def test_the_server_speaks_openmetrics_to_prometheus_with_exemplars(served: str) -> None:
    content_type, body = fetch(
        served, "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    )
    assert content_type.startswith("application/openmetrics-text")
    assert TRACE_ID in body
    assert body.endswith("# EOF\n")


def test_the_server_speaks_the_text_format_to_others(served: str) -> None:
    content_type, body = fetch(served, None)
    assert content_type.startswith("text/plain")
    assert "toolmesh_call_duration_seconds_bucket" in body
    assert TRACE_ID not in body


def test_the_server_binds_port_zero_and_stops_on_close(registry: CollectorRegistry) -> None:
    server = start_metrics_server("127.0.0.1:0", registry)
    host, port = server.address.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert fetch(server.address, None)[0].startswith("text/plain")
    server.close()
    with pytest.raises(urllib.error.URLError):
        fetch(server.address, None)


def test_the_server_refuses_an_address_it_cannot_use(registry: CollectorRegistry) -> None:
    with pytest.raises(ValueError, match="unix socket"):
        start_metrics_server("unix:/tmp/metrics.sock", registry)
    server = start_metrics_server("127.0.0.1:0", registry)
    try:
        with pytest.raises(ValueError, match="cannot listen"):
            start_metrics_server(server.address, registry)
    finally:
        server.close()
