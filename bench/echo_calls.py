"""The call the benchmark makes: `/echo.v1.Echo/Echo` with a payload of N bytes.

h2load posts a file as each request's body, so the request is written as a complete gRPC
message (5-byte prefix: compression flag 0 and big-endian length, then the serialized
EchoRequest). The expected response size is what makes validation possible: the echo tool
answers a plain request with the same payload, `received` 1 and `deadline_ms` -1 (h2load
sends no `grpc-timeout`), so every successful call returns exactly `response_bytes(N)`
bytes of DATA.
"""

from __future__ import annotations

import struct

from examples.tools.gen.echo.v1 import echo_pb2

ECHO_METHOD = "/echo.v1.Echo/Echo"
_PREFIX = struct.Struct(">BI")  # compressed flag, message length


def frame(message: bytes) -> bytes:
    """`message` as one uncompressed gRPC length-prefixed message."""
    return _PREFIX.pack(0, len(message)) + message


def payload(size: int) -> bytes:
    """The request payload of `size` bytes (printable, so a captured body reads well)."""
    return b"x" * size


def request_body(payload_bytes: int) -> bytes:
    """The framed EchoRequest carrying a `payload_bytes`-byte payload."""
    request = echo_pb2.EchoRequest(payload=payload(payload_bytes))
    return frame(request.SerializeToString())


def response_bytes(payload_bytes: int) -> int:
    """DATA bytes of the echo tool's answer to `request_body(payload_bytes)`, prefix included."""
    response = echo_pb2.EchoResponse(payload=payload(payload_bytes), deadline_ms=-1, received=1)
    return len(frame(response.SerializeToString()))
