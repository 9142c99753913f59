"""The relay's HTTP/2 handling, frame by frame, with hand-written peers."""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf import wrappers_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.h2 import frames as f
from sidecar.h2.errors import ConnectionError_, ErrorCode
from sidecar.h2.settings import INITIAL_WINDOW_SIZE, MAX_CONCURRENT_STREAMS, LocalSettings
from tests.relay.conftest import Mesh
from tests.relay.probe import HANG, SERVER_STREAM, UNARY
from tests.relay.rawh2 import RawClient, grpc_message, request_headers


def is_end(frame: f.Frame) -> bool:
    return bool(frame.flags & f.FLAG_END_STREAM) or frame.type == f.RST_STREAM


async def assert_relay_still_serves(mesh: Mesh) -> None:
    raw = await mesh.channel.unary_unary(UNARY)(
        wrappers_pb2.BytesValue(value=b"ok").SerializeToString(), timeout=5
    )
    assert wrappers_pb2.BytesValue.FromString(raw).value == b"probe:ok"


def goaway_code(frames: list[f.Frame]) -> int | None:
    for frame in frames:
        if frame.type == f.GOAWAY:
            return f.parse_goaway(frame.payload)[1]
    return None


async def test_header_block_split_over_continuation_frames(mesh: Mesh) -> None:
    client = await RawClient.connect(mesh.address)
    block = client.block(request_headers(UNARY, [(b"x-pad", b"p" * 300)]))
    third = len(block) // 3
    client.send(f.frame_header(third, f.HEADERS, 0, 1) + block[:third])
    client.send(f.frame_header(third, f.CONTINUATION, 0, 1) + block[third : 2 * third])
    rest = block[2 * third :]
    client.send(f.frame_header(len(rest), f.CONTINUATION, f.FLAG_END_HEADERS, 1) + rest)
    client.send(f.data_frame(1, grpc_message(b"split"), end_stream=True))
    frames = await client.until(is_end)
    trailers = client.decode(frames[-1]) if frames[-1].type == f.HEADERS else {}
    data = b"".join(fr.payload for fr in frames if fr.type == f.DATA)
    assert b"probe:split" in data
    assert trailers.get(b"grpc-status") == b"0"
    client.close()


async def test_padded_headers_and_data(mesh: Mesh) -> None:
    client = await RawClient.connect(mesh.address)
    block = client.block(request_headers(UNARY))
    padded_block = bytes([7]) + block + b"\0" * 7
    client.send(
        f.frame_header(len(padded_block), f.HEADERS, f.FLAG_END_HEADERS | f.FLAG_PADDED, 1)
        + padded_block
    )
    body = grpc_message(b"padded")
    padded_body = bytes([200]) + body + b"\0" * 200
    client.send(
        f.frame_header(len(padded_body), f.DATA, f.FLAG_END_STREAM | f.FLAG_PADDED, 1) + padded_body
    )
    frames = await client.until(is_end)
    assert b"probe:padded" in b"".join(fr.payload for fr in frames if fr.type == f.DATA)
    client.close()


async def test_ping_is_answered(mesh: Mesh) -> None:
    client = await RawClient.connect(mesh.address)
    client.send(f.ping_frame(b"12345678"))
    frames = await client.until(lambda fr: fr.type == f.PING)
    assert frames[-1].flags & f.FLAG_ACK and frames[-1].payload == b"12345678"
    client.close()


async def test_malformed_frame_is_a_connection_error_not_a_crash(mesh: Mesh) -> None:
    client = await RawClient.connect(mesh.address)
    client.send(f.rst_stream_frame(0, ErrorCode.CANCEL))  # RST_STREAM on stream 0
    assert goaway_code(await client.closed()) == ErrorCode.PROTOCOL_ERROR
    await assert_relay_still_serves(mesh)


async def test_invalid_preface_closes_the_connection(mesh: Mesh) -> None:
    host, port = mesh.address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 5)
    frames = list(f.FrameParser(1 << 20).feed(data))
    assert goaway_code(frames) == ErrorCode.PROTOCOL_ERROR
    writer.close()
    await assert_relay_still_serves(mesh)


