"""The echo tool over real gRPC: every steering field, metadata echo, deadlines, streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import cast

import grpc
import pytest
from google.protobuf import descriptor_pb2

from examples.tools.echo import EchoServicer, start
from examples.tools.gen.echo.v1 import echo_pb2, echo_pb2_grpc
from examples.tools.gen.echo.v1.echo_pb2 import EchoRequest, EchoResponse

OpenTool = Callable[
    [Callable[[], Awaitable[tuple[grpc.aio.Server, str]]]], Awaitable[grpc.aio.Channel]
]

UNICODE_MESSAGE = "kaputt: ünïcødé ✓ — 失败 🚫"


@dataclass
class Echo:
    servicer: EchoServicer
    stub: echo_pb2_grpc.EchoStub
    channel: grpc.aio.Channel


@pytest.fixture
async def echo(open_tool: OpenTool) -> Echo:
    servicer = EchoServicer(instance="echo-a", seed=7)
    channel = await open_tool(lambda: start(servicer=servicer))
    stub = echo_pb2_grpc.EchoStub(channel)  # type: ignore[no-untyped-call]
    return Echo(servicer, stub, channel)


async def expect_error(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    """Awaits `call` and returns the RpcError it must end with."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def requests(*items: EchoRequest) -> AsyncIterator[EchoRequest]:
    for item in items:
        yield item


# --- unary ---------------------------------------------------------------------------------


async def test_plain_echo_returns_payload_instance_and_no_deadline(echo: Echo) -> None:
    response = await echo.stub.Echo(EchoRequest(payload=b"hello"))
    assert response == EchoResponse(payload=b"hello", instance="echo-a", deadline_ms=-1, received=1)
    assert echo.servicer.log.calls["Echo"] == 1


async def test_write_is_counted_apart_from_echo(echo: Echo) -> None:
    response = await echo.stub.Write(EchoRequest(payload=b"w", call_id="w1"))
    assert (response.payload, response.call_id) == (b"w", "w1")
    assert echo.servicer.log.calls["Write"] == 1
    assert echo.servicer.log.calls["Echo"] == 0


async def test_the_tool_reports_the_deadline_it_saw(echo: Echo) -> None:
    response = await echo.stub.Echo(EchoRequest(payload=b"d"), timeout=5)
    assert 4000 < response.deadline_ms <= 5100


async def test_latency_delays_the_reply(echo: Echo) -> None:
    started = time.monotonic()
    response = await echo.stub.Echo(EchoRequest(payload=b"slow", latency_ms=60), timeout=5)
    assert time.monotonic() - started >= 0.06
    assert response.payload == b"slow"


async def test_latency_beyond_the_deadline_expires_the_call(echo: Echo) -> None:
    error = await expect_error(
        echo.stub.Echo(EchoRequest(latency_ms=5000, call_id="late"), timeout=0.1)
    )
    assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(echo.servicer.log.wait_cancelled("late"), 2)


@pytest.mark.parametrize("code", [c for c in grpc.StatusCode if c is not grpc.StatusCode.OK])
async def test_any_status_code_can_be_injected(echo: Echo, code: grpc.StatusCode) -> None:
    error = await expect_error(echo.stub.Echo(EchoRequest(status_code=code.value[0])))
    assert error.code() is code
    assert code.name in (error.details() or "")


async def test_a_unicode_status_message_arrives_intact(echo: Echo) -> None:
    error = await expect_error(
        echo.stub.Write(EchoRequest(status_code=9, status_message=UNICODE_MESSAGE))
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == UNICODE_MESSAGE


async def test_nonsense_steering_is_invalid_argument_naming_the_field(echo: Echo) -> None:
    error = await expect_error(echo.stub.Echo(EchoRequest(status_code=42)))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "status_code" in (error.details() or "") and "42" in (error.details() or "")
    error = await expect_error(echo.stub.Echo(EchoRequest(failure_rate=2)))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "failure_rate" in (error.details() or "")


async def test_failure_rate_zero_never_fails(echo: Echo) -> None:
    for _ in range(20):
        response = await echo.stub.Echo(EchoRequest(payload=b"ok", failure_rate=0.0))
        assert response.payload == b"ok"


async def test_failure_rate_one_always_fails_with_unavailable_by_default(echo: Echo) -> None:
    for _ in range(20):
        error = await expect_error(echo.stub.Echo(EchoRequest(failure_rate=1.0)))
        assert error.code() is grpc.StatusCode.UNAVAILABLE


async def test_failure_rate_one_uses_the_given_code(echo: Echo) -> None:
    error = await expect_error(
        echo.stub.Echo(EchoRequest(failure_rate=1.0, status_code=8, status_message="full"))
    )
    assert (error.code(), error.details()) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "full")


