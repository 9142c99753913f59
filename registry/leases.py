"""Leased instances: lease arithmetic and the reaper that removes expired instances.

Leases are absolute wall-clock times (seconds since the epoch, as `time.time()`), so they
keep their meaning across a restart: an instance whose lease ended while the registry was
down is removed as soon as the reaper starts.

The reaper sleeps until the earliest lease end (not a fixed poll) and is woken early by
`poke()` whenever a lease is created or renewed. Its decision step, `reap_once`, takes the
time from an injected clock, so tests drive it with a fake clock and no waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from registry.errors import StorageFailure

DEFAULT_TTL = 10.0  # seconds, when RegisterInstance leaves `ttl` unset
MIN_TTL = 1.0  # seconds
MAX_TTL = 3600.0  # seconds
RETRY_AFTER_FAILURE = 1.0  # seconds the reaper waits after the store failed under it

Clock = Callable[[], float]
"""Returns the wall-clock time in seconds since the epoch (`time.time` in production)."""

SYSTEM_CLOCK: Clock = time.time

_log = logging.getLogger(__name__)


class LeaseTable(Protocol):
    """What the reaper needs of the store."""

    async def expire_instances(self, now: float) -> Sequence[int]:
        """Removes every instance whose lease ended at or before `now`; returns the versions
        of the changes made (one per removed instance)."""
        ...

    async def next_lease_end(self) -> float | None:
        """The earliest lease end of any stored instance, or None when there is none."""
        ...


def lease_end(now: float, ttl: float) -> float:
    """When a lease granted at `now` for `ttl` seconds ends."""
    return now + ttl


def seconds_until(deadline: float | None, now: float) -> float | None:
    """How long to sleep before `deadline`: None (sleep until poked) when there is no
    deadline, 0 when it has passed."""
    if deadline is None:
        return None
    return max(0.0, deadline - now)


class Reaper:
    """Removes expired instances from a `LeaseTable`, one change (and version) each."""

    def __init__(self, table: LeaseTable, clock: Clock = SYSTEM_CLOCK) -> None:
        self._table = table
        self._clock = clock
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """A lease was created or renewed: recompute when to wake up."""
        self._wake.set()

    async def reap_once(self) -> float | None:
        """Removes what has expired now; returns the seconds until the next lease ends
        (None when no lease is left)."""
        removed = await self._table.expire_instances(self._clock())
        if removed:
            _log.info("expired %d instance lease(s), now at version %d", len(removed), removed[-1])
        return seconds_until(await self._table.next_lease_end(), self._clock())

    async def run(self) -> None:
        """Reaps forever; cancel the task to stop it."""
        while True:
            # Cleared before reading the next lease end, so a poke that lands while we
            # read is not lost: it makes the wait below return at once.
            self._wake.clear()
            try:
                delay = await self.reap_once()
            except StorageFailure as error:
                _log.error("lease reaper: %s; retrying in %gs", error, RETRY_AFTER_FAILURE)
                delay = RETRY_AFTER_FAILURE
            if delay is not None and delay <= 0:
                continue
            # A timeout means the earliest lease has ended: loop round and reap it.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
