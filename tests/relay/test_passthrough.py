"""Everything a gRPC call carries passes through the relay unchanged."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from google.protobuf import wrappers_pb2

from tests.relay.conftest import Mesh
from tests.relay.probe import BIDI, CLIENT_STREAM, HANG, SERVER_STREAM, UNARY


def pack(data: bytes) -> bytes:
    return wrappers_pb2.BytesValue(value=data).SerializeToString()


def unpack(raw: bytes) -> bytes:
    return wrappers_pb2.BytesValue.FromString(raw).value


async def test_server_streaming(mesh: Mesh) -> None:
    call = mesh.channel.unary_stream(SERVER_STREAM)(
        pack(b""), metadata=(("x-count", "5"), ("x-size", "3")), timeout=5
    )
    messages = [unpack(m) async for m in call]
    assert messages == [bytes([i]) * 3 for i in range(5)]
    assert await call.code() == grpc.StatusCode.OK


async def test_client_streaming(mesh: Mesh) -> None:
    async def requests():  # type: ignore[no-untyped-def]
        for part in (b"a", b"b", b"c"):
            yield pack(part)

    raw = await mesh.channel.stream_unary(CLIENT_STREAM)(requests(), timeout=5)
    assert unpack(raw) == b"a|b|c"


async def test_bidi_streaming_interleaves(mesh: Mesh) -> None:
    call = mesh.channel.stream_stream(BIDI)(timeout=5)
    for word in (b"one", b"two", b"three"):
        await call.write(pack(word))
        assert unpack(await call.read()) == b"echo:" + word  # each reply before the next request
    await call.done_writing()
    assert await call.read() == grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK


async def test_metadata_and_trailers_pass_both_ways(mesh: Mesh) -> None:
    binary = bytes(range(256))
    metadata = (("x-text", "hello world; a=b, c"), ("x-blob-bin", binary), ("x-multi", "1"))
    call = mesh.channel.unary_unary(UNARY)(pack(b"m"), metadata=metadata, timeout=5)
    await call
    initial = dict(await call.initial_metadata())
    trailing = dict(await call.trailing_metadata())
    seen = dict(mesh.probe.state.metadata[-1])
    for md in (initial, trailing, seen):
        assert md["x-text"] == "hello world; a=b, c"
        assert md["x-blob-bin"] == binary


@pytest.mark.parametrize("code", [c for c in grpc.StatusCode if c is not grpc.StatusCode.OK])
async def test_every_status_code_and_unicode_message(mesh: Mesh, code: grpc.StatusCode) -> None:
    message = f"échec {code.name} — ツール 100%"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.channel.unary_unary(UNARY)(
            pack(b""),
            metadata=(("x-status", code.name), ("x-message-bin", message.encode())),
            timeout=5,
        )
    assert raised.value.code() == code
    if code is not grpc.StatusCode.UNKNOWN:
        assert raised.value.details() == message


async def test_upstream_deadline_is_no_later_than_the_agents(mesh: Mesh) -> None:
    """The tool's deadline ends no later than the one the agent put on the wire.

    A raw client sends `grpc-timeout: 3S` at a known instant (grpc's own clients round the
    value up by up to 10 ms, so they can't be the reference). The second call waits 300 ms in
    the sidecar for a concurrency slot; that wait must come off the tool's budget.
    """
    from sidecar.h2 import frames as f
    from tests.relay.probe import tool_state
    from tests.relay.rawh2 import RawClient, grpc_message, request_headers

    mesh.set_tools(
        tool_state(
            "probe", [mesh.probe_address], "concurrency_limit: {max_in_flight: 1, max_queue: 1}"
        )
    )
    mesh.probe.delay_s = 0.3
    client = await RawClient.connect(mesh.address)
    sent: dict[int, float] = {}
    for stream_id in (1, 3):
        sent[stream_id] = time.monotonic()
        headers = request_headers(UNARY, [(b"grpc-timeout", b"3S")])
        client.send(f.headers_frames(stream_id, client.block(headers), False, 16384))
        client.send(f.data_frame(stream_id, grpc_message(b""), end_stream=True))
    ended = 0
    while ended < 2:
        frames = await client.until(lambda fr: bool(fr.flags & f.FLAG_END_STREAM))
        ended += 1
        assert frames
    assert len(mesh.probe.state.deadlines) == 2
    for stream_id, tool_deadline in zip((1, 3), mesh.probe.state.deadlines, strict=True):
        assert tool_deadline is not None
        # Both clocks are this process's. The tolerance covers the loopback hops and grpc's
        # millisecond clock; without the correction the second call would be 300 ms late.
        assert sent[stream_id] + 2.0 < tool_deadline <= sent[stream_id] + 3.0 + 0.005
    client.close()


async def test_an_agent_without_deadline_gets_the_policys_total_timeout(mesh: Mesh) -> None:
    await mesh.channel.unary_unary(UNARY)(pack(b""))
    remaining = mesh.probe.state.time_remaining[-1]
    assert remaining is not None and 29.0 < remaining <= 30.0  # the default timeout: 30s


async def test_agent_cancellation_reaches_the_tool(mesh: Mesh) -> None:
    call = mesh.channel.unary_unary(HANG)(pack(b""), timeout=30)
    await _wait_for(lambda: mesh.probe.state.calls >= 1)
    call.cancel()
    await asyncio.wait_for(mesh.probe.state.cancelled.wait(), 5)
    await _wait_for(lambda: mesh.relay.active_calls == 0)


async def test_agent_deadline_reaches_the_tool(mesh: Mesh) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.channel.unary_unary(HANG)(pack(b""), timeout=0.3)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(mesh.probe.state.cancelled.wait(), 5)


async def test_gzip_both_ways(mesh: Mesh) -> None:
    payload = b"z" * 100_000
    raw = await mesh.channel.unary_unary(UNARY)(
        pack(payload), metadata=(("x-compress", "1"),), compression=grpc.Compression.Gzip, timeout=5
    )
    assert unpack(raw) == b"probe:" + payload
    seen = dict(mesh.probe.state.metadata[-1])
    assert seen.get("grpc-encoding", "gzip") == "gzip"


async def test_large_messages_pass_unchanged(mesh: Mesh) -> None:
    payload = bytes(range(256)) * (20 * 4096)  # 20 MiB
    raw = await mesh.channel.unary_unary(UNARY)(pack(payload), timeout=30)
    assert unpack(raw) == b"probe:" + payload
    raw = await mesh.channel.unary_unary(UNARY)(
        pack(b""), metadata=(("x-response-size", str(20 << 20)),), timeout=30
    )
    assert len(unpack(raw)) == 20 << 20


async def test_oversized_request_is_refused_with_a_clear_status(mesh: Mesh) -> None:
    mesh.relay.max_message_bytes = 1 << 20
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.channel.unary_unary(UNARY)(pack(b"x" * (2 << 20)), timeout=10)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "exceeds the limit of 1048576 bytes" in (raised.value.details() or "")
    # The connection still works.
    assert unpack(await mesh.channel.unary_unary(UNARY)(pack(b"ok"), timeout=5)) == b"probe:ok"


async def test_oversized_response_is_refused(mesh: Mesh) -> None:
    mesh.relay.max_message_bytes = 1 << 20
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.channel.unary_unary(UNARY)(
            pack(b""), metadata=(("x-response-size", str(2 << 20)),), timeout=10
        )
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "response from /probe.v1.Probe/Unary" in (raised.value.details() or "")


async def test_many_concurrent_calls(mesh: Mesh) -> None:
    unary = mesh.channel.unary_unary(UNARY)
    results = await asyncio.gather(*(unary(pack(str(i).encode()), timeout=10) for i in range(300)))
    assert [unpack(r) for r in results] == [b"probe:" + str(i).encode() for i in range(300)]
    await _wait_for(lambda: mesh.relay.active_calls == 0)


async def _wait_for(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    """Polls a condition that has no event to await, with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met within deadline")
        await asyncio.sleep(0.005)
