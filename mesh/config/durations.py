"""Durations as people write them: `250ms`, `2s`, `1m`, `1m30s`, `1.5h`.

One parser for policy files (`timeout: 250ms`) and command-line flags (`--timeout 5s`), so
both accept the same spellings. Units: `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`; parts are
written largest unit first, each unit at most once (`1m30s`, not `30s1m`). A bare number is
refused (is `5` seconds or milliseconds?) unless the caller names the unit (`bare_unit`).

Parsing is exact: the result is a whole number of nanoseconds (what `google.protobuf.Duration`
holds), computed in decimal, so `0.1s` is exactly 100,000,000 ns.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation

NANOS_PER_SECOND = 1_000_000_000
_NANOS_PER_UNIT = {
    "h": 3600 * NANOS_PER_SECOND,
    "m": 60 * NANOS_PER_SECOND,
    "s": NANOS_PER_SECOND,
    "ms": 1_000_000,
    "us": 1_000,
    "µs": 1_000,
    "ns": 1,
}
# Rank of each unit, largest first: a later part must have a strictly higher rank.
_RANK = {"h": 0, "m": 1, "s": 2, "ms": 3, "us": 4, "µs": 4, "ns": 5}
# Longest unit names first, so `ms` is not read as `m` followed by garbage.
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
# The largest span google.protobuf.Duration can hold (about 10,000 years).
MAX_NANOS = 315_576_000_000 * NANOS_PER_SECOND
EXAMPLES = "e.g. 250ms, 2s, 1m30s"


class DurationError(ValueError):
    """Text that is not a usable duration; the message quotes it and shows valid examples."""


class DurationTooLong(DurationError):
    """A well-formed duration longer than `google.protobuf.Duration` holds (a caller that
    words "not a duration" its own way still reports this one as it is)."""


def parse_nanos(text: str, *, bare_unit: str | None = None, allow_zero: bool = False) -> int:
    """Parses a duration into whole nanoseconds; raises DurationError.

    `bare_unit` (e.g. `"s"`) lets a bare number mean that unit. Zero is refused unless
    `allow_zero` (a policy file lets its validation report a zero with the field's name).
    Fractions finer than a nanosecond round to the nearest nanosecond.
    """
    stripped = text.strip()
    if bare_unit is not None and _is_plain_number(stripped):
        stripped += bare_unit
    nanos = _nanos(stripped)
    if nanos is None:
        raise DurationError(f"{text!r} is not a duration ({EXAMPLES})")
    if nanos > MAX_NANOS:
        raise DurationTooLong(f"duration {text!r} is too long (at most about 10,000 years)")
    if nanos == 0 and not allow_zero:
        raise DurationError(f"duration {text!r} must be greater than zero")
    return nanos


def parse_duration(text: str, *, bare_unit: str | None = None) -> float:
    """Parses a positive duration into float seconds: `parse_duration("250ms") == 0.25`."""
    return parse_nanos(text, bare_unit=bare_unit) / NANOS_PER_SECOND


def parse_timedelta(text: str, *, bare_unit: str | None = None) -> timedelta:
    """Parses a positive duration into a timedelta (microsecond precision, rounded)."""
    return timedelta(microseconds=round(parse_nanos(text, bare_unit=bare_unit) / 1_000))


def format_nanos(nanos: int) -> str:
    """The exact duration in the form `parse_nanos` reads back: `250ms`, `1m30s`, `1s500ms`.

    Negative spans (which no valid policy holds) are shown with a leading `-`.
    """
    if nanos == 0:
        return "0s"
    if nanos < 0:
        return "-" + format_nanos(-nanos)
    parts: list[str] = []
    remaining = nanos
    for unit in ("h", "m", "s", "ms", "us", "ns"):
        count, remaining = divmod(remaining, _NANOS_PER_UNIT[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def format_seconds(seconds: float) -> str:
    """Float seconds in the form of `format_nanos`, to the nearest nanosecond."""
    return format_nanos(round(seconds * NANOS_PER_SECOND))


def format_duration(value: timedelta) -> str:
    """A short human form for messages and help texts: `250ms`, `2s`, `1.5s`, `90s`."""
    seconds = value.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


def _nanos(text: str) -> int | None:
    if not text:
        return None
    position = 0
    total = Decimal(0)
    last_rank = -1
    while position < len(text):
        match = _PART.match(text, position)
        if match is None:
            return None
        number, unit = match.groups()
        if _RANK[unit] <= last_rank:
            return None  # units out of order or repeated: `30s1m`, `1s1s`
        last_rank = _RANK[unit]
        try:
            total += Decimal(number) * _NANOS_PER_UNIT[unit]
        except InvalidOperation:
            return None
        position = match.end()
    return int(total.to_integral_value())


def _is_plain_number(text: str) -> bool:
    return bool(re.fullmatch(r"\d+(?:\.\d*)?|\.\d+", text))
