"""Through the real relay: a collector that is down or hangs costs calls nothing."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import wrappers_pb2

from mesh.telemetry.tracing import Tracing
from sidecar.catalog import Catalog, CatalogHolder
from sidecar.relay.relay import Relay
from tests.observability.otlp_receiver import OtlpReceiver
from tests.relay.probe import CHANNEL_OPTIONS, UNARY, start_probe, tool_state

CALLS = 150


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def latencies(tracing: Tracing, probe_address: str) -> list[float]:
    """`CALLS` sequential calls through a relay using `tracing`; each one's seconds."""
    holder = CatalogHolder(
        Catalog.build([tool_state("probe", [probe_address])], version=1, store_id="t")
    )
    relay = Relay(holder, tracing=tracing)
    host, port = await relay.start("127.0.0.1", 0)
    channel = grpc.aio.insecure_channel(f"{host}:{port}", options=CHANNEL_OPTIONS)
    request = wrappers_pb2.BytesValue(value=b"x").SerializeToString()
    unary = channel.unary_unary(UNARY)
    metadata = (("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),)
    measured = []
    try:
        await unary(request, timeout=5)  # connections up before measuring
        for _ in range(CALLS):
            started = time.perf_counter()
            await unary(request, metadata=metadata, timeout=5)
            measured.append(time.perf_counter() - started)
    finally:
        await channel.close()
        await relay.shutdown(0.5)
    return measured


@pytest.fixture
async def probe_address() -> AsyncIterator[str]:
    server, address, _ = await start_probe()
    try:
        yield address
    finally:
        await server.stop(None)


@pytest.mark.parametrize("collector", ["down", "hanging"])
async def test_calls_keep_their_latency_when_the_collector_is_down_or_hangs(
    collector: str, probe_address: str
) -> None:
    baseline = await latencies(Tracing.off(), probe_address)
    receiver = OtlpReceiver(hang=True)
    endpoint = closed_port()
    if collector == "hanging":
        await receiver.start()
        endpoint = receiver.endpoint
    tracing = Tracing.from_environment(
        environ={
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_TRACES_SAMPLER": "always_on",
            "OTEL_BSP_SCHEDULE_DELAY": "10",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "30",
        }
    )
    assert tracing.enabled
    try:
        traced = await latencies(tracing, probe_address)
    finally:
        started = time.monotonic()
        tracing.shutdown(1.0)
        assert time.monotonic() - started < 5, "shutdown waited on the collector"
        await receiver.stop()
    assert max(traced) < 0.2, f"a call took {max(traced):.3f}s: something blocked"
    assert statistics.median(traced) < 2 * statistics.median(baseline) + 0.002
