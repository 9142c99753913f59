"""How an echo request steers its call: pure decisions, no I/O.

The servicer applies them; keeping them here lets the rules (which code, which probability,
which metadata) be read and tested on their own.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import grpc

from examples.tools.gen.echo.v1 import echo_pb2

_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}
_LAST_CODE = max(_CODES_BY_NUMBER)

Metadata = tuple[tuple[str, str | bytes], ...]


class SteeringError(ValueError):
    """A request whose steering fields make no sense; the message names the field."""


@dataclass(frozen=True, slots=True)
class Failure:
    """The status an injected failure ends the call with."""

    code: grpc.StatusCode
    message: str


def is_plain(request: echo_pb2.EchoRequest) -> bool:
    """True when the request asks for nothing but an echo of its payload (the hot path)."""
    return not (
        request.latency_ms
        or request.status_code
        or request.failure_rate
        or request.hang
        or request.response_size
        or request.compress_response
        or request.call_id
    )


def planned_failure(request: echo_pb2.EchoRequest, draw: Callable[[], float]) -> Failure | None:
    """The failure this call should end with, or None.

    `draw` returns a uniform number in [0, 1); it is called once when `failure_rate` > 0 (so
    a rate of 1 always fails). Raises SteeringError for a status code that gRPC does not
    define or a rate outside [0, 1].
    """
    number, rate = request.status_code, request.failure_rate
    if not number and not rate:
        return None
    if math.isnan(rate) or not 0.0 <= rate <= 1.0:
        raise SteeringError(f"echo: failure_rate must be within [0, 1] (got {rate})")
    code = _CODES_BY_NUMBER.get(number)
    if code is None:
        raise SteeringError(
            f"echo: status_code must be a gRPC status code number, 0..{_LAST_CODE} (got {number})"
        )
    if code is grpc.StatusCode.OK:
        # Only reachable with a failure rate: the documented default code of a random failure.
        code = grpc.StatusCode.UNAVAILABLE
    if rate and draw() >= rate:
        return None
    message = request.status_message or (
        f"echo: injected {code.name}" + (f" (failure_rate {rate:g})" if rate else "")
    )
    return Failure(code, message)


def echoed_metadata(invocation_metadata: Iterable[tuple[str, str | bytes]] | None) -> Metadata:
    """The request metadata the tool sends back: every key starting with `x-`, in order."""
    if not invocation_metadata:
        return ()
    return tuple((key, value) for key, value in invocation_metadata if key.startswith("x-"))


def deadline_ms(time_remaining: float | None) -> int:
    """`time_remaining()` (seconds, None without a deadline) as whole milliseconds, -1 if none."""
    if time_remaining is None:
        return -1
    return int(time_remaining * 1000)


@functools.lru_cache(maxsize=16)
def filler(size: int) -> bytes:
    """A payload of `size` bytes (`x`); cached since benchmarks ask for the same sizes."""
    return b"x" * size
