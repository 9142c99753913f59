"""gRPC-over-HTTP/2 details the relay needs: status responses and `grpc-timeout`.

See the gRPC HTTP/2 protocol description: a call that fails before any response is a
"trailers-only" response — one HEADERS frame with `:status`, `content-type`, `grpc-status`
and `grpc-message` (percent-encoded UTF-8), ending the stream.
"""

from __future__ import annotations

from enum import IntEnum

from sidecar.h2.hpack_codec import HeaderList


class Code(IntEnum):
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


_UNRESERVED = frozenset(range(0x20, 0x7F)) - {ord("%")}


def percent_encode(message: str) -> bytes:
    """`grpc-message` encoding: UTF-8, with bytes outside 0x20-0x7E and `%` as %XX."""
    raw = message.encode("utf-8")
    if all(byte in _UNRESERVED for byte in raw):
        return raw
    return b"".join(bytes([byte]) if byte in _UNRESERVED else b"%%%02X" % byte for byte in raw)


def percent_decode(value: bytes) -> str:
    """The text of a percent-encoded `grpc-message` (invalid escapes are kept as they are)."""
    if b"%" not in value:
        return value.decode("utf-8", "replace")
    out = bytearray()
    index = 0
    while index < len(value):
        byte = value[index]
        if byte == 0x25 and index + 2 < len(value) + 0 and _is_hex(value[index + 1 : index + 3]):
            out.append(int(value[index + 1 : index + 3], 16))
            index += 3
        else:
            out.append(byte)
            index += 1
    return out.decode("utf-8", "replace")


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)


def trailers_only(code: Code, message: str) -> HeaderList:
    """The header list of a trailers-only response carrying `code` and `message`."""
    return [
        (b":status", b"200"),
        (b"content-type", b"application/grpc"),
        (b"grpc-status", str(int(code)).encode()),
        (b"grpc-message", percent_encode(message)),
    ]


def status_trailers(code: Code, message: str) -> HeaderList:
    """Trailers ending a response whose headers were already sent."""
    return [(b"grpc-status", str(int(code)).encode()), (b"grpc-message", percent_encode(message))]


_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}


def parse_timeout(value: bytes) -> float | None:
    """Seconds of a `grpc-timeout` value (`100m`, `5S`...), or None when malformed."""
    if not 2 <= len(value) <= 9:
        return None
    digits, unit = value[:-1], value[-1:]
    scale = _UNITS.get(unit)
    if scale is None or not digits.isdigit():
        return None
    return int(digits) * scale


def format_timeout(seconds: float) -> bytes:
    """The most precise `grpc-timeout` value with at most 8 digits, rounded down.

    Rounding down keeps the upstream's deadline no later than the agent's.
    """
    nanos = max(1, int(seconds * 1e9))
    for unit, per in ((b"n", 1), (b"u", 1_000), (b"m", 1_000_000), (b"S", 1_000_000_000)):
        amount = nanos // per if per > 1 else nanos
        if amount < 100_000_000:
            return str(max(1, amount)).encode() + unit
    minutes = nanos // 60_000_000_000
    if minutes < 100_000_000:
        return str(max(1, minutes)).encode() + b"M"
    return str(min(99_999_999, nanos // 3_600_000_000_000)).encode() + b"H"
