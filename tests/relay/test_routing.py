"""Routing: which endpoint gets a call, and what the agent hears when none can take it."""

from __future__ import annotations

import asyncio
import socket

import grpc
import pytest
from google.protobuf import wrappers_pb2

from sidecar.h2 import frames as f
from sidecar.h2.errors import ErrorCode
from tests.relay.conftest import Mesh
from tests.relay.probe import CHANNEL_OPTIONS, SERVER_STREAM, UNARY, Probe, start_probe, tool_state
from tests.relay.rawh2 import RawEndpoint
from tests.relay.test_passthrough import _wait_for


def pack(data: bytes) -> bytes:
    return wrappers_pb2.BytesValue(value=data).SerializeToString()


def unpack(raw: bytes) -> bytes:
    return wrappers_pb2.BytesValue.FromString(raw).value


def dead_address() -> str:
    """A loopback port with nothing listening (bound, noted, closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


async def call_error(mesh: Mesh, path: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.channel.unary_unary(path)(pack(b""), timeout=5)
    return raised.value


async def test_unknown_service_names_it_and_how_to_list_tools(mesh: Mesh) -> None:
    error = await call_error(mesh, "/nope.v1.Missing/Do")
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "service nope.v1.Missing is not registered" in (error.details() or "")
    assert f"toolmesh tools --sidecar {mesh.relay.listen_hint or 'SIDECAR'}" in (
        error.details() or ""
    )


async def test_unknown_method_of_a_known_service(mesh: Mesh) -> None:
    error = await call_error(mesh, "/probe.v1.Probe/Nope")
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "tool 'probe' serves probe.v1.Probe but not this method" in (error.details() or "")


async def test_tool_without_endpoints_is_unavailable_naming_the_tool(mesh: Mesh) -> None:
    mesh.set_tools(tool_state("probe", []))
    error = await call_error(mesh, UNARY)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "tool 'probe' has no healthy endpoint" in (error.details() or "")
    assert "no registered or live endpoint" in (error.details() or "")


async def test_unreachable_endpoint_is_skipped(mesh: Mesh) -> None:
    mesh.set_tools(tool_state("probe", [dead_address(), mesh.probe_address]))
    unary = mesh.channel.unary_unary(UNARY)
    results = [unpack(await unary(pack(b"x"), timeout=5)) for _ in range(6)]
    assert results == [b"probe:x"] * 6


async def test_all_endpoints_unreachable_is_unavailable(mesh: Mesh) -> None:
    first, second = dead_address(), dead_address()
    mesh.set_tools(tool_state("probe", [first, second]))
    error = await call_error(mesh, UNARY)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    details = error.details() or ""
    assert "tool 'probe' has no healthy endpoint for method /probe.v1.Probe/Unary" in details
    from tests.relay.test_resilience import error_info

    info = error_info(error)
    assert info is not None and info.reason == "NO_HEALTHY_ENDPOINT"
    assert info.metadata["tool"] == "probe"
    assert first in details and second in details


async def test_round_robin_over_endpoints() -> None:
    from sidecar.catalog import Catalog, CatalogHolder
    from sidecar.relay.relay import Relay

    servers = [await start_probe(label) for label in ("a", "b", "c")]
    state = tool_state("probe", [s[1] for s in servers], "load_balancing: round_robin")
    holder = CatalogHolder(Catalog.build([state], version=1, store_id="t"))
    relay = Relay(holder)
    host, port = await relay.start("127.0.0.1", 0)
    channel = grpc.aio.insecure_channel(f"{host}:{port}", options=CHANNEL_OPTIONS)
    try:
        unary = channel.unary_unary(UNARY)
        for _ in range(30):
            await unary(pack(b""), timeout=5)
        assert [s[2].state.calls for s in servers] == [10, 10, 10]
    finally:
        await channel.close()
        await relay.shutdown(0.5)
        for server, _, _ in servers:
            await server.stop(None)


async def test_deregistered_tool_is_gone_on_the_next_call(mesh: Mesh) -> None:
    assert unpack(await mesh.channel.unary_unary(UNARY)(pack(b"1"), timeout=5)) == b"probe:1"
    mesh.set_tools()
    error = await call_error(mesh, UNARY)
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_endpoint_goaway_lets_calls_finish_and_moves_new_ones() -> None:
    """grpc's max_connection_age makes the endpoint send GOAWAY while a stream is open."""
    from sidecar.catalog import Catalog, CatalogHolder
    from sidecar.relay.relay import Relay

    probe = Probe("aging")
    server = grpc.aio.server(
        options=[
            *CHANNEL_OPTIONS,
            ("grpc.max_connection_age_ms", 300),
            ("grpc.max_connection_age_grace_ms", 10_000),
        ]
    )
    server.add_generic_rpc_handlers((probe.handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    holder = CatalogHolder(
        Catalog.build([tool_state("probe", [f"127.0.0.1:{port}"])], version=1, store_id="t")
    )
    relay = Relay(holder, upstream_connections=1)
    host, relay_port = await relay.start("127.0.0.1", 0)
    channel = grpc.aio.insecure_channel(f"{host}:{relay_port}", options=CHANNEL_OPTIONS)
    try:
        stream = channel.unary_stream(SERVER_STREAM)(
            pack(b""), metadata=(("x-count", "2"), ("x-gated", "1")), timeout=20
        )
        probe.state.gate.set()
        first = await stream.read()
        assert first is not grpc.aio.EOF
        pool = relay.pools[next(iter(relay.pools))]
        old = pool.connections[0]
        await _wait_for(lambda: old.draining, timeout=5)
        # A new call goes to a new connection while the old one still carries the stream.
        assert unpack(await channel.unary_unary(UNARY)(pack(b"new"), timeout=5)) == b"aging:new"
        assert any(c is not old for c in pool.connections)
        probe.state.gate.set()
        assert await stream.read() is not grpc.aio.EOF
        assert await stream.read() is grpc.aio.EOF
        assert await stream.code() == grpc.StatusCode.OK
    finally:
        await channel.close()
        await relay.shutdown(0.5)
        await server.stop(None)


async def test_refused_stream_is_sent_again_elsewhere(mesh: Mesh) -> None:
    async def refuse(
        endpoint: RawEndpoint, stream_id: int, headers: list[tuple[bytes, bytes]]
    ) -> None:
        endpoint.send(f.rst_stream_frame(stream_id, ErrorCode.REFUSED_STREAM))

    refuser = RawEndpoint(refuse)
    address = await refuser.start()
    try:
        mesh.set_tools(
            tool_state("probe", [address, mesh.probe_address], "load_balancing: round_robin")
        )
        unary = mesh.channel.unary_unary(UNARY)
        results = [unpack(await unary(pack(b"r"), timeout=5)) for _ in range(4)]
        assert results == [b"probe:r"] * 4
        assert refuser.streams  # the refusing endpoint was tried
    finally:
        await refuser.stop()


async def test_endpoint_reset_reaches_the_agent(mesh: Mesh) -> None:
    async def reset(
        endpoint: RawEndpoint, stream_id: int, headers: list[tuple[bytes, bytes]]
    ) -> None:
        endpoint.send(f.rst_stream_frame(stream_id, ErrorCode.INTERNAL_ERROR))

    resetter = RawEndpoint(reset)
    address = await resetter.start()
    try:
        mesh.set_tools(tool_state("probe", [address]))
        error = await call_error(mesh, UNARY)
        assert error.code() == grpc.StatusCode.INTERNAL
        await _wait_for(lambda: mesh.relay.active_calls == 0)
    finally:
        await resetter.stop()


async def test_endpoint_dying_mid_call_is_unavailable(mesh: Mesh) -> None:
    async def die(
        endpoint: RawEndpoint, stream_id: int, headers: list[tuple[bytes, bytes]]
    ) -> None:
        assert endpoint.writer is not None
        endpoint.writer.transport.abort()

    dying = RawEndpoint(die)
    address = await dying.start()
    try:
        mesh.set_tools(tool_state("probe", [address]))
        error = await call_error(mesh, UNARY)
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert "connection to" in (error.details() or "") and "lost" in (error.details() or "")
    finally:
        await dying.stop()


async def test_graceful_shutdown_lets_calls_in_flight_finish(mesh: Mesh) -> None:
    stream = mesh.channel.unary_stream(SERVER_STREAM)(
        pack(b""), metadata=(("x-count", "2"), ("x-gated", "1")), timeout=20
    )
    mesh.probe.state.gate.set()
    assert await stream.read() is not grpc.aio.EOF
    shutdown = asyncio.ensure_future(mesh.relay.shutdown(10))
    await _wait_for(lambda: mesh.relay.shutting_down)
    assert not shutdown.done()
    mesh.probe.state.gate.set()
    assert await stream.read() is not grpc.aio.EOF
    assert await stream.read() is grpc.aio.EOF
    assert await stream.code() == grpc.StatusCode.OK
    assert await asyncio.wait_for(shutdown, 5) is True