async def test_failure_rate_half_fails_some_calls_independently(echo: Echo) -> None:
    outcomes: list[bool] = []
    for _ in range(64):
        try:
            await echo.stub.Echo(EchoRequest(failure_rate=0.5))
            outcomes.append(True)
        except grpc.aio.AioRpcError as error:
            assert error.code() is grpc.StatusCode.UNAVAILABLE
            outcomes.append(False)
    assert 12 <= outcomes.count(False) <= 52


async def test_a_hanging_call_cancelled_by_the_client_is_seen_cancelled(echo: Echo) -> None:
    call = echo.stub.Echo(EchoRequest(hang=True, call_id="h1"), timeout=30)
    await asyncio.wait_for(echo.servicer.log.wait_started("h1"), 2)
    assert call.cancel()
    await asyncio.wait_for(echo.servicer.log.wait_cancelled("h1"), 2)
    assert echo.servicer.log.cancelled_call_ids == ["h1"]
    assert echo.servicer.log.cancelled["Echo"] == 1
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_a_hanging_call_ends_at_its_deadline(echo: Echo) -> None:
    error = await expect_error(echo.stub.Write(EchoRequest(hang=True, call_id="h2"), timeout=0.2))
    assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(echo.servicer.log.wait_cancelled("h2"), 2)


async def test_response_size_replaces_the_payload(echo: Echo) -> None:
    response = await echo.stub.Echo(EchoRequest(payload=b"ignored", response_size=100_000))
    assert response.payload == b"x" * 100_000


async def test_messages_up_to_64_mib_are_accepted_both_ways(echo: Echo) -> None:
    # Twice grpcio's 4 MiB default, to prove the raised limit on both sides.
    payload = bytes(range(256)) * (8 * 1024 * 4)
    response = await echo.stub.Echo(EchoRequest(payload=payload), timeout=10)
    assert response.payload == payload


# --- metadata ------------------------------------------------------------------------------

SENT_METADATA = (
    ("x-trace", "abc-123"),
    ("x-blob-bin", b"\x00\x01\xfe\xff"),
    ("not-echoed", "kept-to-self"),
)
ECHOED = {("x-trace", "abc-123"), ("x-blob-bin", b"\x00\x01\xfe\xff")}


def as_set(metadata: object) -> set[tuple[object, ...]]:
    """grpc's metadata (pairs, typed loosely by its stubs) as a set of (key, value) tuples."""
    return {tuple(pair) for pair in cast("Iterable[Iterable[object]]", metadata or ())}


async def test_x_metadata_comes_back_in_initial_and_trailing_metadata(echo: Echo) -> None:
    call = echo.stub.Echo(EchoRequest(payload=b"m"), metadata=SENT_METADATA)
    assert (await call).payload == b"m"
    assert as_set(await call.initial_metadata()) == ECHOED
    assert as_set(await call.trailing_metadata()) == ECHOED


async def test_a_unary_failure_echoes_x_metadata_in_the_trailers_only(echo: Echo) -> None:
    call = echo.stub.Echo(EchoRequest(status_code=14), metadata=SENT_METADATA)
    error = await expect_error(call)
    assert error.code() is grpc.StatusCode.UNAVAILABLE
    assert as_set(error.trailing_metadata()) == ECHOED
    assert as_set(error.initial_metadata()) == set()


async def test_a_stream_failing_after_a_message_echoes_in_both(echo: Echo) -> None:
    call = echo.stub.ServerStream(
        EchoRequest(payload=b"s", count=1, status_code=10, status_message=UNICODE_MESSAGE),
        metadata=SENT_METADATA,
    )
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for response in call:
            received.append(response.payload)
    assert received == [b"s"]
    assert caught.value.code() is grpc.StatusCode.ABORTED
    assert caught.value.details() == UNICODE_MESSAGE
    assert as_set(caught.value.initial_metadata()) == ECHOED
    assert as_set(caught.value.trailing_metadata()) == ECHOED


# --- streams -------------------------------------------------------------------------------


async def test_server_stream_sends_count_messages_in_sequence(echo: Echo) -> None:
    call = echo.stub.ServerStream(
        EchoRequest(payload=b"p", count=3, interval_ms=5, call_id="s1"), timeout=5
    )
    responses = [response async for response in call]
    assert [r.sequence for r in responses] == [0, 1, 2]
    assert all(r.payload == b"p" and r.call_id == "s1" and r.deadline_ms > 0 for r in responses)
    assert await call.code() is grpc.StatusCode.OK


async def test_server_stream_with_no_count_ends_ok_with_echoed_headers(echo: Echo) -> None:
    call = echo.stub.ServerStream(EchoRequest(), metadata=SENT_METADATA)
    assert [r async for r in call] == []
    assert as_set(await call.initial_metadata()) == ECHOED
    assert await call.code() is grpc.StatusCode.OK


