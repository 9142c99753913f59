"""One relayed call: the agent's stream, its attempts on endpoints, and what may be sent again."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sidecar.relay.messages import MessageScanner

if TYPE_CHECKING:
    from mesh.addresses import Address
    from mesh.telemetry.tracing import AttemptSpan, CallSpan
    from sidecar.h2.connection import Stream
    from sidecar.h2.hpack_codec import HeaderList
    from sidecar.relay.payloads import PayloadCapture
    from sidecar.relay.route import Route

# Request bytes kept so a call can be sent again (a retry, a hedge, a fallback, or an
# endpoint that provably did not process it). Beyond it the call is never sent twice.
REPLAY_LIMIT = 256 << 10


class Attempt:
    """One try of a call on one endpoint: an upstream stream once a connection takes it."""

    __slots__ = ("call", "delayed", "endpoint", "number", "span", "started", "stream", "timer")

    def __init__(self, call: Call, endpoint: Address, number: int, started: float) -> None:
        self.call = call
        self.endpoint = endpoint
        self.number = number  # 1 for the first attempt; transparent resends keep theirs
        self.started = started  # time.monotonic()
        self.stream: Stream | None = None
        self.delayed = False  # waited for a connection or a stream slot
        self.span: AttemptSpan | None = None  # set when the call is traced
        self.timer: asyncio.TimerHandle | None = None  # the per-attempt timeout

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def __repr__(self) -> str:
        return f"Attempt({self.call.path} #{self.number} at {self.endpoint})"


class Call:
    """State of one call; one small record (plus one per attempt), no task per call.

    `request` holds the request frames still needed: all of them while the call may be
    sent again, otherwise only those not yet sent. Each item is (payload, end_stream,
    credit), where credit is what to credit back to the agent once written (0 when already
    credited), or (HeaderList, True, -1) for request trailers.
    """

    __slots__ = (
        "admitted_at",
        "agent_timed",
        "attempts",
        "backoff_from",
        "capture",
        "committed",
        "deadline",
        "down",
        "failed_endpoints",
        "failures",
        "fallback_of",
        "fallback_path",
        "finished",
        "headers",
        "headers_end",
        "holds_slot",
        "last_message",
        "live",
        "metrics",
        "path",
        "pending",
        "replayable",
        "request",
        "request_bytes",
        "request_scanner",
        "response_scanner",
        "rewrite_timeout",
        "route",
        "span",
        "started",
        "status",
        "timer",
        "transparent_resends",
        "unreachable",
    )

    def __init__(
        self,
        down: Stream,
        headers: HeaderList,
        path: str,
        route: Route,
        started: float,
        deadline: float,
        limit: int,
    ) -> None:
        self.down = down
        self.headers = headers
        self.headers_end = False  # the request ended on its HEADERS (no body)
        self.path = path
        self.route = route
        self.metrics = route.metrics  # the series of the method the agent called (kept on fallback)
        self.status = 1  # the final gRPC status; CANCELLED until the call ends otherwise
        self.span: CallSpan | None = None  # set when the call is traced (sampled)
        self.capture: PayloadCapture | None = None  # set while payload logging is on
        self.started = started  # time.monotonic() when the call arrived
        self.deadline = deadline  # when the call must be over (agent's or the policy's)
        self.attempts = 0  # attempts started that count against max_attempts
        self.backoff_from = 0  # attempts at the last pushback: backoff restarts from there
        self.transparent_resends = 0
        self.live: list[Attempt] = []  # attempts in flight (more than one while hedging)
        self.committed: Attempt | None = None  # the attempt whose response the agent gets
        self.failures: list[str] = []  # "endpoint: what happened", for error messages
        self.failed_endpoints: set[Address] = set()  # avoided by later attempts
        self.unreachable: set[Address] = set()  # could not be connected to: never again
        self.fallback_of = ""  # the primary tool's name once the call went to its fallback
        self.fallback_path = ""  # the fallback's `:path` for this method
        self.finished = False
        self.admitted_at: float | None = None  # when the breaker admitted it (policy clock)
        self.holds_slot = False  # holds a concurrency slot of its tool
        self.last_message = ""  # the last failed attempt's grpc-message
        self.rewrite_timeout = False  # the policy's budget is tighter than the agent's
        self.agent_timed = False  # the agent sent grpc-timeout
        self.timer: asyncio.TimerHandle | None = None  # the deadline
        self.pending: asyncio.TimerHandle | None = None  # a backoff or hedge timer
        self.request: list[tuple[Any, bool, int]] = []
        self.request_bytes = 0
        self.replayable = True
        self.request_scanner = MessageScanner(limit)
        self.response_scanner = MessageScanner(limit)

    @property
    def tool(self) -> str:
        return self.route.tool

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def cancel_pending(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None

    def __repr__(self) -> str:
        return f"Call({self.path} tool={self.route.tool})"
