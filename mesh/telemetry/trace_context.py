"""W3C Trace Context: the `traceparent` and `tracestate` request headers, as gRPC metadata.

Implements https://www.w3.org/TR/trace-context/ (Level 1, with Level 2's `random` flag kept
when it is passed on). Parsing is strict: anything the specification calls invalid yields
None, and the caller then behaves as if no header had been sent (a new trace starts, and
`tracestate` is ignored, as the specification requires).

Values are bytes because they come from and go to HPACK header blocks untouched; ids are
ints (trace id 128 bits, span id 64 bits) so they can be compared and sampled cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable

TRACEPARENT = b"traceparent"
TRACESTATE = b"tracestate"

FLAG_SAMPLED = 0x01
FLAG_RANDOM = 0x02  # Level 2: the trace id's right 56 bits are random
# Flags we pass on from a parent when we sample: other bits are reserved and are not ours to
# set (Level 1: "vendors MUST set unused flags to zero").
_PROPAGATED_FLAGS = FLAG_SAMPLED | FLAG_RANDOM

# version "-" trace-id "-" parent-id "-" trace-flags, all lowercase hex: 55 bytes. Version 00
# is exactly that; a later version may append "-" and more fields, which we ignore.
_LENGTH = 55
_HEX = b"0123456789abcdef"
_DASHES = b"---"
_DASH = 0x2D
_INVALID_VERSION = b"ff"
_ZERO_TRACE_ID = b"0" * 32
_ZERO_SPAN_ID = b"0" * 16
_ODD_HEX = b"13579bdf"  # a flags byte whose last hex digit is one of these has `sampled` set


class SpanContext:
    """The identity of a span as it travels between processes.

    `trace_id` (128-bit int, never 0), `span_id` (64-bit int, never 0), `flags` (the 8-bit
    trace-flags; bit 0 is `sampled`), `tracestate` (the raw `tracestate` header value passed
    through unchanged, b"" when absent) and `remote` (True when it came from another process).
    """

    __slots__ = ("flags", "remote", "span_id", "trace_id", "tracestate")

    def __init__(
        self,
        trace_id: int,
        span_id: int,
        flags: int = FLAG_SAMPLED,
        tracestate: bytes = b"",
        remote: bool = False,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.flags = flags
        self.tracestate = tracestate
        self.remote = remote

    @property
    def sampled(self) -> bool:
        return bool(self.flags & FLAG_SAMPLED)

    @property
    def trace_id_hex(self) -> str:
        """The trace id as 32 lowercase hex digits (as in `traceparent` and trace UIs)."""
        return f"{self.trace_id:032x}"

    @property
    def span_id_hex(self) -> str:
        return f"{self.span_id:016x}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpanContext):
            return NotImplemented
        return (
            self.trace_id == other.trace_id
            and self.span_id == other.span_id
            and self.flags == other.flags
            and self.tracestate == other.tracestate
            and self.remote == other.remote
        )

    def __hash__(self) -> int:
        return hash((self.trace_id, self.span_id, self.flags))

    def __repr__(self) -> str:
        return (
            f"SpanContext(trace_id={self.trace_id_hex}, span_id={self.span_id_hex},"
            f" flags={self.flags:02x}, remote={self.remote})"
        )


def parse_traceparent(value: bytes, tracestate: bytes = b"") -> SpanContext | None:
    """The remote span context a `traceparent` value names, or None when it is invalid.

    Invalid: not `VV-TTTT…(32)-PPPP…(16)-FF` in lowercase hex; version `ff`; version `00` with
    anything after the flags; a later version whose extra part does not start with `-`; an
    all-zero trace id or parent id. `tracestate` (the header's value, or b"") is attached
    as-is; it is only meaningful with a valid `traceparent`.
    """
    if not _valid(value):
        return None
    return SpanContext(
        int(value[3:35], 16), int(value[36:52], 16), int(value[53:55], 16), tracestate, True
    )


def traceparent_sampled(value: bytes) -> bool | None:
    """The `sampled` flag of a `traceparent` value, None when the value is invalid (the
    same rules as `parse_traceparent`, without building the context)."""
    if not _valid(value):
        return None
    return value[54] in _ODD_HEX


def _valid(value: bytes) -> bool:
    """`value` is a well-formed `traceparent` of a version we may read, with non-zero ids."""
    size = len(value)
    if size == _LENGTH:
        if value.translate(None, _HEX) != _DASHES:
            return False
    elif size > _LENGTH and value[_LENGTH] == _DASH and value[:2] != b"00":
        if value[:_LENGTH].translate(None, _HEX) != _DASHES:
            return False
    else:
        return False
    # Exactly three dashes are left: they must be the separators.
    return (
        value[2] == _DASH
        and value[35] == _DASH
        and value[52] == _DASH
        and value[:2] != _INVALID_VERSION
        and value[3:35] != _ZERO_TRACE_ID
        and value[36:52] != _ZERO_SPAN_ID
    )


def format_traceparent(context: SpanContext) -> bytes:
    """The version-00 `traceparent` value of `context`."""
    return b"00-%032x-%016x-%02x" % (context.trace_id, context.span_id, context.flags & 0xFF)


def child_flags(parent_flags: int) -> int:
    """The trace-flags of a sampled span under a parent with `parent_flags`: sampled, and
    the Level 2 `random` flag kept (the trace id is the parent's, so it still holds)."""
    return (parent_flags & _PROPAGATED_FLAGS) | FLAG_SAMPLED


def with_traceparent(
    headers: Iterable[tuple[bytes, bytes]], traceparent: bytes
) -> list[tuple[bytes, bytes]]:
    """A copy of `headers` whose only `traceparent` is `traceparent` (replacing every one the
    agent sent, appended last: it is a regular header, after the pseudo-headers).
    `tracestate` is left as it is: passed through unchanged."""
    out = [header for header in headers if header[0] != TRACEPARENT]
    out.append((TRACEPARENT, traceparent))
    return out
