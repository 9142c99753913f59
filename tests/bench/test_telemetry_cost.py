"""The telemetry benchmark's pure parts: comparisons, targets, variant environments, the
sink's span counting and its output parsing."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from bench.h2load import Load
from bench.otlp_sink import spans_by_service
from bench.plan import Scenario
from bench.report import Row
from bench.table import text_table
from bench.telemetry import service_name, spans_seen, variant_environment
from bench.telemetry_cost import (
    HEADERS,
    METRICS,
    OFF,
    TRACING_1,
    TRACING_100,
    cells,
    compare,
    verdicts,
)

CLOSED = Scenario(256, Load(4, 16, 1000))


def _row(target: str, rps: float, cpu_us: float, status: str = "") -> Row:
    if status:
        return Row(target, CLOSED, status=status)
    return Row(target, CLOSED, requests_per_s=rps, proxy_cpu_us=cpu_us, p50_ms=1.0, p99_ms=2.0)


TABLE = [
    _row(OFF, 1000.0, 100.0),
    _row(METRICS, 950.0, 110.0),
    _row(TRACING_1, 920.0, 115.0),
    _row(TRACING_100, 600.0, 180.0),
]


def test_each_variant_is_compared_with_telemetry_off() -> None:
    costs = compare(TABLE, {TRACING_1: 30, TRACING_100: 3000})
    by_name = {cost.variant: cost for cost in costs}
    assert [cost.variant for cost in costs] == [OFF, METRICS, TRACING_1, TRACING_100]
    assert by_name[OFF].rps_ratio == 1.0
    assert by_name[METRICS].rps_ratio == 0.95
    assert by_name[TRACING_100].added_cpu_us == 80.0
    assert by_name[TRACING_1].spans == 30
    assert by_name[METRICS].spans is None


def test_targets_are_judged_on_the_rps_loss() -> None:
    found = {v.goal.split(":")[0]: v for v in verdicts(compare(TABLE, {}))}
    assert found[TRACING_1].met is True  # 8 % fewer, at most 10 % allowed
    assert found[TRACING_100].met is False  # 40 % fewer, at most 35 % allowed
    assert "40.0% fewer" in found[TRACING_100].measured


def test_an_invalid_baseline_makes_every_row_a_status_and_no_target_judged() -> None:
    table = [_row(OFF, 0, 0, status="INVALID: 3 calls failed"), *TABLE[1:]]
    costs = compare(table, {})
    assert all(cost.status.startswith("INVALID") for cost in costs)
    assert all(verdict.met is None for verdict in verdicts(costs))
    rendered = text_table(HEADERS, cells(costs), left=1)
    assert "INVALID: 3 calls failed (telemetry off)" in rendered


def test_a_missing_variant_is_not_judged() -> None:
    found = verdicts(compare(TABLE[:2], {}))
    assert [v.met for v in found] == [None, None]
    assert all(v.measured == "not measured" for v in found)


def test_variant_environments_drop_foreign_otel_settings_and_set_the_sampler() -> None:
    base = {"PATH": "/bin", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://elsewhere:4317"}
    assert variant_environment(base, METRICS, "127.0.0.1:9") == {"PATH": "/bin"}
    assert variant_environment(base, OFF, "127.0.0.1:9") == {"PATH": "/bin"}
    one = variant_environment(base, TRACING_1, "127.0.0.1:9")
    assert one["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:9"
    assert one["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert one["OTEL_TRACES_SAMPLER_ARG"] == "0.01"
    assert one["OTEL_SERVICE_NAME"] == service_name(TRACING_1)
    every = variant_environment(base, TRACING_100, "127.0.0.1:9")
    assert every["OTEL_TRACES_SAMPLER"] == "parentbased_always_on"
    assert "OTEL_TRACES_SAMPLER_ARG" not in every
    assert service_name(TRACING_1) != service_name(TRACING_100)


def test_the_last_running_total_per_service_is_kept() -> None:
    lines = ["otlp sink listening on 127.0.0.1:1", "spans a 3", "spans b 5", "spans a 9", "junk"]
    assert spans_seen(lines) == {"a": 9, "b": 5}


def test_the_sink_counts_spans_per_service_name() -> None:
    def resource_spans(service: str | None, spans: int) -> trace_pb2.ResourceSpans:
        attributes = (
            []
            if service is None
            else [
                common_pb2.KeyValue(
                    key="service.name", value=common_pb2.AnyValue(string_value=service)
                )
            ]
        )
        return trace_pb2.ResourceSpans(
            resource=resource_pb2.Resource(attributes=attributes),
            scope_spans=[trace_pb2.ScopeSpans(spans=[trace_pb2.Span()] * spans)],
        )

    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[resource_spans("a", 2), resource_spans("a", 1), resource_spans(None, 4)]
    )
    assert spans_by_service(request) == {"a": 3, "": 4}


def test_the_rate_shows_the_range_over_rounds() -> None:
    row = Row(OFF, CLOSED, requests_per_s=1000.0, rps_low=950.0, rps_high=1040.0, proxy_cpu_us=1)
    assert cells(compare([row], {}))[0][1] == "1000 (950-1040)"


def test_a_faster_variant_is_reported_as_more_not_negative_fewer() -> None:
    table = [_row(OFF, 1000.0, 100.0), _row(TRACING_1, 1050.0, 100.0)]
    found = verdicts(compare(table, {}))[0]
    assert found.met is True
    assert found.measured == "5.0% more (1.05x)"
