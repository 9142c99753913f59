"""One trace through the real relay: agent -> sidecar call -> tool call -> attempts -> tool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import descriptor_pb2

from examples.tools import echo
from examples.tools.echo.instance import InstanceFaults
from examples.tools.echo.tracing import EchoTracing
from examples.tools.gen.echo.v1 import echo_pb2, echo_pb2_grpc
from mesh.api.v1 import registry_pb2
from mesh.config import load_policy_yaml
from mesh.telemetry.tracing import Tracing
from sidecar.catalog import Catalog, CatalogHolder
from sidecar.relay.relay import Relay
from tests.observability.otlp_receiver import OtlpReceiver

AGENT_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def echo_files() -> descriptor_pb2.FileDescriptorSet:
    files = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()

    def add(file: object) -> None:
        if file.name in seen:  # type: ignore[attr-defined]
            return
        for dependency in file.dependencies:  # type: ignore[attr-defined]
            add(dependency)
        seen.add(file.name)  # type: ignore[attr-defined]
        file.CopyToProto(files.file.add())  # type: ignore[attr-defined]

    add(echo_pb2.DESCRIPTOR)
    return files


@pytest.fixture
async def receiver() -> AsyncIterator[OtlpReceiver]:
    async with OtlpReceiver() as running:
        yield running


async def test_a_retried_call_is_one_trace_from_agent_to_tool(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
    tracing_a = EchoTracing.from_environment(instance="echo-a")
    tracing_b = EchoTracing.from_environment(instance="echo-b")
    failing, failing_address = await echo.start(
        instance="a", faults=InstanceFaults(fail_rate=1.0), tracing=tracing_a
    )
    sound, sound_address = await echo.start(instance="b", tracing=tracing_b)
    tool = registry_pb2.Tool(name="echo", descriptors=echo_files())
    for address in (failing_address, sound_address):
        tool.endpoints.add(address=address)
    tool.policy.CopyFrom(
        load_policy_yaml(
            "load_balancing: round_robin\nretry: {initial_backoff: 1ms}\n"
            "outlier_detection: {enabled: false}",
            where="test",
        )
    )
    holder = CatalogHolder(
        Catalog.build([registry_pb2.ToolState(tool=tool)], version=1, store_id="t")
    )
    sidecar_tracing = Tracing.from_environment(
        environ={
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_SERVICE_NAME": "toolmesh-sidecar",
            "OTEL_BSP_SCHEDULE_DELAY": "20",
        }
    )
    relay = Relay(holder, tracing=sidecar_tracing)
    host, port = await relay.start("127.0.0.1", 0)
    channel = grpc.aio.insecure_channel(f"{host}:{port}")
    try:
        stub = echo_pb2_grpc.EchoStub(channel)  # type: ignore[no-untyped-call]
        metadata = (("traceparent", AGENT_TRACEPARENT),)
        answers = [
            await stub.Echo(echo_pb2.EchoRequest(payload=b"x"), metadata=metadata, timeout=5)
            for _ in range(2)
        ]
        assert all(answer.instance == "b" for answer in answers)
        await asyncio.to_thread(sidecar_tracing.flush, 2.0)
        spans = await receiver.wait_for(
            lambda spans: (
                sum(s.service == "echo" for s in spans) >= 3
                and sum(s.service == "toolmesh-sidecar" for s in spans) >= 7
            ),
            timeout_s=5,
        )
    finally:
        await channel.close()
        await relay.shutdown(0.5)
        await asyncio.to_thread(sidecar_tracing.shutdown, 2.0)
        await failing.stop(None)
        await sound.stop(None)

    assert {span.trace_id for span in spans} == {"4bf92f3577b34da6a3ce929d0e0e4736"}
    by_id = {span.span_id: span for span in spans}

    def lineage(span_id: str) -> list[str]:
        chain = []
        while span_id in by_id:
            span = by_id[span_id]
            chain.append(f"{span.service}:{span.kind}")
            span_id = span.parent_span_id
        chain.append(f"agent:{span_id}")
        return chain

    tool_spans = [span for span in spans if span.service == "echo"]
    for tool_span in tool_spans:
        assert lineage(tool_span.span_id) == [
            "echo:SERVER",
            "toolmesh-sidecar:CLIENT",  # the attempt
            "toolmesh-sidecar:CLIENT",  # the tool call
            "toolmesh-sidecar:SERVER",  # the call the agent made
            "agent:00f067aa0ba902b7",
        ]
    retries = [
        by_id[span.parent_span_id]
        for span in tool_spans
        if by_id[span.parent_span_id].attributes.get("toolmesh.attempt.number") == 2
    ]
    assert retries and retries[0].attributes["toolmesh.retry.reason"] == "UNAVAILABLE"
