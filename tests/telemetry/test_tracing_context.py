"""W3C traceparent: strict parsing, formatting, and the header rewrite for attempts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from mesh.telemetry.trace_context import (
    SpanContext,
    format_traceparent,
    parse_traceparent,
    traceparent_sampled,
    with_traceparent,
)

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"
VALID = f"00-{TRACE}-{SPAN}-01".encode()


def test_a_valid_traceparent_gives_its_ids_flags_and_tracestate() -> None:
    context = parse_traceparent(VALID, b"congo=t61rcWkgMzE")
    assert context == SpanContext(
        int(TRACE, 16), int(SPAN, 16), 0x01, b"congo=t61rcWkgMzE", remote=True
    )
    assert context.sampled
    assert context.trace_id_hex == TRACE
    assert context.span_id_hex == SPAN


@pytest.mark.parametrize(
    ("flags", "sampled"), [("00", False), ("01", True), ("02", False), ("03", True), ("ff", True)]
)
def test_the_sampled_flag_is_bit_zero_of_the_flags(flags: str, sampled: bool) -> None:
    value = f"00-{TRACE}-{SPAN}-{flags}".encode()
    context = parse_traceparent(value)
    assert context is not None
    assert context.flags == int(flags, 16)
    assert context.sampled is sampled
    assert traceparent_sampled(value) is sampled


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"00",
        f"00-{TRACE}-{SPAN}-0".encode(),  # flags too short
        f"00-{TRACE}-{SPAN}-01-".encode(),  # version 00 has nothing after the flags
        f"00-{TRACE}-{SPAN}-01-extra".encode(),
        f"ff-{TRACE}-{SPAN}-01".encode(),  # version ff is invalid
        f"00-{'0' * 32}-{SPAN}-01".encode(),  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01".encode(),  # all-zero parent id
        f"00-{TRACE.upper()}-{SPAN}-01".encode(),  # hex must be lowercase
        f"00-{TRACE}-{SPAN.upper()}-01".encode(),
        f"0A-{TRACE}-{SPAN}-01".encode(),
        f"00-{TRACE}-{SPAN}-0F".encode(),
        f"00_{TRACE}-{SPAN}-01".encode(),  # wrong separators
        f"00-{TRACE}_{SPAN}-01".encode(),
        f"00-{TRACE[:-1]}-{SPAN}0-01".encode(),  # a dash in the wrong place
        f"00-{TRACE}-{SPAN}--1".encode(),
        f" 00-{TRACE}-{SPAN}-01".encode()[:55],
        f"00-{TRACE}-{SPAN}-01 ".encode(),
        f"0g-{TRACE}-{SPAN}-01".encode(),
        f"01-{TRACE}-{SPAN}-01extra".encode(),  # a later version's extra part starts with -
        f"00-{TRACE[:8]}_{TRACE[9:]}-{SPAN}-01".encode(),
    ],
)
def test_invalid_traceparents_are_refused(value: bytes) -> None:
    assert parse_traceparent(value) is None
    assert traceparent_sampled(value) is None


@pytest.mark.parametrize(
    "value",
    [
        f"01-{TRACE}-{SPAN}-01".encode(),  # a later version, exactly the version-00 fields
        f"cc-{TRACE}-{SPAN}-01-what-the-future-adds".encode(),
        f"fe-{TRACE}-{SPAN}-01-X".encode(),  # its extra part is not ours to check
    ],
)
def test_later_versions_are_read_as_version_00(value: bytes) -> None:
    context = parse_traceparent(value)
    assert context is not None
    assert (context.trace_id_hex, context.span_id_hex, context.flags) == (TRACE, SPAN, 1)


def test_formatting_writes_version_00() -> None:
    context = SpanContext(int(TRACE, 16), int(SPAN, 16), 0x01)
    assert format_traceparent(context) == VALID
    assert format_traceparent(SpanContext(1, 2, 0)) == b"00-" + b"0" * 31 + b"1-" + (
        b"0" * 15 + b"2-00"
    )


@given(
    trace_id=st.integers(1, (1 << 128) - 1),
    span_id=st.integers(1, (1 << 64) - 1),
    flags=st.integers(0, 255),
)
def test_format_then_parse_round_trips(trace_id: int, span_id: int, flags: int) -> None:
    value = format_traceparent(SpanContext(trace_id, span_id, flags))
    assert len(value) == 55
    assert parse_traceparent(value) == SpanContext(trace_id, span_id, flags, remote=True)
    assert traceparent_sampled(value) is bool(flags & 1)


def _mutated(position_and_byte: tuple[int, int]) -> bytes:
    position, byte = position_and_byte
    value = bytearray(VALID)
    value[position] = byte
    return bytes(value)


@given(
    st.binary(max_size=80)
    | st.tuples(st.integers(0, 54), st.integers(0, 255)).map(_mutated)
    | st.binary(max_size=12).map(lambda tail: VALID.replace(b"00-", b"01-", 1) + tail)
)
def test_any_bytes_parse_or_are_refused_consistently(value: bytes) -> None:
    context = parse_traceparent(value)
    sampled = traceparent_sampled(value)
    if context is None:
        assert sampled is None
    else:
        assert sampled is context.sampled
        assert context.trace_id and context.span_id
        assert format_traceparent(context)[2:] == value[2:55]  # read as version 00


@given(
    trace_id=st.integers(1, (1 << 128) - 1),
    span_id=st.integers(1, (1 << 64) - 1),
    flags=st.integers(0, 255),
)
def test_the_opentelemetry_sdk_reads_what_we_write(trace_id: int, span_id: int, flags: int) -> None:
    """Interoperability: the SDK's own W3C propagator extracts our traceparent unchanged."""
    from opentelemetry import trace

    value = format_traceparent(SpanContext(trace_id, span_id, flags)).decode()
    extracted = trace.get_current_span(
        TraceContextTextMapPropagator().extract({"traceparent": value})
    ).get_span_context()
    assert (extracted.trace_id, extracted.span_id) == (trace_id, span_id)
    assert extracted.trace_flags.sampled is bool(flags & 1)


def test_with_traceparent_replaces_every_agent_value_and_keeps_the_rest() -> None:
    headers = [
        (b":method", b"POST"),
        (b":path", b"/echo.v1.Echo/Echo"),
        (b"traceparent", VALID),
        (b"tracestate", b"congo=t61rcWkgMzE"),
        (b"traceparent", b"garbage"),
        (b"x-user", b"1"),
    ]
    ours = b"00-" + TRACE.encode() + b"-00f067aa0ba902b7-01"
    rewritten = with_traceparent(headers, ours)
    assert rewritten == [
        (b":method", b"POST"),
        (b":path", b"/echo.v1.Echo/Echo"),
        (b"tracestate", b"congo=t61rcWkgMzE"),
        (b"x-user", b"1"),
        (b"traceparent", ours),
    ]
    assert headers[2] == (b"traceparent", VALID)  # the call's own headers are untouched
    assert with_traceparent([(b":path", b"/a/b")], ours) == [
        (b":path", b"/a/b"),
        (b"traceparent", ours),
    ]
