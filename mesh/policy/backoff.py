"""Retry backoff: exponential with full jitter, and the tool's `grpc-retry-pushback-ms`.

The schedule is gRPC's (gRFC A6, "Exponential Backoff"): retry `n` (1 for the first retry)
waits a uniformly random time in `[0, min(max_backoff, initial_backoff x multiplier^(n-1)))`
seconds. Full jitter spreads retries of many callers that failed at the same moment.

A tool may instead say how long to wait with the `grpc-retry-pushback-ms` response header
(gRFC A6, "Pushback"): a non-negative integer is the exact delay in milliseconds (no jitter); a
negative or unparseable value means "do not retry this call". After a retry that followed a
pushback, the schedule starts again from the initial backoff: the retry layer passes
`retry_number` counted from the last pushback.
"""

from __future__ import annotations

import random
from typing import Final, Literal

from mesh.config.policy import RetryConfig

PUSHBACK_HEADER: Final = b"grpc-retry-pushback-ms"

# `parse_pushback` result: the tool asked that the call not be retried at all.
NEVER: Final = "never"
Pushback = float | None | Literal["never"]

# gRFC A6: the value is a signed 32-bit integer; anything longer cannot be one.
_MAX_PUSHBACK_MS = (1 << 31) - 1


class Backoff:
    """The backoff schedule of one retry policy. Stateless per call: share one per route."""

    __slots__ = ("_initial_s", "_max_s", "_multiplier", "_rng")

    def __init__(self, retry: RetryConfig, rng: random.Random) -> None:
        self._initial_s = retry.initial_backoff_s
        self._max_s = retry.max_backoff_s
        self._multiplier = retry.multiplier
        self._rng = rng

    def ceiling(self, retry_number: int) -> float:
        """The largest delay of retry `retry_number` (>= 1), in seconds, before jitter."""
        if retry_number < 1:
            raise ValueError(f"backoff: retry_number must be >= 1 (got {retry_number})")
        try:
            grown = self._initial_s * self._multiplier ** (retry_number - 1)
        except OverflowError:  # a huge retry number: the cap applies long before
            return self._max_s
        return grown if grown < self._max_s else self._max_s

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry `retry_number` (>= 1): uniform in [0, ceiling)."""
        return self._rng.random() * self.ceiling(retry_number)


def parse_pushback(value: bytes | None) -> Pushback:
    """The delay a tool asked for in `grpc-retry-pushback-ms`, in seconds.

    None when the header is absent (`value` is None): the backoff schedule applies.
    `NEVER` when the value is negative or not an ASCII decimal 32-bit integer (surrounding
    spaces are tolerated): per gRFC A6 the tool asks that the call not be retried.
    """
    if value is None:
        return None
    text = value.strip(b" \t")
    digits = text[1:] if text[:1] == b"-" else text
    # bytes.isdigit() accepts ASCII digits only; the length check bounds int() on junk.
    if not digits.isdigit() or len(digits) > 10:
        return NEVER
    milliseconds = int(text)
    if milliseconds < 0 or milliseconds > _MAX_PUSHBACK_MS:
        return NEVER
    return milliseconds / 1000.0
