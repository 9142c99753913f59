"""What the echo servicer has seen, for in-process tests to assert on and wait for."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable


class CallLog:
    """Call counts per method, and the `call_id`s of calls that started and were cancelled.

    Only calls whose request carries a `call_id` are recorded as started (the plain hot path
    records nothing but its count); cancellation is counted for every call that was waiting
    when it came. Waiters are woken on every change; all methods must be used from the event
    loop the server runs on.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()  # method name -> calls received
        self.cancelled: Counter[str] = Counter()  # method name -> calls that saw cancellation
        self.failed: Counter[str] = Counter()  # method name -> calls failed by --fail-rate
        self.started_call_ids: list[str] = []
        self.cancelled_call_ids: list[str] = []
        # Replaced after each change, so a waiter always waits on the next one.
        self._changed = asyncio.Event()

    def note_started(self, call_id: str) -> None:
        """Records that the call labelled `call_id` reached its handler."""
        self.started_call_ids.append(call_id)
        self._notify()

    def note_cancelled(self, method: str, call_id: str) -> None:
        """Records that a call of `method` observed its cancellation (client or deadline)."""
        self.cancelled[method] += 1
        if call_id:
            self.cancelled_call_ids.append(call_id)
        self._notify()

    def note_failed(self, method: str) -> None:
        """Records that a call of `method` was failed by the instance's `--fail-rate`."""
        self.failed[method] += 1
        self._notify()

    def report(self) -> str:
        """One line totalling every method: `echo calls: received=N cancelled=N failed=N`
        (what `--report-calls` prints on SIGUSR1)."""
        return (
            f"echo calls: received={self.calls.total()} cancelled={self.cancelled.total()}"
            f" failed={self.failed.total()}"
        )

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Returns once `condition()` holds; it is checked now and after every change."""
        await self._wait_until(condition)

    async def wait_started(self, call_id: str) -> None:
        """Returns once a call labelled `call_id` has started (at once if it already has)."""
        await self._wait_until(lambda: call_id in self.started_call_ids)

    async def wait_cancelled(self, call_id: str) -> None:
        """Returns once a call labelled `call_id` has observed its cancellation."""
        await self._wait_until(lambda: call_id in self.cancelled_call_ids)

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _wait_until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._changed.wait()
