"""RegistryMetrics' interceptor on a real grpc.aio server: each RPC counted once, by status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mesh.telemetry.metrics import RegistryMetrics, metrics_registry

Context = grpc.aio.ServicerContext[Any, Any]


async def ok(request: bytes, context: Context) -> bytes:
    return request


async def refuse(request: bytes, context: Context) -> bytes:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad request")
    raise AssertionError("abort returned")


async def crash(request: bytes, context: Context) -> bytes:
    raise RuntimeError("bug")


async def stream(request: bytes, context: Context) -> AsyncIterator[bytes]:
    for _ in range(3):
        yield request
    if request == b"fail":
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too slow")


def unary(channel: grpc.aio.Channel, method: str) -> Any:
    """A bytes-in, bytes-out callable for `method` (no serializers: raw messages)."""
    return channel.unary_unary(method, None, None)


def server_stream(channel: grpc.aio.Channel, method: str) -> Any:
    return channel.unary_stream(method, None, None)


def requests(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    text = generate_latest(registry).decode()
    return {
        (sample.labels["rpc"], sample.labels["code"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "toolmesh_registry_requests_total"
    }


@pytest.fixture
async def served() -> AsyncIterator[tuple[grpc.aio.Channel, CollectorRegistry]]:
    registry = metrics_registry(process=False)
    metrics = RegistryMetrics(registry)
    server = grpc.aio.server(interceptors=[metrics.interceptor()])
    handlers = {
        "Ok": grpc.unary_unary_rpc_method_handler(ok),
        "Refuse": grpc.unary_unary_rpc_method_handler(refuse),
        "Crash": grpc.unary_unary_rpc_method_handler(crash),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.Svc", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel, registry
    finally:
        await channel.close(None)
        await server.stop(None)


async def test_unary_rpcs_are_counted_by_final_status(
    served: tuple[grpc.aio.Channel, CollectorRegistry],
) -> None:
    channel, registry = served
    assert await unary(channel, "/t.Svc/Ok")(b"x", timeout=5) == b"x"
    assert await unary(channel, "/t.Svc/Ok")(b"y", timeout=5) == b"y"
    for method, code in (
        ("Refuse", grpc.StatusCode.INVALID_ARGUMENT),
        ("Crash", grpc.StatusCode.UNKNOWN),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await unary(channel, f"/t.Svc/{method}")(b"x", timeout=5)
        assert raised.value.code() == code
    assert requests(registry) == {
        ("Ok", "OK"): 2,
        ("Refuse", "INVALID_ARGUMENT"): 1,
        ("Crash", "UNKNOWN"): 1,
    }


async def test_streams_are_counted_when_they_end(
    served: tuple[grpc.aio.Channel, CollectorRegistry],
) -> None:
    channel, registry = served
    received = [
        message async for message in server_stream(channel, "/t.Svc/Stream")(b"s", timeout=5)
    ]
    assert received == [b"s"] * 3
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for _ in server_stream(channel, "/t.Svc/Stream")(b"fail", timeout=5):
            pass
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert requests(registry) == {("Stream", "OK"): 1, ("Stream", "RESOURCE_EXHAUSTED"): 1}
