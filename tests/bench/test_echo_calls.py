"""The benchmark's request body and expected response size match what the echo tool does."""

from __future__ import annotations

import grpc
import pytest

from bench.echo_calls import ECHO_METHOD, request_body, response_bytes, seen_deadline_ms
from examples.tools.echo.servicer import EchoServicer, start
from examples.tools.gen.echo.v1 import echo_pb2


def test_request_body_is_one_framed_echo_request() -> None:
    body = request_body(256)
    assert body[0] == 0  # not compressed
    length = int.from_bytes(body[1:5], "big")
    assert length == len(body) - 5
    assert echo_pb2.EchoRequest.FromString(body[5:]).payload == b"x" * 256


def test_the_seen_deadline_is_just_under_the_timeout_or_minus_one() -> None:
    assert seen_deadline_ms(None) == -1
    assert seen_deadline_ms(30.0) == 29_999
    # -1 is a 10-byte varint, 29999 a 3-byte one: the answers differ by 7 bytes.
    assert response_bytes(256) - response_bytes(256, tool_timeout_s=30.0) == 7
    assert response_bytes(256, instance="fast") - response_bytes(256) == 6  # tag, length, 4


async def _answers(servicer: EchoServicer, size: int, timeout_s: float | None) -> bytes:
    server, address = await start("127.0.0.1:0", servicer=servicer)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            call = channel.unary_unary(
                ECHO_METHOD,
                request_serializer=lambda data: data,
                response_deserializer=lambda data: data,
            )
            answer: bytes = await call(request_body(size)[5:], timeout=timeout_s)
            return answer
    finally:
        await server.stop(None)


@pytest.mark.parametrize("size", [256, 16 * 1024])
async def test_expected_response_size_is_what_the_echo_tool_sends(size: int) -> None:
    # Sent without a deadline, as h2load sends it.
    answer = await _answers(EchoServicer(), size, None)
    assert len(answer) + 5 == response_bytes(size)


async def test_expected_size_with_a_deadline_and_a_label_is_what_the_tool_sends() -> None:
    # As through a sidecar applying a 30 s policy timeout, from an instance labelled `slow`.
    answer = await _answers(EchoServicer(instance="slow"), 256, 30.0)
    decoded = echo_pb2.EchoResponse.FromString(answer)
    # grpcio rounds the timeout it sends up a little: near 30 s, in the same varint size.
    assert 16_384 <= decoded.deadline_ms <= 31_000
    assert len(answer) + 5 == response_bytes(256, tool_timeout_s=30.0, instance="slow")
