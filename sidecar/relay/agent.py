"""The agent's side: the server end of an HTTP/2 connection from an agent (a gRPC client)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sidecar.h2.connection import H2Connection, Stream, WriteBatch
from sidecar.h2.errors import ConnectionError_, ErrorCode, StreamError
from sidecar.h2.hpack_codec import HeaderList
from sidecar.h2.settings import LocalSettings

if TYPE_CHECKING:
    from sidecar.relay.relay import Relay

log = logging.getLogger("toolmesh.relay")


class ResetBudget:
    """Bounds streams the agent resets in quick succession (the HTTP/2 "rapid reset" attack).

    A token bucket: each reset of an open stream takes a token; tokens refill at `rate` per
    second up to `burst`. An empty bucket means the agent creates work and cancels it faster
    than any honest client does: the connection is closed with ENHANCE_YOUR_CALM.
    """

    __slots__ = ("_clock", "_last", "_tokens", "burst", "rate")

    def __init__(
        self, burst: float = 200.0, rate: float = 100.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.rate = rate
        self._clock = clock
        self._tokens = burst
        self._last = self._clock()

    def take(self) -> bool:
        """False when the budget is exhausted."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class AgentConnection(H2Connection):
    """Accepts an agent's streams and hands each new one to the relay."""

    client = False

    def __init__(self, relay: Relay, batch: WriteBatch, local: LocalSettings) -> None:
        super().__init__(batch, local)
        self.relay = relay
        self.last_stream_id = 0  # highest stream id the agent opened
        self.resets = ResetBudget()
        self.peer_name = "?"

    def describe(self) -> str:
        return f"agent {self.peer_name}"

    def connection_made(self, transport: object) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        assert self.transport is not None
        peer = self.transport.get_extra_info("peername")
        self.peer_name = str(peer) if peer else "unix"
        self.relay.agent_connected(self)
        self.batch.flush()

    def last_peer_stream_id(self) -> int:
        return self.last_stream_id

    def check_known_stream(self, stream_id: int, what: str) -> None:
        if stream_id > self.last_stream_id:
            raise ConnectionError_(ErrorCode.PROTOCOL_ERROR, f"{what} on idle stream {stream_id}")

    def on_headers(self, stream_id: int, headers: HeaderList, end_stream: bool) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None:
            # A second header block on a request stream: request trailers (must end the stream).
            if not end_stream:
                raise StreamError(
                    stream_id, ErrorCode.PROTOCOL_ERROR, "request trailers without END_STREAM"
                )
            stream.remote_ended = True
            self.relay.request_trailers(stream.call, headers)
            return
        if stream_id % 2 == 0 or stream_id <= self.last_stream_id:
            raise ConnectionError_(
                ErrorCode.PROTOCOL_ERROR, f"HEADERS on invalid or closed stream {stream_id}"
            )
        self.last_stream_id = stream_id
        if self.goaway_sent:
            return  # §6.8: streams above the GOAWAY's last id are ignored
        if len(self.streams) >= self.local.max_concurrent_streams:
            raise StreamError(stream_id, ErrorCode.REFUSED_STREAM, "too many concurrent streams")
        stream = Stream(self, stream_id, None)
        if end_stream:
            stream.remote_ended = True
        self.streams[stream_id] = stream
        self.relay.start_call(stream, headers, end_stream)

    def on_stream_data(self, stream: Stream, payload: bytes, end_stream: bool) -> None:
        if stream.call is None:  # answered locally (an error); the request body is not needed
            self.consumed(stream, len(payload))
            return
        self.relay.request_data(stream.call, payload, end_stream)

    def on_stream_reset(self, stream: Stream, code: int, local: bool = False) -> None:
        if not local and not self.resets.take():
            self.goaway(ErrorCode.ENHANCE_YOUR_CALM, "too many streams reset in quick succession")
        if stream.call is not None:
            self.relay.agent_reset(stream.call)

    def on_stream_closed(self, stream: Stream) -> None:
        if stream.call is not None:
            self.relay.stream_side_closed(stream.call)
        if self.goaway_sent and not self.streams:
            self.relay.agent_drained(self)

    def on_connection_lost(self, exc: Exception | None) -> None:
        for stream in list(self.streams.values()):
            stream.reset = True
            if stream.call is not None:
                self.relay.agent_reset(stream.call)
        self.streams.clear()
        self.relay.agent_disconnected(self)
