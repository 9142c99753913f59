"""Durations as policy files and flags write them: exact, strict, and read back as written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesh.config.durations import (
    MAX_NANOS,
    DurationError,
    format_nanos,
    format_seconds,
    parse_duration,
    parse_nanos,
    parse_timedelta,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("2s", 2.0),
        ("1m", 60.0),
        ("1m30s", 90.0),
        ("1h", 3600.0),
        ("1.5h", 5400.0),
        ("1h2m3s4ms", 3723.004),
        ("1500us", 0.0015),
        ("1500µs", 0.0015),
        ("10ns", 1e-8),
        (".5s", 0.5),
        (" 0.5s ", 0.5),
    ],
)
def test_durations_parse_to_float_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, abs=1e-12)


def test_parsing_is_exact_in_nanoseconds() -> None:
    assert parse_nanos("0.1s") == 100_000_000
    assert parse_nanos("1.000000001s") == 1_000_000_001
    assert parse_nanos("1.5ns") == 2  # below a nanosecond: to the nearest, half to even
    with pytest.raises(DurationError, match="must be greater than zero"):
        parse_nanos("0.4ns")


@pytest.mark.parametrize(
    "text", ["", "5", "5x", "s", "2s3", "-1s", "1 s", "ms", "30s1m", "1s1s", "1m1h", "1e3s", "1,5s"]
)
def test_malformed_durations_are_refused_quoting_the_text(text: str) -> None:
    with pytest.raises(DurationError) as refused:
        parse_nanos(text)
    assert str(refused.value) == f"{text!r} is not a duration (e.g. 250ms, 2s, 1m30s)"


def test_zero_is_refused_unless_the_caller_reports_it_itself() -> None:
    with pytest.raises(DurationError, match="duration '0s' must be greater than zero"):
        parse_duration("0s")
    assert parse_nanos("0ms", allow_zero=True) == 0


def test_a_span_protobuf_cannot_hold_is_refused() -> None:
    with pytest.raises(DurationError, match="is too long"):
        parse_nanos("100000000h")


def test_bare_numbers_take_the_unit_the_caller_names() -> None:
    assert parse_duration("10", bare_unit="s") == 10.0
    assert parse_duration("2.5", bare_unit="s") == 2.5
    assert parse_duration("250ms", bare_unit="s") == 0.25
    with pytest.raises(DurationError):
        parse_duration("10")


def test_timedelta_form_for_the_command_line() -> None:
    assert parse_timedelta("1m30s") == timedelta(seconds=90)
    assert parse_timedelta("1500us") == timedelta(microseconds=1500)


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        (0, "0s"),
        (250_000_000, "250ms"),
        (2_000_000_000, "2s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h"),
        (1_500_000_000, "1s500ms"),
        (1_001, "1us1ns"),
        (-2_000_000_000, "-2s"),
    ],
)
def test_format_nanos_is_short_and_exact(nanos: int, text: str) -> None:
    assert format_nanos(nanos) == text


def test_format_seconds_rounds_to_the_nanosecond() -> None:
    assert format_seconds(0.1) == "100ms"
    assert format_seconds(300.0) == "5m"


@given(st.integers(min_value=1, max_value=MAX_NANOS))
def test_every_formatted_duration_parses_back_to_itself(nanos: int) -> None:
    assert parse_nanos(format_nanos(nanos)) == nanos
