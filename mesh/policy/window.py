"""Event counts over a sliding time window, kept in a fixed ring of buckets.

The window of `window_s` seconds is cut into `buckets` equal slices. Counts are added to the
slice that holds the time of the last `roll(now)`; a slice is zeroed when the clock has moved a
whole window past it. So a count stops being part of the window between
`window_s - window_s / buckets` and `window_s` seconds after it was added: the window is exact to
one bucket, which is what a budget or a failure rate needs, and costs O(1) per event (a roll
clears at most `buckets` slices, however long the clock was idle).

Times are seconds on a monotonic clock; the owner passes `now` to `roll`, so this class reads no
clock itself.
"""

from __future__ import annotations

# Far enough in the past that the first roll clears every (already empty) bucket.
_NEVER = -(1 << 62)


class SlidingCounts:
    """`counters` independent integer counts over the last `window_s` seconds.

    Call `roll(now)` before `add` or reading `totals` so that expired slices are dropped.
    `totals[i]` is the sum of counter `i` over the window.
    """

    __slots__ = ("_bucket_s", "_epoch", "_roll_at", "_row", "_rows", "totals")

    def __init__(self, window_s: float, counters: int, buckets: int = 10) -> None:
        if not window_s > 0:
            raise ValueError(f"sliding window: window_s must be > 0 (got {window_s})")
        if buckets < 1 or counters < 1:
            raise ValueError(
                f"sliding window: buckets and counters must be >= 1 (got {buckets}, {counters})"
            )
        self._bucket_s = window_s / buckets
        self._rows = [[0] * counters for _ in range(buckets)]
        self._epoch = _NEVER  # index of the slice `_row` holds, in bucket widths since 0
        self._roll_at = float("-inf")  # when the current slice ends: the next roll's work
        self._row = self._rows[0]
        self.totals = [0] * counters

    def roll(self, now: float) -> None:
        """Moves the window's end to `now`, zeroing the slices it left behind."""
        if now < self._roll_at:  # the common case: still in the current slice
            return
        epoch = int(now // self._bucket_s)
        current = self._epoch
        # A clock that steps back (it should not: it is monotonic) keeps counting in the
        # current slice rather than rewriting history.
        if epoch <= current:
            return
        rows = self._rows
        size = len(rows)
        totals = self.totals
        if epoch - current >= size:
            for row in rows:
                row[:] = [0] * len(row)
            totals[:] = [0] * len(totals)
        else:
            for passed in range(current + 1, epoch + 1):
                row = rows[passed % size]
                for index, count in enumerate(row):
                    if count:
                        totals[index] -= count
                        row[index] = 0
        self._epoch = epoch
        self._row = rows[epoch % size]
        self._roll_at = (epoch + 1) * self._bucket_s

    def add(self, counter: int, amount: int = 1) -> None:
        """Adds `amount` to counter `counter` in the current slice (the last `roll`'s)."""
        self._row[counter] += amount
        self.totals[counter] += amount

    def clear(self) -> None:
        """Forgets every count."""
        for row in self._rows:
            row[:] = [0] * len(row)
        self.totals[:] = [0] * len(self.totals)
