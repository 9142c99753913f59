"""Pooled HTTP/2 connections to one endpoint, and calls waiting for a stream on them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import TYPE_CHECKING

from mesh.addresses import Address
from sidecar.h2.connection import WriteBatch
from sidecar.h2.settings import LocalSettings
from sidecar.relay.endpoint import EndpointConnection

if TYPE_CHECKING:
    from sidecar.relay.call import Attempt
    from sidecar.relay.relay import Relay

log = logging.getLogger("toolmesh.relay")

CONNECT_TIMEOUT_S = 5.0
# Calls that may wait for a stream when every connection is at the endpoint's
# SETTINGS_MAX_CONCURRENT_STREAMS; beyond it, calls fail with RESOURCE_EXHAUSTED.
MAX_WAITING = 10_000


class EndpointPool:
    """Up to `size` connections to `address`; spreads calls over those with room."""

    def __init__(
        self, relay: Relay, address: Address, batch: WriteBatch, local: LocalSettings, size: int
    ) -> None:
        self.relay = relay
        self.address = address
        self.batch = batch
        self.local = local
        self.size = max(1, size)
        self.connections: list[EndpointConnection] = []
        self.waiting: deque[Attempt] = deque()
        self._next = 0
        self._connect_tasks: set[asyncio.Task[None]] = set()

    def submit(self, attempt: Attempt) -> bool:
        """Starts `attempt` on a connection, or queues it; False when the queue is full."""
        connection = self._pick()
        if connection is not None:
            self.relay.open_upstream(attempt, connection)
            return True
        if len(self.waiting) >= MAX_WAITING:
            return False
        attempt.delayed = True
        self.waiting.append(attempt)
        return True

    def cancel(self, attempt: Attempt) -> None:
        """Forgets a waiting attempt (cancelled before it got a stream)."""
        with contextlib.suppress(ValueError):
            self.waiting.remove(attempt)

    def _pick(self) -> EndpointConnection | None:
        """The next connection with room, round robin.

        Opens another connection while fewer than `size` are usable (draining ones do not
        count) and every usable one is busy, one dial at a time.
        """
        # One pass, no allocation: this runs for every call.
        connections = self.connections
        count = len(connections)
        chosen: EndpointConnection | None = None
        usable = 0
        dialing = False
        idle = False  # a ready connection with no stream: no need for another one
        for offset in range(count):
            connection = connections[(self._next + offset) % count]
            if connection.draining or connection.closed:
                continue
            usable += 1
            if not connection.connected:
                dialing = True
            elif connection.peer.max_concurrent_streams > len(connection.streams):
                if not connection.streams:
                    idle = True
                if chosen is None:
                    chosen = connection
        if usable < self.size and not dialing and not idle:
            self._connect()
        if count:
            self._next = (self._next + 1) % count
        return chosen

    def _connect(self) -> None:
        connection = EndpointConnection(self, self.batch, self.local)
        self.connections.append(connection)
        task = asyncio.get_running_loop().create_task(self._dial(connection))
        self._connect_tasks.add(task)
        task.add_done_callback(self._connect_tasks.discard)

    async def _dial(self, connection: EndpointConnection) -> None:
        loop = asyncio.get_running_loop()
        try:
            if self.address.is_unix:
                connect = loop.create_unix_connection(lambda: connection, self.address.unix_path)
            else:
                connect = loop.create_connection(
                    lambda: connection, self.address.host, self.address.port
                )
            await asyncio.wait_for(connect, CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as error:
            reason = (
                "connect timed out"
                if isinstance(error, TimeoutError)
                else (error.strerror or str(error))
            )
            self._connect_failed(connection, reason)
        finally:
            self.batch.flush()

    def _connect_failed(self, connection: EndpointConnection, reason: str) -> None:
        log.info("endpoint %s unreachable: %s", self.address, reason)
        if connection in self.connections:
            self.connections.remove(connection)
        connection.closed = True
        if any(c.connected and not c.draining for c in self.connections):
            return  # waiting calls will get streams on the connections that work
        waiting, self.waiting = self.waiting, deque()
        for attempt in waiting:
            self.relay.endpoint_unreachable(attempt, f"{self.address}: {reason}")

    def connection_ready(self, connection: EndpointConnection) -> None:
        self._dispatch_waiting()

    def _dispatch_waiting(self) -> None:
        while self.waiting:
            connection = self._pick()
            if connection is None:
                return
            self.relay.open_upstream(self.waiting.popleft(), connection)

    def stream_finished(self, connection: EndpointConnection) -> None:
        if connection.draining and not connection.streams:
            connection.abort_connection("drained")
            return
        if self.waiting:
            self._dispatch_waiting()

    def connection_draining(self, connection: EndpointConnection) -> None:
        # New calls go to a fresh connection; in-flight ones finish on the old one.
        self._dispatch_waiting()

    def connection_closed(self, connection: EndpointConnection) -> None:
        if connection in self.connections:
            self.connections.remove(connection)
        self._dispatch_waiting()

    @property
    def active_streams(self) -> int:
        return sum(len(c.streams) for c in self.connections) + len(self.waiting)

    def close(self) -> None:
        for task in self._connect_tasks:
            task.cancel()
        for connection in list(self.connections):
            connection.abort_connection("pool closed")
        self.connections.clear()
