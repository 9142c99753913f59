"""Which calls get spans: the OTEL_TRACES_SAMPLER rules, as the relay's entry point applies them."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

from mesh.telemetry import tracing as tracing_module
from mesh.telemetry.trace_context import SpanContext, format_traceparent
from mesh.telemetry.trace_sampling import (
    Sampler,
    SamplerConfigError,
    sampler_from_environment,
)
from mesh.telemetry.trace_settings import TracingSettings
from mesh.telemetry.tracing import CallSpan, Tracing

METHOD = "/echo.v1.Echo/Echo"
LOW_64 = (1 << 64) - 1


class KeptCalls:
    """An export queue that keeps what it is given."""

    dropped = 0

    def __init__(self) -> None:
        self.calls: list[CallSpan] = []

    def put(self, call: CallSpan) -> None:
        self.calls.append(call)


def tracer(sampler: Sampler) -> Tracing:
    return Tracing(TracingSettings(endpoint="http://127.0.0.1:4317", sampler=sampler), KeptCalls())  # type: ignore[arg-type]


def header(trace_id: int, sampled: bool) -> bytes:
    return format_traceparent(SpanContext(trace_id, 0x1234, 1 if sampled else 0))


def test_tracing_off_records_nothing() -> None:
    tracing = Tracing.off()
    assert not tracing.enabled
    assert tracing.start_call("echo", METHOD, header(5, True), started=1.0) is None
    assert tracing.start_call_span("echo", METHOD, None, started=1.0) is None
    tracing.shutdown()  # a no-op
    assert tracing.flush(0.1)


@pytest.mark.parametrize("ratio", [0.01, 0.5, 1.0])
def test_the_parents_flag_decides_under_parent_based_sampling(ratio: float) -> None:
    tracing = tracer(Sampler("parentbased_traceidratio", ratio))
    trace_id = LOW_64  # the lower 64 bits at their maximum: a ratio below 1 would refuse it
    assert tracing.start_call("echo", METHOD, header(trace_id, False), started=1.0) is None
    call = tracing.start_call("echo", METHOD, header(trace_id, True), started=1.0)
    assert call is not None
    assert call.trace_id == trace_id
    assert call.parent_id == 0x1234


def test_an_invalid_traceparent_counts_as_none_and_starts_a_new_trace() -> None:
    tracing = tracer(Sampler("parentbased_always_on"))
    call = tracing.start_call("echo", METHOD, b"00-garbage", b"congo=1", started=1.0)
    assert call is not None
    assert call.parent_id == 0
    assert call.tracestate == b""  # tracestate is meaningless without a valid traceparent


def test_ratio_sampling_uses_the_trace_ids_lower_64_bits_like_the_sdk() -> None:
    ratio = 0.25
    sampler = Sampler("traceidratio", ratio)
    bound = TraceIdRatioBased(ratio).bound
    assert sampler.bound == bound
    tracing = tracer(sampler)
    high = 0xABCDEF << 64  # the upper half does not matter
    below = high | (bound - 1)
    at = high | bound
    # Not parent based: the parent's own flag is ignored, its trace id decides.
    assert tracing.start_call("echo", METHOD, header(below, False), started=1.0) is not None
    assert tracing.start_call("echo", METHOD, header(at, True), started=1.0) is None
    assert sampler.sampled(below, parent_sampled=False)
    assert not sampler.sampled(at, parent_sampled=True)


def test_root_traces_are_sampled_at_the_configured_ratio() -> None:
    tracing_module._random.seed(11)
    tracing = tracer(Sampler("parentbased_traceidratio", 0.1))
    sampled = sum(
        tracing.start_call("echo", METHOD, None, started=1.0) is not None for _ in range(4000)
    )
    assert 300 <= sampled <= 500  # 400 expected; the seed makes it reproducible


@pytest.mark.parametrize(
    ("name", "root", "sampled_parent", "unsampled_parent"),
    [
        ("always_on", True, True, True),
        ("always_off", False, False, False),
        ("parentbased_always_on", True, True, False),
        ("parentbased_always_off", False, True, False),
    ],
)
def test_always_samplers(
    name: str, root: bool, sampled_parent: bool, unsampled_parent: bool
) -> None:
    tracing = tracer(Sampler(name))
    assert (tracing.start_call("echo", METHOD, None, started=1.0) is not None) is root
    got = tracing.start_call("echo", METHOD, header(LOW_64, True), started=1.0)
    assert (got is not None) is sampled_parent
    got = tracing.start_call("echo", METHOD, header(1, False), started=1.0)
    assert (got is not None) is unsampled_parent


def test_ratio_zero_samples_no_root_and_ratio_one_every_root() -> None:
    assert all(
        tracer(Sampler("traceidratio", 0.0)).start_call("e", METHOD, None, started=1.0) is None
        for _ in range(100)
    )
    assert all(
        tracer(Sampler("traceidratio", 1.0)).start_call("e", METHOD, None, started=1.0)
        for _ in range(100)
    )


def test_sampler_from_environment() -> None:
    assert sampler_from_environment({}) == Sampler("parentbased_traceidratio", 1.0)
    assert sampler_from_environment({"OTEL_TRACES_SAMPLER_ARG": "0.01"}) == Sampler(
        "parentbased_traceidratio", 0.01
    )
    assert sampler_from_environment(
        {"OTEL_TRACES_SAMPLER": " TraceIdRatio ", "OTEL_TRACES_SAMPLER_ARG": "0.5"}
    ) == Sampler("traceidratio", 0.5)
    # The argument belongs to the ratio samplers only.
    assert sampler_from_environment(
        {"OTEL_TRACES_SAMPLER": "always_on", "OTEL_TRACES_SAMPLER_ARG": "nonsense"}
    ) == Sampler("always_on")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER='jaeger_remote'"),
        ({"OTEL_TRACES_SAMPLER_ARG": "one percent"}, "OTEL_TRACES_SAMPLER_ARG must be"),
        ({"OTEL_TRACES_SAMPLER_ARG": "1.5"}, "within [0, 1] (got 1.5)"),
        ({"OTEL_TRACES_SAMPLER_ARG": "nan"}, "OTEL_TRACES_SAMPLER_ARG"),
    ],
)
def test_bad_sampler_settings_are_refused_by_name(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SamplerConfigError) as error:
        sampler_from_environment(environ)
    assert message in str(error.value)
