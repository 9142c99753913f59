"""One relayed call: the agent's stream, the endpoint's stream, and what may be sent again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sidecar.relay.messages import MessageScanner

if TYPE_CHECKING:
    from mesh.addresses import Address
    from sidecar.h2.connection import Stream
    from sidecar.h2.hpack_codec import HeaderList

# Request bytes kept so a call can be sent again (an endpoint refused the stream, went away
# before processing it, or could not be reached). Beyond it the call is never replayed.
REPLAY_LIMIT = 256 << 10


class Call:
    """State of one call; one small record, no task or future per call.

    `request` holds the request frames still needed: all of them while the call may be
    replayed, otherwise only those not yet sent. Each item is (payload, end_stream, credit),
    where credit is what to credit back to the agent once written (0 when already credited),
    or (HeaderList, True, -1) for request trailers.
    """

    __slots__ = (
        "deadline",
        "delayed",
        "down",
        "endpoint",
        "headers",
        "headers_end",
        "path",
        "replayable",
        "request",
        "request_bytes",
        "request_scanner",
        "response_scanner",
        "response_started",
        "tool",
        "tried",
        "up",
    )

    def __init__(
        self,
        down: Stream,
        headers: HeaderList,
        path: str,
        tool: str,
        deadline: float | None,
        limit: int,
    ) -> None:
        self.down = down
        self.up: Stream | None = None
        self.headers = headers
        self.headers_end = False  # the request ended on its HEADERS (no body)
        self.path = path
        self.tool = tool
        self.deadline = deadline  # loop time when the agent's grpc-timeout runs out
        self.endpoint: Address | None = None
        self.delayed = False  # waited for a connection or a stream: grpc-timeout is recomputed
        self.tried: list[str] = []  # "address: reason" of endpoints that failed this call
        self.request: list[tuple[Any, bool, int]] = []
        self.request_bytes = 0
        self.replayable = True
        self.response_started = False
        self.request_scanner = MessageScanner(limit)
        self.response_scanner = MessageScanner(limit)

    def __repr__(self) -> str:
        return f"Call({self.path} tool={self.tool} endpoint={self.endpoint})"
