"""The echo tool records its own SERVER span, child of the traceparent the sidecar sent it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest

from examples.tools import echo
from examples.tools.echo.servicer import EchoServicer
from examples.tools.echo.tracing import EchoTracing, TracedEchoServicer
from examples.tools.gen.echo.v1 import echo_pb2, echo_pb2_grpc
from mesh.addresses import Address, parse_address
from mesh.telemetry.trace_context import format_traceparent, parse_traceparent
from mesh.telemetry.trace_settings import TracingSettings
from mesh.telemetry.tracing import ATTEMPT_FIRST, ATTEMPT_RETRY, CallSpan, Tracing
from tests.observability.otlp_receiver import OtlpReceiver

AGENT_TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class KeptCalls:
    dropped = 0

    def put(self, call: CallSpan) -> None:
        pass


@pytest.fixture
async def receiver() -> AsyncIterator[OtlpReceiver]:
    async with OtlpReceiver() as running:
        yield running


@pytest.fixture
async def traced_echo(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[echo_pb2_grpc.EchoStub, str, EchoTracing]]:
    for variable in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
    tracing = EchoTracing.from_environment(instance="echo-a")
    assert tracing is not None
    server, address = await echo.start(instance="echo-a", tracing=tracing)
    channel = grpc.aio.insecure_channel(address)
    try:
        yield echo_pb2_grpc.EchoStub(channel), address, tracing  # type: ignore[no-untyped-call]
    finally:
        await channel.close(None)
        await server.stop(None)
        await asyncio.to_thread(tracing.shutdown, 2.0)


def sidecar_attempt() -> tuple[bytes, str, str]:
    """The traceparent a sidecar attempt sends: (value, trace id hex, attempt span id hex)."""
    tracing = Tracing(TracingSettings(endpoint="http://127.0.0.1:1"), KeptCalls())  # type: ignore[arg-type]
    call = tracing.start_call("echo", "/echo.v1.Echo/Echo", AGENT_TRACEPARENT, started=1.0)
    assert call is not None
    attempt = call.child_attempt(1, Address("127.0.0.1", 1), ATTEMPT_FIRST, 1.0)
    value = attempt.traceparent()
    context = parse_traceparent(value)
    assert context is not None
    return value, context.trace_id_hex, context.span_id_hex


async def test_the_echo_span_is_a_child_of_the_attempt_that_called_it(
    receiver: OtlpReceiver,
    traced_echo: tuple[echo_pb2_grpc.EchoStub, str, EchoTracing],
) -> None:
    stub, address, _ = traced_echo
    traceparent, trace_id, attempt_span = sidecar_attempt()
    metadata = (("traceparent", traceparent.decode()), ("tracestate", "vendor=opaque"))
    response = await stub.Echo(echo_pb2.EchoRequest(payload=b"hi"), metadata=metadata)
    assert response.payload == b"hi"

    spans = await receiver.wait_for(lambda spans: len(spans) >= 1, timeout_s=3)
    (span,) = spans
    assert (span.trace_id, span.parent_span_id) == (trace_id, attempt_span)
    assert span.parent_is_remote is True
    assert span.kind == "SERVER"
    assert span.name == "echo.v1.Echo/Echo"
    assert span.trace_state == "vendor=opaque"
    assert span.service == "echo"
    assert span.resource["service.instance.id"] == "echo-a"
    host, port = address.rsplit(":", 1)
    assert span.attributes["server.address"] == host
    assert span.attributes["server.port"] == int(port)
    assert span.attributes["client.address"] == "127.0.0.1"
    assert span.attributes["rpc.system.name"] == "grpc"
    assert span.attributes["rpc.method"] == "echo.v1.Echo/Echo"
    assert span.attributes["rpc.service"] == "echo.v1.Echo"
    assert span.attributes["rpc.response.status_code"] == "OK"
    assert span.attributes["rpc.grpc.status_code"] == 0
    assert span.status == "UNSET"
    assert 0 < span.end_ns - span.start_ns < 5e9
    assert abs(span.start_ns - time.time_ns()) < 60e9


async def test_failed_and_streaming_calls_get_spans_with_their_status(
    receiver: OtlpReceiver,
    traced_echo: tuple[echo_pb2_grpc.EchoStub, str, EchoTracing],
) -> None:
    stub, _, _ = traced_echo
    traceparent, trace_id, attempt_span = sidecar_attempt()
    metadata = (("traceparent", traceparent.decode()),)
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await stub.Echo(echo_pb2.EchoRequest(status_code=14), metadata=metadata)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.Write(echo_pb2.EchoRequest(status_code=3), metadata=metadata)
    replies = [r async for r in stub.ServerStream(echo_pb2.EchoRequest(count=3))]
    assert len(replies) == 3

    spans = await receiver.wait_for(lambda spans: len(spans) >= 3, timeout_s=3)
    by_name = {span.name: span for span in spans}
    unavailable = by_name["echo.v1.Echo/Echo"]
    assert (unavailable.trace_id, unavailable.parent_span_id) == (trace_id, attempt_span)
    assert unavailable.attributes["rpc.response.status_code"] == "UNAVAILABLE"
    assert unavailable.attributes["error.type"] == "UNAVAILABLE"
    assert unavailable.status == "ERROR"
    invalid = by_name["echo.v1.Echo/Write"]
    assert invalid.attributes["rpc.response.status_code"] == "INVALID_ARGUMENT"
    assert invalid.status == "UNSET"  # the caller's error, not the server's
    stream = by_name["echo.v1.Echo/ServerStream"]
    assert stream.parent_span_id == ""  # no traceparent: a trace of its own
    assert stream.attributes["rpc.response.status_code"] == "OK"


async def test_without_a_collector_the_servicer_is_not_wrapped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(variable, raising=False)
    assert EchoTracing.from_environment() is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert EchoTracing.from_environment() is None
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    tracing = EchoTracing.from_environment()
    assert tracing is not None
    try:
        servicer = EchoServicer()
        assert isinstance(tracing.wrap(servicer), TracedEchoServicer)
    finally:
        tracing.shutdown(1.0)


def test_traceparent_formats_agree_with_the_sdk_propagator() -> None:
    """What the echo tool's SDK propagator would send on is what we would parse back."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = TraceContextTextMapPropagator()
    context = propagator.extract({"traceparent": AGENT_TRACEPARENT.decode()})
    carrier: dict[str, str] = {}
    propagator.inject(carrier, context=context)
    parsed = parse_traceparent(carrier["traceparent"].encode())
    assert parsed is not None
    assert format_traceparent(parsed) == AGENT_TRACEPARENT
    assert trace.get_current_span(context).get_span_context().is_remote


