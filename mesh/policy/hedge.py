"""Hedging delay: when to send a second copy of a slow idempotent call.

`LatencyTracker` keeps the last `size` (default 256) latencies of successful calls of a tool
in a ring and caches their 95th percentile, recomputed every `every` (default 16) samples:
recording is O(1) and a sort of 256 floats every 16 calls costs under 1 us per call. The
percentile is the nearest-rank one: the smallest sample that at least 95 % of the samples do not
exceed. No percentile is reported before `min_samples` (default 20) samples, so that a single
early outlier does not set the pace.

`hedge_delay(config, tracker)` is the seconds to wait before hedging, or None for no hedge:

- hedging disabled: None;
- a fixed `delay_s`: that delay;
- adaptive (`delay_s` None): max(p95, `adaptive_floor_s`), and None while the tracker has
  fewer than `min_samples` samples. A tool whose latency is unknown is not hedged: hedging
  at the floor on a cold start could double its load at the worst moment.

Latencies are seconds.
"""

from __future__ import annotations

from mesh.config.policy import HedgeConfig

_PERCENTILE = 0.95


class LatencyTracker:
    """Recent successful-call latencies of one tool, and their cached p95."""

    __slots__ = ("_every", "_filled", "_min_samples", "_next", "_p95", "_ring", "_since")

    def __init__(self, size: int = 256, *, every: int = 16, min_samples: int = 20) -> None:
        if size < 1 or every < 1 or not 1 <= min_samples <= size:
            raise ValueError(
                f"latency tracker: need size >= 1, every >= 1 and 1 <= min_samples <= size "
                f"(got size={size}, every={every}, min_samples={min_samples})"
            )
        self._ring = [0.0] * size
        self._next = 0  # ring index of the next sample
        self._filled = 0  # samples held, up to size
        self._since = 0  # samples since the percentile was last computed
        self._every = every
        self._min_samples = min_samples
        self._p95: float | None = None

    @property
    def samples(self) -> int:
        """Samples held (at most `size`)."""
        return self._filled

    @property
    def p95(self) -> float | None:
        """The cached 95th percentile in seconds; None before `min_samples` samples."""
        return self._p95

    def record(self, latency_s: float) -> None:
        """Adds the latency of one successful call."""
        ring = self._ring
        ring[self._next] = latency_s
        self._next = (self._next + 1) % len(ring)
        if self._filled < len(ring):
            self._filled += 1
        self._since += 1
        if self._filled >= self._min_samples and (self._p95 is None or self._since >= self._every):
            self._recompute()

    def _recompute(self) -> None:
        ordered = sorted(
            self._ring[: self._filled] if self._filled < len(self._ring) else self._ring
        )
        # Nearest rank: the ceil(0.95 x n)-th smallest, without float ceil surprises.
        rank = -(-len(ordered) * 95 // 100)
        self._p95 = ordered[rank - 1]
        self._since = 0


def hedge_delay(config: HedgeConfig, tracker: LatencyTracker) -> float | None:
    """Seconds to wait before a hedge; None when the call is not to be hedged."""
    if not config.enabled:
        return None
    if config.delay_s is not None:
        return config.delay_s
    p95 = tracker.p95
    if p95 is None:
        return None
    return p95 if p95 > config.adaptive_floor_s else config.adaptive_floor_s
