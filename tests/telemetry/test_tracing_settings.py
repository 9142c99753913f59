"""Tracing configured by the standard OTEL_* variables: on, off, and refused with a reason."""

from __future__ import annotations

import pytest

from mesh.telemetry.trace_sampling import Sampler
from mesh.telemetry.trace_settings import (
    RECOMMENDED_PRODUCTION_SAMPLING,
    TracingConfigError,
    TracingOff,
    TracingSettings,
    settings_from_environment,
)
from mesh.telemetry.tracing import Tracing

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}


def settings(environ: dict[str, str]) -> TracingSettings:
    result = settings_from_environment(environ, "toolmesh-sidecar", "1.2.3")
    assert isinstance(result, TracingSettings), result
    return result


@pytest.mark.parametrize(
    ("environ", "reason"),
    [
        ({}, "no collector configured"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, "no collector configured"),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "TRUE"}, "OTEL_SDK_DISABLED=true"),
        ({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, "OTEL_TRACES_EXPORTER=none"),
    ],
)
def test_tracing_is_off_without_a_collector_or_when_disabled(
    environ: dict[str, str], reason: str
) -> None:
    result = settings_from_environment(environ, "toolmesh-sidecar")
    assert isinstance(result, TracingOff)
    assert reason in result.reason
    tracing = Tracing.from_environment(environ=environ)
    assert not tracing.enabled
    assert reason in tracing.off_reason


def test_defaults_with_only_an_endpoint() -> None:
    got = settings(ENDPOINT)
    assert got.endpoint == "http://127.0.0.1:4317"
    assert got.sampler == Sampler("parentbased_traceidratio", 1.0)
    assert dict(got.resource) == {
        "service.name": "toolmesh-sidecar",
        "service.version": "1.2.3",
        "telemetry.sdk.name": "toolmesh",
        "telemetry.sdk.language": "python",
    }
    assert got.legacy_rpc_attributes
    assert (got.schedule_delay_s, got.max_queue_calls, got.max_batch_calls) == (5.0, 2048, 512)
    assert got.shutdown_timeout_s == 30.0


def test_the_traces_endpoint_wins_over_the_general_one() -> None:
    got = settings({**ENDPOINT, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector:4317"})
    assert got.endpoint == "https://collector:4317"


def test_service_name_and_resource_attributes() -> None:
    got = settings(
        {
            **ENDPOINT,
            "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attributes, deployment.environment"
            "=prod,team=tools%2Cagents",
        }
    )
    resource = dict(got.resource)
    assert resource["service.name"] == "from-attributes"
    assert resource["deployment.environment"] == "prod"
    assert resource["team"] == "tools,agents"  # values are percent-decoded
    got = settings(
        {**ENDPOINT, "OTEL_RESOURCE_ATTRIBUTES": "service.name=x", "OTEL_SERVICE_NAME": "y"}
    )
    assert got.service_name == "y"  # OTEL_SERVICE_NAME wins, as in the SDK


def test_the_recommended_production_sampling_is_one_percent_parent_based() -> None:
    got = settings({**ENDPOINT, **RECOMMENDED_PRODUCTION_SAMPLING})
    assert got.sampler == Sampler("parentbased_traceidratio", 0.01)


def test_batch_settings_and_semconv_opt_in() -> None:
    got = settings(
        {
            **ENDPOINT,
            "OTEL_BSP_SCHEDULE_DELAY": "250",
            "OTEL_BSP_MAX_QUEUE_SIZE": "100",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10",
            "OTEL_BSP_EXPORT_TIMEOUT": "1500",
            "OTEL_SEMCONV_STABILITY_OPT_IN": "http,rpc",
        }
    )
    assert (got.schedule_delay_s, got.max_queue_calls, got.max_batch_calls) == (0.25, 100, 10)
    assert got.shutdown_timeout_s == 1.5
    assert not got.legacy_rpc_attributes
    both = settings({**ENDPOINT, "OTEL_SEMCONV_STABILITY_OPT_IN": "rpc,rpc/dup"})
    assert both.legacy_rpc_attributes  # rpc/dup wins over rpc


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:4317"}, "OTEL_EXPORTER_OTLP_ENDPOINT="),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "grpc://x:1"}, "write http://HOST:PORT"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:99999"}, "invalid port"),
        ({**ENDPOINT, "OTEL_TRACES_EXPORTER": "console"}, "OTEL_TRACES_EXPORTER='console'"),
        (
            {**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            "OTEL_EXPORTER_OTLP_PROTOCOL='http/protobuf' is not supported",
        ),
        ({**ENDPOINT, "OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER='sometimes'"),
        ({**ENDPOINT, "OTEL_BSP_MAX_QUEUE_SIZE": "0"}, "OTEL_BSP_MAX_QUEUE_SIZE must be"),
        ({**ENDPOINT, "OTEL_BSP_SCHEDULE_DELAY": "soon"}, "OTEL_BSP_SCHEDULE_DELAY must be"),
        (
            {**ENDPOINT, "OTEL_BSP_MAX_QUEUE_SIZE": "10", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "20"},
            "must not exceed OTEL_BSP_MAX_QUEUE_SIZE",
        ),
        ({**ENDPOINT, "OTEL_RESOURCE_ATTRIBUTES": "team"}, "'team' is not key=value"),
    ],
)
def test_unusable_values_are_refused_naming_the_variable(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(TracingConfigError) as error:
        Tracing.from_environment(environ=environ)
    assert message in str(error.value)


def test_a_traces_protocol_of_grpc_overrides_a_general_http_one() -> None:
    got = settings(
        {
            **ENDPOINT,
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }
    )
    assert got.endpoint == ENDPOINT["OTEL_EXPORTER_OTLP_ENDPOINT"]
