"""Spans of relayed calls, exported over OTLP/gRPC to a real receiver on 127.0.0.1.

Each test drives the tracing API the way the relay's callbacks do (start, attempts, end, with
monotonic timestamps) and checks what the collector received: the parent/child links of the
call tree, the semantic conventions' attributes and the span statuses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from opentelemetry.semconv._incubating.attributes import rpc_attributes
from opentelemetry.semconv.attributes import (
    client_attributes,
    error_attributes,
    network_attributes,
    server_attributes,
)

from mesh.addresses import Address
from mesh.telemetry import trace_encoding
from mesh.telemetry.trace_context import SpanContext, format_traceparent, parse_traceparent
from mesh.telemetry.tracing import (
    ATTEMPT_FALLBACK,
    ATTEMPT_FIRST,
    ATTEMPT_HEDGE,
    ATTEMPT_RETRY,
    BREAKER_ADMITTED,
    BREAKER_REJECTED,
    Tracing,
)
from tests.observability.otlp_receiver import OtlpReceiver, ReceivedSpan

METHOD = "/echo.v1.Echo/Echo"
AGENT = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, 0x01, b"vendor=opaque")
AGENT_PEER = ("127.0.0.1", 40100)
FIRST = Address("127.0.0.1", 7001)
SECOND = Address("127.0.0.1", 7002)


@pytest.fixture
async def receiver() -> AsyncIterator[OtlpReceiver]:
    async with OtlpReceiver() as running:
        yield running


def exporting(endpoint: str, **variables: str) -> Tracing:
    environ = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint,
        "OTEL_SERVICE_NAME": "sidecar-under-test",
        "OTEL_BSP_SCHEDULE_DELAY": "20",
        **variables,
    }
    tracing = Tracing.from_environment(environ=environ, service_version="0.1.0")
    assert tracing.enabled, tracing.off_reason
    tracing.listening_on(Address("127.0.0.1", 50051))
    return tracing


@pytest.fixture
async def tracing(receiver: OtlpReceiver) -> AsyncIterator[Tracing]:
    traced = exporting(receiver.endpoint)
    yield traced
    await asyncio.to_thread(traced.shutdown, 2.0)


async def exported(receiver: OtlpReceiver, tracing: Tracing, count: int) -> list[ReceivedSpan]:
    assert await asyncio.to_thread(tracing.flush, 2.0)
    return await receiver.wait_for(lambda spans: len(spans) >= count)


async def test_a_call_with_one_retry_exports_the_whole_tree(
    receiver: OtlpReceiver, tracing: Tracing
) -> None:
    now = time.monotonic()
    call = tracing.start_call(
        "echo", METHOD, format_traceparent(AGENT), AGENT.tracestate, AGENT_PEER, started=now
    )
    assert call is not None
    assert call.trace_id_hex == AGENT.trace_id_hex
    call.set_breaker(BREAKER_ADMITTED)
    first = call.child_attempt(1, FIRST, ATTEMPT_FIRST, now + 0.001)
    sent_first = parse_traceparent(first.traceparent())
    first.end(14, now + 0.002, failure="connection refused")
    second = call.child_attempt(2, SECOND, ATTEMPT_RETRY, now + 0.003)
    sent_second = parse_traceparent(second.traceparent())
    call.end(0, now + 0.005)
    assert sent_first is not None and sent_second is not None

    spans = await exported(receiver, tracing, 4)
    assert len(spans) == 4
    assert {span.trace_id for span in spans} == {AGENT.trace_id_hex}
    (server,) = [s for s in spans if s.kind == "SERVER"]
    (tool_call,) = [s for s in spans if s.kind == "CLIENT" and s.parent_span_id == server.span_id]
    attempts = sorted(
        (s for s in spans if s.parent_span_id == tool_call.span_id),
        key=lambda s: s.attributes["toolmesh.attempt.number"],  # type: ignore[arg-type,return-value]
    )
    # agent -> sidecar SERVER -> tool-call CLIENT -> one CLIENT span per attempt, and the
    # traceparent each attempt sends names its own span.
    assert server.parent_span_id == AGENT.span_id_hex
    assert server.parent_is_remote is True
    assert tool_call.parent_is_remote is False
    assert [a.span_id for a in attempts] == [sent_first.span_id_hex, sent_second.span_id_hex]
    assert {sent_first.trace_id, sent_second.trace_id} == {AGENT.trace_id}
    assert all(a.kind == "CLIENT" for a in attempts)
    assert {s.name for s in spans} == {"echo.v1.Echo/Echo"}
    assert {s.trace_state for s in spans} == {"vendor=opaque"}
    assert {s.service for s in spans} == {"sidecar-under-test"}
    assert spans[0].resource["service.version"] == "0.1.0"
    assert {s.scope for s in spans} == {"toolmesh"}

    assert server.attributes == {
        "rpc.system.name": "grpc",
        "rpc.method": "echo.v1.Echo/Echo",
        "rpc.system": "grpc",
        "rpc.service": "echo.v1.Echo",
        "toolmesh.tool": "echo",
        "server.address": "127.0.0.1",
        "server.port": 50051,
        "client.address": "127.0.0.1",
        "client.port": 40100,
        "network.peer.address": "127.0.0.1",
        "network.peer.port": 40100,
        "rpc.response.status_code": "OK",
        "rpc.grpc.status_code": 0,
        "toolmesh.attempts": 2,
    }
    assert server.status == "UNSET"
    assert tool_call.attributes["server.address"] == "echo"  # the tool: a group of instances
    assert tool_call.attributes["toolmesh.attempts"] == 2
    assert tool_call.attributes["toolmesh.breaker.decision"] == "admitted"
    assert tool_call.status == "UNSET"

    failed, succeeded = attempts
    assert failed.attributes["server.address"] == "127.0.0.1"
    assert failed.attributes["server.port"] == 7001
    assert failed.attributes["network.peer.port"] == 7001
    assert failed.attributes["rpc.response.status_code"] == "UNAVAILABLE"
    assert failed.attributes["error.type"] == "UNAVAILABLE"
    assert failed.attributes["toolmesh.attempt.kind"] == "first"
    assert "toolmesh.retry.reason" not in failed.attributes
    assert (failed.status, failed.status_message) == ("ERROR", "connection refused")
    assert succeeded.attributes["server.port"] == 7002
    assert succeeded.attributes["toolmesh.attempt.kind"] == "retry"
    assert succeeded.attributes["toolmesh.retry.reason"] == "UNAVAILABLE"
    assert succeeded.attributes["rpc.response.status_code"] == "OK"
    assert "error.type" not in succeeded.attributes
    assert succeeded.status == "UNSET"

    # Times: Unix nanoseconds, children inside their parents.
    assert abs(server.start_ns - time.time_ns()) < 60e9
    assert server.end_ns - server.start_ns == pytest.approx(5e6, abs=1e3)
    assert server.start_ns <= tool_call.start_ns <= failed.start_ns < failed.end_ns
    assert failed.end_ns <= succeeded.start_ns < succeeded.end_ns <= tool_call.end_ns


async def test_a_root_call_starts_its_own_trace(receiver: OtlpReceiver, tracing: Tracing) -> None:
    now = time.monotonic()
    call = tracing.start_call("echo", METHOD, None, started=now)
    assert call is not None
    attempt = call.child_attempt(1, FIRST, ATTEMPT_FIRST, now)
    sent = parse_traceparent(attempt.traceparent())
    call.end(0, now + 0.001)
    spans = await exported(receiver, tracing, 3)
    (server,) = [s for s in spans if s.kind == "SERVER"]
    assert server.parent_span_id == ""
    assert server.parent_is_remote is False
    assert "client.address" not in server.attributes  # no peer given
    assert sent is not None and sent.sampled
    assert {s.trace_id for s in spans} == {sent.trace_id_hex} == {call.trace_id_hex}


async def test_hedge_then_fallback_gets_a_second_tool_call_span(
    receiver: OtlpReceiver, tracing: Tracing
) -> None:
    now = time.monotonic()
    call = tracing.start_call("echo", METHOD, format_traceparent(AGENT), started=now)
    assert call is not None
    first = call.child_attempt(1, FIRST, ATTEMPT_FIRST, now)
    hedge = call.child_attempt(2, SECOND, ATTEMPT_HEDGE, now + 0.001)
    first.end(14, now + 0.002, failure="endpoint reset the stream")
    hedge.end(13, now + 0.003, failure="boom")
    call.fallback("echo-backup", "/echo.v1.Echo/Echo", now + 0.004)
    rescue = call.child_attempt(1, Address("127.0.0.1", 7003), ATTEMPT_FALLBACK, now + 0.004)
    call.end(0, now + 0.006)
    assert rescue.parent_id == call.tool_call.span_id

    spans = await exported(receiver, tracing, 6)
    (server,) = [s for s in spans if s.kind == "SERVER"]
    tool_calls = [s for s in spans if s.parent_span_id == server.span_id]
    primary = next(s for s in tool_calls if s.attributes["toolmesh.tool"] == "echo")
    backup = next(s for s in tool_calls if s.attributes["toolmesh.tool"] == "echo-backup")
    assert server.attributes["toolmesh.fallback.to"] == "echo-backup"
    assert server.attributes["toolmesh.attempts"] == 3
    assert primary.attributes["toolmesh.fallback.to"] == "echo-backup"
    assert primary.attributes["toolmesh.hedges"] == 1
    assert primary.attributes["toolmesh.attempts"] == 2
    assert primary.status == "ERROR"
    assert primary.attributes["rpc.response.status_code"] == "UNAVAILABLE"
    assert backup.attributes["toolmesh.fallback.of"] == "echo"
    assert backup.attributes["server.address"] == "echo-backup"
    assert backup.status == "UNSET"
    under_primary = [s for s in spans if s.parent_span_id == primary.span_id]
    assert sorted(s.attributes["toolmesh.attempt.kind"] for s in under_primary) == [  # type: ignore[type-var]
        "first",
        "hedge",
    ]
    (hedge_span,) = [s for s in under_primary if s.attributes["toolmesh.attempt.kind"] == "hedge"]
    assert hedge_span.attributes["toolmesh.retry.reason"] == "hedge_delay"
    (rescued,) = [s for s in spans if s.parent_span_id == backup.span_id]
    assert rescued.attributes["toolmesh.tool"] == "echo-backup"
    assert rescued.attributes["server.port"] == 7003
    assert rescued.attributes["toolmesh.attempt.kind"] == "fallback"
    assert "toolmesh.retry.reason" not in rescued.attributes
    assert rescued.end_ns <= backup.end_ns


async def test_a_refused_call_has_no_attempts_and_says_why(
    receiver: OtlpReceiver, tracing: Tracing
) -> None:
    now = time.monotonic()
    call = tracing.start_call("echo", METHOD, None, started=now)
    assert call is not None
    call.set_breaker(BREAKER_REJECTED)
    call.refused("CIRCUIT_OPEN")
    call.end(14, now + 0.0001, message="circuit for tool 'echo' is open")
    spans = await exported(receiver, tracing, 2)
    server, tool_call = sorted(spans, key=lambda s: s.kind != "SERVER")
    assert tool_call.attributes["toolmesh.refusal"] == "CIRCUIT_OPEN"
    assert tool_call.attributes["toolmesh.breaker.decision"] == "rejected"
    assert tool_call.attributes["toolmesh.attempts"] == 0
    assert (tool_call.status, tool_call.status_message) == (
        "ERROR",
        "circuit for tool 'echo' is open",
    )
    assert server.status == "ERROR"  # UNAVAILABLE is a server error too


async def test_server_spans_leave_caller_errors_unset(
    receiver: OtlpReceiver, tracing: Tracing
) -> None:
    now = time.monotonic()
    call = tracing.start_call("echo", METHOD, None, started=now)
    assert call is not None
    call.child_attempt(1, FIRST, ATTEMPT_FIRST, now)
    call.end(3, now + 0.001, message="bad request")  # INVALID_ARGUMENT: the caller's error
    spans = await exported(receiver, tracing, 3)
    server = next(s for s in spans if s.kind == "SERVER")
    clients = [s for s in spans if s.kind == "CLIENT"]
    assert server.status == "UNSET"
    assert "error.type" not in server.attributes
    assert server.attributes["rpc.response.status_code"] == "INVALID_ARGUMENT"
    assert {(s.status, s.attributes["error.type"]) for s in clients} == {
        ("ERROR", "INVALID_ARGUMENT")
    }


async def test_the_stable_conventions_alone_when_opted_in(receiver: OtlpReceiver) -> None:
    tracing = exporting(receiver.endpoint, OTEL_SEMCONV_STABILITY_OPT_IN="rpc")
    try:
        now = time.monotonic()
        call = tracing.start_call("echo", METHOD, None, started=now)
        assert call is not None
        call.end(0, now)
        spans = await exported(receiver, tracing, 2)
    finally:
        await asyncio.to_thread(tracing.shutdown, 2.0)
    for span in spans:
        assert span.attributes["rpc.system.name"] == "grpc"
        assert not {"rpc.system", "rpc.service", "rpc.grpc.status_code"} & set(span.attributes)


def test_attribute_names_are_those_of_the_semantic_conventions_package() -> None:
    """The names written by hand match the installed conventions (v1.44.0)."""
    assert trace_encoding.SCHEMA_URL.endswith("/1.44.0")
    assert {
        rpc_attributes.RPC_SYSTEM_NAME,
        rpc_attributes.RPC_METHOD,
        rpc_attributes.RPC_RESPONSE_STATUS_CODE,
        server_attributes.SERVER_ADDRESS,
        server_attributes.SERVER_PORT,
        client_attributes.CLIENT_ADDRESS,
        client_attributes.CLIENT_PORT,
        network_attributes.NETWORK_PEER_ADDRESS,
        network_attributes.NETWORK_PEER_PORT,
        error_attributes.ERROR_TYPE,
    } == {
        "rpc.system.name",
        "rpc.method",
        "rpc.response.status_code",
        "server.address",
        "server.port",
        "client.address",
        "client.port",
        "network.peer.address",
        "network.peer.port",
        "error.type",
    }
    # The legacy names we also emit are the deprecated ones, still defined.
    assert (
        rpc_attributes.RPC_SYSTEM,
        rpc_attributes.RPC_SERVICE,
        rpc_attributes.RPC_GRPC_STATUS_CODE,
    ) == ("rpc.system", "rpc.service", "rpc.grpc.status_code")