async def test_one_trace_spans_agent_sidecar_attempts_and_tool(
    receiver: OtlpReceiver,
    traced_echo: tuple[echo_pb2_grpc.EchoStub, str, EchoTracing],
) -> None:
    """A call that needed one retry, driven through the tracing API as the relay will drive
    it, sending each attempt's traceparent to the real echo tool: both processes' spans
    reach the same collector and link up into one tree."""
    stub, address, _ = traced_echo
    sidecar = Tracing.from_environment(
        environ={
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_SERVICE_NAME": "toolmesh-sidecar",
            "OTEL_BSP_SCHEDULE_DELAY": "20",
        }
    )
    endpoint = parse_address(address)
    try:
        started = time.monotonic()
        call = sidecar.start_call("echo", "/echo.v1.Echo/Echo", AGENT_TRACEPARENT, started=started)
        assert call is not None
        for number, request in enumerate(
            (echo_pb2.EchoRequest(status_code=14), echo_pb2.EchoRequest(payload=b"ok")), start=1
        ):
            kind = ATTEMPT_FIRST if number == 1 else ATTEMPT_RETRY
            attempt = call.child_attempt(number, endpoint, kind, time.monotonic())
            metadata = (("traceparent", attempt.traceparent().decode()),)
            try:
                await stub.Echo(request, metadata=metadata)
            except grpc.aio.AioRpcError as error:
                attempt.end(error.code().value[0], time.monotonic(), failure=error.details() or "")
            else:
                attempt.end(0, time.monotonic())
        call.end(0, time.monotonic())
        assert await asyncio.to_thread(sidecar.flush, 2.0)
        spans = await receiver.wait_for(lambda spans: len(spans) >= 6, timeout_s=3)
    finally:
        await asyncio.to_thread(sidecar.shutdown, 2.0)

    assert {span.trace_id for span in spans} == {"4bf92f3577b34da6a3ce929d0e0e4736"}
    parent_of = {span.span_id: span.parent_span_id for span in spans}
    by_id = {span.span_id: span for span in spans}

    def lineage(span_id: str) -> list[str]:
        chain = []
        while span_id in by_id:
            span = by_id[span_id]
            chain.append(f"{span.service}:{span.kind}")
            span_id = parent_of[span_id]
        chain.append(f"agent:{span_id}")
        return chain

    tool_spans = [span for span in spans if span.service == "echo"]
    assert len(tool_spans) == 2
    for tool_span in tool_spans:
        assert lineage(tool_span.span_id) == [
            "echo:SERVER",
            "toolmesh-sidecar:CLIENT",  # the attempt
            "toolmesh-sidecar:CLIENT",  # the tool call
            "toolmesh-sidecar:SERVER",
            "agent:00f067aa0ba902b7",
        ]
    failed, succeeded = sorted(tool_spans, key=lambda span: span.start_ns)
    assert failed.status == "ERROR"
    assert succeeded.status == "UNSET"
    assert by_id[failed.parent_span_id].attributes["toolmesh.attempt.number"] == 1
    retry = by_id[succeeded.parent_span_id]
    assert retry.attributes["toolmesh.attempt.number"] == 2
    assert retry.attributes["toolmesh.retry.reason"] == "UNAVAILABLE"
