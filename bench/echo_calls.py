"""The call the benchmark makes: `/echo.v1.Echo/Echo` with a payload of N bytes.

h2load posts a file as each request's body, so the request is written as a complete gRPC
message (5-byte prefix: compression flag 0 and big-endian length, then the serialized
EchoRequest). The expected response size is what makes validation possible: the echo tool
answers a plain request with the same payload, its `instance` label, `received` 1 and the
deadline it saw in `deadline_ms`, so every successful call returns exactly
`response_bytes(N, ...)` bytes of DATA. h2load sends no `grpc-timeout`, so the tool sees no
deadline (-1) when called directly or through a proxy that adds none; a sidecar applying a
policy sends what is left of the policy's total timeout, which the tool reports in whole
milliseconds.
"""

from __future__ import annotations

import struct

from examples.tools.gen.echo.v1 import echo_pb2

ECHO_SERVICE = "echo.v1.Echo"
ECHO_METHOD_NAME = "Echo"
ECHO_METHOD = f"/{ECHO_SERVICE}/{ECHO_METHOD_NAME}"  # the :path of every call
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


def seen_deadline_ms(timeout_s: float | None) -> int:
    """The `deadline_ms` the tool reports for a call whose proxy set a total timeout of
    `timeout_s` seconds (None: no deadline, -1).

    The tool reports the time left when it answers, a few milliseconds under the timeout.
    Only the size of that number matters for the response size (a varint of 7 bits per
    byte), which is the same for every value from the timeout down to the largest power of
    128 not above it: for the default 30 s, anything from 16.4 s up.
    """
    if timeout_s is None:
        return -1
    return max(int(timeout_s * 1000) - 1, 0)


def response_bytes(
    payload_bytes: int, *, tool_timeout_s: float | None = None, instance: str = ""
) -> int:
    """DATA bytes of the echo tool's answer to `request_body(payload_bytes)`, prefix included:
    answered by the instance labelled `instance`, for a call the proxy gave a total timeout
    of `tool_timeout_s` seconds (None: no deadline, as h2load sends none)."""
    response = echo_pb2.EchoResponse(
        payload=payload(payload_bytes),
        instance=instance,
        deadline_ms=seen_deadline_ms(tool_timeout_s),
        received=1,
    )
    return len(frame(response.SerializeToString()))
