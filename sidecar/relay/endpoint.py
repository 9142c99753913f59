"""The tool's side: the client end of a pooled HTTP/2 connection to one tool endpoint."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sidecar.h2.connection import H2Connection, Stream, WriteBatch
from sidecar.h2.errors import ConnectionError_, ErrorCode
from sidecar.h2.frames import MAX_STREAM_ID
from sidecar.h2.hpack_codec import HeaderList
from sidecar.h2.settings import LocalSettings

if TYPE_CHECKING:
    from sidecar.relay.call import Attempt
    from sidecar.relay.pool import EndpointPool

log = logging.getLogger("toolmesh.relay")


class EndpointConnection(H2Connection):
    """Carries calls to one endpoint. Opens streams; never accepts them."""

    client = True

    def __init__(self, pool: EndpointPool, batch: WriteBatch, local: LocalSettings) -> None:
        super().__init__(batch, local)
        self.pool = pool
        self.next_stream_id = 1
        self.connected = False
        self.draining = False  # no new streams: GOAWAY received or stream ids running out

    def describe(self) -> str:
        return f"endpoint {self.pool.address}"

    @property
    def capacity(self) -> int:
        """Streams this connection may still open."""
        if self.draining or self.closed or not self.connected:
            return 0
        return self.peer.max_concurrent_streams - len(self.streams)

    def on_settings(self) -> None:
        # Streams are opened only once the endpoint's SETTINGS are known: before that its
        # SETTINGS_MAX_CONCURRENT_STREAMS is unknown, and opening too many gets them refused
        # (or the connection cut). It costs one round trip, once per connection.
        if not self.connected:
            self.connected = True
            self.pool.connection_ready(self)

    def check_known_stream(self, stream_id: int, what: str) -> None:
        if stream_id >= self.next_stream_id or stream_id % 2 == 0:
            raise ConnectionError_(
                ErrorCode.PROTOCOL_ERROR, f"{what} on stream {stream_id}, never opened"
            )

    def open_stream(self, attempt: Attempt) -> Stream:
        """Allocates the next stream id for `attempt`; the caller sends its headers at once."""
        stream = Stream(self, self.next_stream_id, attempt)
        self.next_stream_id += 2
        if self.next_stream_id > MAX_STREAM_ID - 2:
            self.draining = True  # §5.1.1: ids cannot be reused; the pool opens a new connection
        self.streams[stream.id] = stream
        return stream

    def on_headers(self, stream_id: int, headers: HeaderList, end_stream: bool) -> None:
        stream = self.streams.get(stream_id)
        if stream is None:
            self.check_known_stream(stream_id, "HEADERS")
            return  # a stream we reset: nothing to deliver
        if end_stream:
            stream.remote_ended = True
        self.pool.relay.response_headers(stream.call, headers, end_stream)
        if end_stream and stream.closed:
            self.stream_closed(stream)

    def on_stream_data(self, stream: Stream, payload: bytes, end_stream: bool) -> None:
        self.pool.relay.response_data(stream.call, payload, end_stream)

    def on_stream_reset(self, stream: Stream, code: int, local: bool = False) -> None:
        self.pool.relay.endpoint_reset(stream.call, code)

    def on_stream_closed(self, stream: Stream) -> None:
        self.pool.relay.stream_side_closed(stream.call.call)
        self.pool.stream_finished(self)

    def on_goaway(self, last_stream_id: int, code: int, debug: bytes) -> None:
        self.draining = True
        log.info(
            "%s sent GOAWAY %s (last stream %d)%s",
            self.describe(),
            _code_name(code),
            last_stream_id,
            f": {debug.decode(errors='replace')}" if debug else "",
        )
        # Streams above last_stream_id were never processed: they may safely go elsewhere.
        unprocessed = [s for sid, s in self.streams.items() if sid > last_stream_id]
        for stream in unprocessed:
            stream.reset = True
            self.streams.pop(stream.id, None)
            self.pool.relay.endpoint_refused(stream.call, f"{self.pool.address} is going away")
        self.pool.connection_draining(self)
        if not self.streams:
            self.abort_connection("drained after GOAWAY")

    def on_connection_lost(self, exc: Exception | None) -> None:
        streams = list(self.streams.values())
        self.streams.clear()
        reason = f"connection to {self.pool.address} lost" + (f": {exc}" if exc else "")
        for stream in streams:
            stream.reset = True
            self.pool.relay.endpoint_lost(stream.call, reason)
        self.pool.connection_closed(self)


def _code_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return hex(code)
