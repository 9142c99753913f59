"""Durations as users write them: `250ms`, `2s`, `1m30s`, `1.5h`.

One parser for flags (`--timeout 5s`) and policy files (`timeout: 250ms`), so both accept the
same spellings. Units: `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`; a bare number is refused
(is `5` seconds or milliseconds?) except where a caller says what the unit is.
"""

from __future__ import annotations

import re
from datetime import timedelta

_NANOS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
# Longest unit names first so `ms` is not read as `m` followed by garbage.
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
EXAMPLES = "e.g. 250ms, 2s, 1m30s"


class DurationError(ValueError):
    """Text that is not a duration; the message quotes it and shows valid examples."""


def parse_duration(text: str, *, bare_unit: str | None = None) -> timedelta:
    """Parses a positive duration; raises DurationError.

    `bare_unit` (e.g. `"s"`) lets a bare number mean that unit, for flags documented in it.
    Precision is a microsecond (timedelta's); finer parts round to the nearest microsecond.
    """
    stripped = text.strip()
    if bare_unit is not None and _is_number(stripped):
        stripped += bare_unit
    nanos = _nanos(stripped)
    if nanos is None:
        raise DurationError(f"{text!r} is not a duration ({EXAMPLES})")
    if nanos <= 0:
        raise DurationError(f"duration {text!r} must be greater than zero")
    return timedelta(microseconds=round(nanos / 1_000))


def format_duration(value: timedelta) -> str:
    """A short human form: `250ms`, `2s`, `1.5s`, `90s`."""
    seconds = value.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


def _nanos(text: str) -> float | None:
    position = 0
    total = 0.0
    while position < len(text):
        match = _PART.match(text, position)
        if match is None:
            return None
        total += float(match.group(1)) * _NANOS_PER_UNIT[match.group(2)]
        position = match.end()
    return total if text else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.replace(".", "", 1).isdigit()