async def test_a_server_stream_hanging_after_its_messages_sees_the_cancel(echo: Echo) -> None:
    call = echo.stub.ServerStream(EchoRequest(count=2, hang=True, call_id="s2"), timeout=30)
    assert (await call.read()).sequence == 0
    assert (await call.read()).sequence == 1
    call.cancel()
    await asyncio.wait_for(echo.servicer.log.wait_cancelled("s2"), 2)
    assert echo.servicer.log.cancelled["ServerStream"] == 1


async def test_client_stream_concatenates_and_counts(echo: Echo) -> None:
    response = await echo.stub.ClientStream(
        requests(
            EchoRequest(payload=b"ab", call_id="c1"),
            EchoRequest(payload=b"cd"),
            EchoRequest(payload=b"e"),
        ),
        timeout=5,
    )
    assert (response.payload, response.received, response.call_id) == (b"abcde", 3, "c1")


async def test_client_stream_is_steered_by_its_first_message(echo: Echo) -> None:
    error = await expect_error(
        echo.stub.ClientStream(
            requests(EchoRequest(status_code=7, status_message="no"), EchoRequest(payload=b"x"))
        )
    )
    assert (error.code(), error.details()) == (grpc.StatusCode.PERMISSION_DENIED, "no")


async def test_bidi_echoes_each_message_as_it_arrives(echo: Echo) -> None:
    call = echo.stub.Bidi(timeout=5)
    for index, payload in enumerate([b"one", b"two", b"three"]):
        await call.write(EchoRequest(payload=payload))
        response = await call.read()
        assert (response.payload, response.sequence, response.received) == (
            payload,
            index,
            index + 1,
        )
    await call.done_writing()
    assert await call.read() is grpc.aio.EOF  # type: ignore[attr-defined]
    assert await call.code() is grpc.StatusCode.OK


async def test_bidi_ends_with_the_status_a_message_asks_for(echo: Echo) -> None:
    call = echo.stub.Bidi(metadata=SENT_METADATA, timeout=5)
    await call.write(EchoRequest(payload=b"fine"))
    assert (await call.read()).payload == b"fine"
    await call.write(EchoRequest(status_code=13, status_message=UNICODE_MESSAGE))
    assert await call.code() is grpc.StatusCode.INTERNAL
    assert await call.details() == UNICODE_MESSAGE
    assert as_set(await call.trailing_metadata()) == ECHOED


async def test_a_hanging_bidi_cancelled_by_the_client_is_seen_cancelled(echo: Echo) -> None:
    call = echo.stub.Bidi(timeout=30)
    await call.write(EchoRequest(payload=b"first", call_id="b1"))
    assert (await call.read()).payload == b"first"
    await call.write(EchoRequest(hang=True))
    call.cancel()
    await asyncio.wait_for(echo.servicer.log.wait_cancelled("b1"), 2)
    assert echo.servicer.log.cancelled["Bidi"] == 1


# --- compression ---------------------------------------------------------------------------


class CountingProxy:
    """A TCP relay in front of the tool that counts the bytes the tool sends back."""

    def __init__(self, upstream: str) -> None:
        self.upstream_host, port = upstream.rsplit(":", 1)
        self.upstream_port = int(port)
        self.downstream_bytes = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        upstream_r, upstream_w = await asyncio.open_connection(
            self.upstream_host, self.upstream_port
        )
        up = asyncio.create_task(self._pump(client_r, upstream_w, count=False))
        down = asyncio.create_task(self._pump(upstream_r, client_w, count=True))
        self._tasks |= {up, down}
        await asyncio.gather(up, down, return_exceptions=True)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, count: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if count:
                    self.downstream_bytes += len(data)
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


async def test_compress_response_gzips_the_reply_on_the_wire() -> None:
    server, address = await start()
    proxy = CountingProxy(address)
    channel = grpc.aio.insecure_channel(await proxy.start())
    try:
        stub = echo_pb2_grpc.EchoStub(channel)  # type: ignore[no-untyped-call]
        await stub.Echo(EchoRequest())  # connection set-up, excluded from the counts
        size = 256 * 1024

        async def bytes_for(request: EchoRequest) -> int:
            before = proxy.downstream_bytes
            response = await stub.Echo(request, timeout=5)
            assert len(response.payload) == size
            return proxy.downstream_bytes - before

        plain = await bytes_for(EchoRequest(response_size=size))
        compressed = await bytes_for(EchoRequest(response_size=size, compress_response=True))
        assert plain > size
        assert compressed < size // 20
    finally:
        await channel.close(None)
        await proxy.close()
        await server.stop(None)


# --- schema --------------------------------------------------------------------------------


def test_echo_is_declared_free_of_side_effects_and_write_is_not() -> None:
    methods = echo_pb2.DESCRIPTOR.services_by_name["Echo"].methods_by_name
    no_side_effects = descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
    assert methods["Echo"].GetOptions().idempotency_level == no_side_effects
    assert methods["Write"].GetOptions().idempotency_level != no_side_effects