async def test_oversized_frame_is_a_frame_size_error(mesh: Mesh) -> None:
    client = await RawClient.connect(mesh.address)
    client.send(f.frame_header(20_000, f.DATA, 0, 1) + b"x" * 20_000)
    assert goaway_code(await client.closed()) == ErrorCode.FRAME_SIZE_ERROR


async def test_data_on_idle_stream_is_a_protocol_error(mesh: Mesh) -> None:
    client = await RawClient.connect(mesh.address)
    client.send(f.data_frame(5, b"hello"))
    assert goaway_code(await client.closed()) == ErrorCode.PROTOCOL_ERROR


async def test_continuation_flood_is_refused(mesh: Mesh) -> None:
    client = await RawClient.connect(mesh.address)
    client.send(f.frame_header(1, f.HEADERS, 0, 1) + b"\x82")
    for _ in range(200):  # 200 x 16 KiB of never-ending header block
        client.send(f.frame_header(16384, f.CONTINUATION, 0, 1) + b"\x00" * 16384)
    assert goaway_code(await client.closed()) == ErrorCode.ENHANCE_YOUR_CALM
    await assert_relay_still_serves(mesh)


async def test_malformed_hpack_is_a_compression_error(mesh: Mesh) -> None:
    client = await RawClient.connect(mesh.address)
    client.send(f.frame_header(2, f.HEADERS, f.FLAG_END_HEADERS, 1) + b"\xff\xff")  # index overflow
    assert goaway_code(await client.closed()) == ErrorCode.COMPRESSION_ERROR


async def test_rapid_reset_is_cut_off(mesh: Mesh) -> None:
    client = await RawClient.connect(mesh.address)
    stream_id = 1
    for _ in range(1000):
        client.send(f.headers_frames(stream_id, client.block(request_headers(HANG)), False, 16384))
        client.send(f.rst_stream_frame(stream_id, ErrorCode.CANCEL))
        stream_id += 2
    assert goaway_code(await client.closed(timeout=10)) == ErrorCode.ENHANCE_YOUR_CALM
    await assert_relay_still_serves(mesh)


async def test_agent_max_concurrent_streams_refuses_extra_streams(mesh: Mesh) -> None:
    mesh.relay.agent_settings = LocalSettings(max_concurrent_streams=2)
    client = await RawClient.connect(mesh.address)
    for stream_id in (1, 3, 5):
        client.send(f.headers_frames(stream_id, client.block(request_headers(HANG)), False, 16384))
    frames = await client.until(lambda fr: fr.type == f.RST_STREAM)
    assert frames[-1].stream_id == 5
    assert f.parse_u32(frames[-1].payload) == ErrorCode.REFUSED_STREAM
    assert client.peer_settings.get(MAX_CONCURRENT_STREAMS) == 2
    client.close()


