"""How one echo instance misbehaves on every call, whatever the request asks.

Set at start-up (`--latency-ms`, `--fail-rate`), so a benchmark can register several
instances of the same tool and make one of them slow or flaky while the load generator sends
the same plain request to all of them. Pure decisions here; the servicer applies them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InstanceFaults:
    """`latency_ms`: every call is answered this many milliseconds late (0: at once).
    `fail_rate`: each call fails with UNAVAILABLE with this probability, drawn independently
    per call after the delay's start (0: never, 1: always).

    Raises ValueError naming the flag when a value is out of range.
    """

    latency_ms: int = 0
    fail_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError(f"--latency-ms must be >= 0 (got {self.latency_ms})")
        if math.isnan(self.fail_rate) or not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"--fail-rate must be within [0, 1] (got {self.fail_rate})")

    @property
    def active(self) -> bool:
        """True when the instance does anything but answer at once."""
        return bool(self.latency_ms or self.fail_rate)

    def fails(self, draw: Callable[[], float]) -> bool:
        """Whether this call fails. `draw` returns a uniform number in [0, 1) and is called
        once per call when a fail rate is set (so a rate of 1 always fails)."""
        return self.fail_rate > 0.0 and draw() < self.fail_rate

    def failure_message(self, instance: str) -> str:
        """The status message of an injected instance failure."""
        who = f"instance {instance!r}" if instance else "this instance"
        return f"echo: {who} is failing calls (--fail-rate {self.fail_rate:g})"
