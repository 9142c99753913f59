"""The watch hub: hands each committed change to every open Watch stream.

Each subscriber has a bounded queue. The hub never waits for a subscriber: when a queue is
full, that subscriber is marked overflowed and gets nothing more, and its stream ends with
RESOURCE_EXHAUSTED (the client resumes from the last version it applied). So a slow
watcher costs at most `queue_limit` changes of memory and never slows the registry.

Changes are shared, not copied, between subscribers: nobody may modify them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable

from mesh.api.v1 import registry_pb2
from registry.tables import Change, WatchStart

DEFAULT_QUEUE_LIMIT = 1024  # changes a watcher may lag behind before its stream is closed


class WatcherOverflow(Exception):
    """The watcher fell more than its queue limit behind."""


class HubClosed(Exception):
    """The registry is shutting down."""


class Subscription:
    """One watcher's queue of changes. Iterate with `await next_change()`."""

    def __init__(self, hub: WatchHub, limit: int) -> None:
        self._hub = hub
        self._limit = limit
        self._queue: deque[Change] = deque()
        self._ready = asyncio.Event()
        self.overflowed = False
        self.closed = False

    def offer(self, change: Change) -> None:
        """Queues `change` unless the queue is full, in which case the watcher is dropped."""
        if self.overflowed or self.closed:
            return
        if len(self._queue) >= self._limit:
            self.overflowed = True
            self._queue.clear()  # nothing of it will be sent: free it now
        else:
            self._queue.append(change)
        self._ready.set()

    def close(self) -> None:
        """Ends the subscription: `next_change` raises HubClosed once the queue is drained."""
        self.closed = True
        self._ready.set()

    def cancel(self) -> None:
        """Detaches from the hub (the stream ended)."""
        self._hub.unsubscribe(self)

    async def next_change(self) -> Change:
        """The next change. Raises WatcherOverflow or HubClosed."""
        while True:
            if self.overflowed:
                raise WatcherOverflow(f"more than {self._limit} changes behind")
            if self._queue:
                return self._queue.popleft()
            if self.closed:
                raise HubClosed("the registry is shutting down")
            self._ready.clear()
            await self._ready.wait()


class WatchHub:
    """Fans committed changes out to subscribers. `publish` is the store's listener."""

    def __init__(self, queue_limit: int = DEFAULT_QUEUE_LIMIT) -> None:
        self._queue_limit = queue_limit
        self._subscribers: set[Subscription] = set()
        self._closed = False

    def subscribe(self) -> Subscription:
        """A new subscription receiving every change published from now on."""
        subscription = Subscription(self, self._queue_limit)
        if self._closed:
            subscription.close()
        else:
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def publish(self, change: Change) -> None:
        """Offers `change` to every subscriber; never blocks."""
        for subscription in tuple(self._subscribers):
            subscription.offer(change)

    def close(self) -> None:
        """Ends every subscription (registry shutdown)."""
        self._closed = True
        for subscription in tuple(self._subscribers):
            subscription.close()
        self._subscribers.clear()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)


def change_message(change: Change, store_id: str) -> registry_pb2.WatchResponse:
    """The Watch message for one change."""
    if change.state is None:
        return registry_pb2.WatchResponse(
            version=change.version, store_id=store_id, removed=change.tool
        )
    return registry_pb2.WatchResponse(
        version=change.version, store_id=store_id, upserted=change.state
    )


def initial_messages(start: WatchStart, store_id: str) -> Iterable[registry_pb2.WatchResponse]:
    """What a watcher is sent before live changes: a snapshot, or the changes it missed."""
    if start.snapshot is not None:
        snapshot = registry_pb2.Snapshot(tools=start.snapshot)
        yield registry_pb2.WatchResponse(
            version=start.version, store_id=store_id, snapshot=snapshot
        )
        return
    for change in start.changes:
        yield change_message(change, store_id)
