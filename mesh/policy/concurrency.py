"""Concurrency limit per tool: at most `max_in_flight` calls, `max_queue` more waiting.

Contract:

- `try_acquire(waiter)` answers ACQUIRED (the call holds a slot now and must `release()` it),
  QUEUED (`waiter` is stored, first in first out; it will be called with no argument once a
  slot is handed to it, and from then on the call holds that slot), or REJECTED (the queue is
  full, or no waiter was given: the caller answers RESOURCE_EXHAUSTED).
- `release()` gives the caller's slot back. When a call is waiting, the slot passes straight
  to the oldest waiter, which is called before `release` returns True; otherwise the slot is
  freed and it returns False. A newcomer never overtakes a waiter: slots only free up when the
  queue is empty.
- `cancel(waiter)` takes a waiter that gave up (deadline, cancellation) out of the queue;
  True when it was still waiting, False when it already got a slot (it must then release).

Waiters run inside `release()`, i.e. inside whatever completion handler releases the slot:
they should only schedule the call's start (e.g. `loop.call_soon`) and must not raise.
No task is created per call. With `max_in_flight == 0` (unlimited) every call is ACQUIRED and
`release` does nothing: nothing is counted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import Enum

from mesh.config.policy import ConcurrencyConfig

Waiter = Callable[[], None]


class Acquisition(Enum):
    ACQUIRED = "acquired"
    QUEUED = "queued"
    REJECTED = "rejected"


ACQUIRED = Acquisition.ACQUIRED
QUEUED = Acquisition.QUEUED
REJECTED = Acquisition.REJECTED


class ConcurrencyLimiter:
    """Slots for calls in flight to one tool, with a bounded FIFO queue."""

    __slots__ = ("_in_flight", "_limit", "_max_queue", "_queue")

    def __init__(self, config: ConcurrencyConfig) -> None:
        self._limit = config.max_in_flight
        self._max_queue = config.max_queue
        self._in_flight = 0
        self._queue: deque[Waiter] = deque()

    @property
    def limit(self) -> int:
        """Slots; 0 means unlimited."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Slots held (always 0 when unlimited)."""
        return self._in_flight

    @property
    def queued(self) -> int:
        """Calls waiting for a slot."""
        return len(self._queue)

    def try_acquire(self, waiter: Waiter | None = None) -> Acquisition:
        """A slot now (ACQUIRED), `waiter` queued for one (QUEUED), or REJECTED."""
        limit = self._limit
        if not limit:
            return ACQUIRED
        if self._in_flight < limit:
            self._in_flight += 1
            return ACQUIRED
        if waiter is not None and len(self._queue) < self._max_queue:
            self._queue.append(waiter)
            return QUEUED
        return REJECTED

    def release(self) -> bool:
        """Returns a slot; True when it went to a waiting call (which has been called)."""
        if not self._limit:
            return False
        if self._queue:
            waiter = self._queue.popleft()
            waiter()  # the slot changes hands: in_flight stays the same
            return True
        if self._in_flight == 0:
            raise RuntimeError("concurrency limiter: release() without a slot held")
        self._in_flight -= 1
        return False

    def cancel(self, waiter: Waiter) -> bool:
        """Removes a queued `waiter`; False when it is not queued (it already has a slot)."""
        try:
            self._queue.remove(waiter)
        except ValueError:
            return False
        return True
