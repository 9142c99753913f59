"""The benchmark's request body and expected response size match what the echo tool does."""

from __future__ import annotations

import grpc

from bench.echo_calls import ECHO_METHOD, request_body, response_bytes
from examples.tools.echo.servicer import start
from examples.tools.gen.echo.v1 import echo_pb2


def test_request_body_is_one_framed_echo_request() -> None:
    body = request_body(256)
    assert body[0] == 0  # not compressed
    length = int.from_bytes(body[1:5], "big")
    assert length == len(body) - 5
    assert echo_pb2.EchoRequest.FromString(body[5:]).payload == b"x" * 256


async def test_expected_response_size_is_what_the_echo_tool_sends() -> None:
    server, address = await start("127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            call = channel.unary_unary(
                ECHO_METHOD,
                request_serializer=lambda data: data,
                response_deserializer=lambda data: data,
            )
            for size in (256, 16 * 1024):
                # Sent without a deadline, as h2load sends it.
                answer = await call(request_body(size)[5:])
                assert len(answer) + 5 == response_bytes(size)
    finally:
        await server.stop(None)