async def test_endpoint_max_concurrent_streams_queues_calls(mesh: Mesh) -> None:
    from tests.relay.probe import CHANNEL_OPTIONS, Probe, tool_state

    probe = Probe("limited")
    server = grpc.aio.server(options=[*CHANNEL_OPTIONS, ("grpc.max_concurrent_streams", 2)])
    server.add_generic_rpc_handlers((probe.handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        mesh.relay.upstream_connections = 1
        mesh.set_tools(tool_state("probe", [f"127.0.0.1:{port}"]))
        unary = mesh.channel.unary_unary(UNARY)
        payloads = [
            wrappers_pb2.BytesValue(value=str(i).encode()).SerializeToString() for i in range(40)
        ]
        results = await asyncio.gather(*(unary(p, timeout=10) for p in payloads))
        assert len(results) == 40 and probe.state.calls == 40
    finally:
        await server.stop(None)


async def test_slow_reader_stays_within_flow_control_windows(mesh: Mesh) -> None:
    """A reader that grants no window: the relay holds at most its advertised windows."""
    client = await RawClient.connect(mesh.address, {INITIAL_WINDOW_SIZE: 65_535})
    extra = [(b"x-count", b"300"), (b"x-size", b"65536")]  # ~19 MiB in total
    client.send(
        f.headers_frames(1, client.block(request_headers(SERVER_STREAM, extra)), False, 16384)
    )
    client.send(f.data_frame(1, grpc_message(b""), end_stream=True))
    received = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.0
    while received < 65_535:
        frame = await client.next(timeout=max(0.01, deadline - loop.time()))
        assert frame is not None
        if frame.type == f.DATA:
            received += len(frame.payload)
    assert received == 65_535  # exactly the window the reader granted, not a byte more
    # The tool is stopped by the relay's own window towards it: at most about the stream
    # window (1 MiB) plus what the tool's HTTP/2 stack buffers, far from the 19 MiB.
    await asyncio.sleep(0)  # let the loop deliver what is already in the sockets
    buffered = sum(s.pending_bytes for a in mesh.relay.agents for s in a.streams.values())
    assert buffered <= mesh.relay.endpoint_settings.stream_window
    assert mesh.probe.state.sent < 60
    # Now read everything: the whole stream arrives intact.
    total = received
    client.send(f.window_update_frame(0, 2**30))
    client.send(f.window_update_frame(1, 2**30))
    while True:
        frame = await client.next(timeout=10)
        assert frame is not None
        if frame.type == f.DATA:
            total += len(frame.payload)
        if frame.type == f.HEADERS and frame.flags & f.FLAG_END_STREAM:
            break
    assert total == 300 * (65536 + 5 + 4)  # each message: prefix + BytesValue tag/length + body
    client.close()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(min_value=1, max_value=50))
def test_parser_yields_frames_or_a_protocol_error(data: bytes, split: int) -> None:
    parser = f.FrameParser()
    try:
        for start in range(0, len(data), split):
            for frame in parser.feed(data[start : start + split]):
                assert 0 <= frame.stream_id <= f.MAX_STREAM_ID
                assert len(frame.payload) <= frame.flow_length
    except ConnectionError_ as error:
        assert isinstance(error.code, ErrorCode)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 9), st.integers(0, 255), st.integers(0, 7), st.binary(max_size=40)
        ),
        max_size=8,
    )
)
def test_well_formed_frames_round_trip(items: list[tuple[int, int, int, bytes]]) -> None:
    wire = b"".join(f.frame_header(len(p), t, fl, s) + p for t, fl, s, p in items)
    parser = f.FrameParser()
    try:
        parsed = list(parser.feed(wire))
    except ConnectionError_:
        return  # a frame that breaks a frame-layer rule; the property is "no other exception"
    assert [(fr.type, fr.stream_id) for fr in parsed] == [(t, s) for t, _, s, _ in items]


async def test_reader_with_open_window_but_a_full_socket_is_not_buffered_without_bound(
    mesh: Mesh,
) -> None:
    """An agent that grants a huge window and then stops reading its socket: the sidecar
    stops writing when its transport buffer is full, and so stops crediting the tool."""
    import socket as socket_module

    host, port = mesh.address.rsplit(":", 1)
    sock = socket_module.socket()
    sock.setsockopt(socket_module.SOL_SOCKET, socket_module.SO_RCVBUF, 64 << 10)
    sock.connect((host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock)
    client = RawClient(reader, writer)
    client.send(f.PREFACE + f.settings_frame({INITIAL_WINDOW_SIZE: f.MAX_WINDOW}))
    client.send(f.window_update_frame(0, f.MAX_WINDOW - 65_535))
    extra = [(b"x-count", b"600"), (b"x-size", b"65536")]  # ~39 MiB
    client.send(
        f.headers_frames(1, client.block(request_headers(SERVER_STREAM, extra)), False, 16384)
    )
    client.send(f.data_frame(1, grpc_message(b""), end_stream=True))
    await writer.drain()
    # Let the tool run on until it stalls (or sends all). Nothing to await: polled, bounded.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    sent = -1
    while sent != mesh.probe.state.sent and loop.time() < deadline:
        sent = mesh.probe.state.sent
        await asyncio.sleep(0.25)
    agent = next(iter(mesh.relay.agents))
    assert agent.transport is not None
    buffered = agent.transport.get_write_buffer_size() + sum(
        s.pending_bytes for s in agent.streams.values()
    )
    assert buffered < 4 << 20
    assert mesh.probe.state.sent < 300  # far from the 600 messages the tool wants to send
    writer.close()
