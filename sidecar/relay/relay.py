"""The relay: routes each agent stream to a tool endpoint and moves its frames both ways.

Per call the work is: decode the request header block once, look the `:path` up in the
catalog, let the call's Route pick an endpoint, re-encode the same headers on a pooled
endpoint connection, then pass DATA, trailers and resets through. Messages are never
decoded; only their 5-byte length prefixes are followed, to enforce the message size limit.

Times are `time.monotonic()` seconds, not loop time: uvloop's clock is cached per loop
iteration, and a deadline computed from it could end after the agent's.

A call may have several attempts (retries, hedges, a fallback tool, resends of streams an
endpoint provably never processed). Its request frames are held (up to REPLAY_LIMIT) until
one attempt is committed: the first whose response headers arrive without ending the
stream. A trailers-only response (a status before any message) is not forwarded at once:
the Route decides first whether the call is tried again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from time import monotonic

from google.protobuf.message import Message

from mesh.addresses import Address
from mesh.telemetry.logs import InvocationLog
from mesh.telemetry.metrics import AttemptKind, SidecarMetrics, metrics_registry
from mesh.telemetry.trace_context import with_traceparent
from mesh.telemetry.tracing import CallSpan, Tracing
from sidecar.catalog import CatalogHolder
from sidecar.h2.connection import Stream, WriteBatch
from sidecar.h2.errors import ErrorCode
from sidecar.h2.hpack_codec import HeaderList
from sidecar.h2.settings import LocalSettings
from sidecar.relay.agent import AgentConnection
from sidecar.relay.call import REPLAY_LIMIT, Attempt, Call
from sidecar.relay.endpoint import EndpointConnection
from sidecar.relay.messages import MessageTooLarge
from sidecar.relay.payloads import PayloadCapture, decoded
from sidecar.relay.pool import EndpointPool
from sidecar.relay.route import Refusal, Route
from sidecar.relay.routes import RouteTable
from sidecar.relay.status import (
    Code,
    format_timeout,
    parse_timeout,
    percent_decode,
    status_trailers,
    trailers_only,
)

log = logging.getLogger("toolmesh.relay")

SIDECAR_TOOL = "toolmesh-sidecar"  # how the sidecar's own services appear in messages


class Relay:
    """Owns agent connections and endpoint pools; knows routing, not policy."""

    def __init__(
        self,
        holder: CatalogHolder,
        *,
        internal_address: Address | None = None,
        internal_services: Iterable[str] = (),
        max_message_bytes: int = 16 << 20,
        upstream_connections: int = 2,
        agent_settings: LocalSettings | None = None,
        endpoint_settings: LocalSettings | None = None,
        listen_hint: str = "",
        policies: bool = True,
        metrics: SidecarMetrics | None = None,
        tracing: Tracing | None = None,
        invocations: InvocationLog | None = None,
    ) -> None:
        self.holder = holder
        self.internal_address = internal_address
        self.internal_services = frozenset(internal_services)
        self.max_message_bytes = max_message_bytes
        self.upstream_connections = upstream_connections
        self.agent_settings = agent_settings or LocalSettings(max_concurrent_streams=1024)
        self.endpoint_settings = endpoint_settings or LocalSettings()
        self.listen_hint = listen_hint  # the address agents use, for error messages
        self.batch = WriteBatch()
        self.pools: dict[Address, EndpointPool] = {}
        self.agents: set[AgentConnection] = set()
        self.metrics = metrics if metrics is not None else SidecarMetrics(metrics_registry())
        self.routes = RouteTable(holder, self.metrics, policies=policies)
        self.tracing = tracing if tracing is not None else Tracing.off()
        self.invocations = invocations if invocations is not None and invocations.enabled else None
        # Payloads are kept (bounded) only when the log will print them.
        self.capture_payloads = (
            self.invocations is not None and self.invocations.payloads is not None
        )
        self._internal_routes: dict[str, Route] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.active_calls = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._server: asyncio.AbstractServer | None = None
        self.shutting_down = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    # ------------------------------------------------------------ serving

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listens on host:port (port 0: any free port); returns the bound address."""
        loop = self.loop
        self._server = await loop.create_server(self._new_agent, host, port, reuse_address=True)
        sockname = self._server.sockets[0].getsockname()
        return str(sockname[0]), int(sockname[1])

    async def start_unix(self, path: str) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(self._new_agent, path)

    def _new_agent(self) -> AgentConnection:
        return AgentConnection(self, self.batch, self.agent_settings)

    async def shutdown(self, grace_s: float) -> bool:
        """Stops accepting, tells agents (GOAWAY), waits for calls in flight up to `grace_s`.

        Returns True when every call finished within the grace period.
        """
        self.shutting_down = True
        if self._server is not None:
            self._server.close()
        for agent in list(self.agents):
            agent.goaway(ErrorCode.NO_ERROR, "sidecar shutting down")
        self.batch.flush()
        try:
            await asyncio.wait_for(self._idle.wait(), grace_s)
            finished = True
        except TimeoutError:
            finished = False
            log.warning(
                "%d calls still in flight after the %.1fs grace period", self.active_calls, grace_s
            )
        for agent in list(self.agents):
            agent.abort_connection("sidecar stopped")
        for pool in self.pools.values():
            pool.close()
        self.batch.flush()
        return finished

    def agent_connected(self, agent: AgentConnection) -> None:
        self.agents.add(agent)
        if self.shutting_down:
            agent.goaway(ErrorCode.NO_ERROR, "sidecar shutting down")

    def agent_disconnected(self, agent: AgentConnection) -> None:
        self.agents.discard(agent)

    def agent_drained(self, agent: AgentConnection) -> None:
        if self.shutting_down:
            agent.abort_connection("drained")

    def forget_endpoints(self, keep: set[Address]) -> None:
        """Closes idle pools of endpoints no longer in the catalog."""
        for address in [a for a in self.pools if a not in keep]:
            pool = self.pools[address]
            if pool.active_streams == 0:
                pool.close()
                del self.pools[address]

    # ------------------------------------------------------------ routing

    def route_for(self, path: str, service: str) -> Route | None:
        """The Route of `path`, or None when nothing serves it."""
        if service in self.internal_services and self.internal_address is not None:
            route = self._internal_routes.get(path)
            if route is None:
                method = path.rpartition("/")[2]
                metrics = self.metrics.route(SIDECAR_TOOL, path[1:])
                route = Route(SIDECAR_TOOL, service, method, (self.internal_address,), metrics)
                self._internal_routes[path] = route
            return route
        return self.routes.route(path)

    def start_call(self, down: Stream, headers: HeaderList, end_stream: bool) -> None:
        path = b""
        timeout = None
        for name, value in headers:
            if name == b":path":
                path = value
            elif name == b"grpc-timeout":
                timeout = parse_timeout(value)
        path_text = path.decode("utf-8", "replace")
        service = path_text[1:].partition("/")[0]
        route = self.route_for(path_text, service)
        if route is None:
            self._answer(down, Code.UNIMPLEMENTED, self._unknown_method_message(path_text, service))
            return
        if not route.endpoints:
            refusal = route.no_endpoint(path_text, 0, "")
            route.metrics.call_started()
            route.metrics.fast_failure(refusal.reason)
            route.metrics.call(refusal.code, 0.0)
            self._answer(down, Code.UNAVAILABLE, refusal.message, refusal.details)
            return
        now = monotonic()
        deadline = now + timeout if timeout is not None else INFINITY
        if route.timeout_s is not None:
            deadline = min(deadline, now + route.timeout_s)
        call = Call(down, headers, path_text, route, now, deadline, self.max_message_bytes)
        call.metrics.call_started()
        if self.tracing.enabled:  # a separate pass: the untraced path pays nothing
            call.span = self._start_span(call, headers, down)
        if self.capture_payloads:
            call.capture = PayloadCapture()
        call.headers_end = end_stream  # a request without a body ends on its HEADERS
        # The upstream must see the budget when the policy's is tighter than the agent's.
        call.rewrite_timeout = deadline != INFINITY and (
            timeout is None or deadline < now + timeout
        )
        call.agent_timed = timeout is not None
        down.call = call
        self.active_calls += 1
        self._idle.clear()
        if deadline != INFINITY:
            call.timer = self.loop.call_later(deadline - now, self._deadline_expired, call)
        admission = route.admit(call, self._start)
        if admission is None:
            self._start(call)
        elif isinstance(admission, Refusal):
            self._refused(call, admission)

    def _start_span(self, call: Call, headers: HeaderList, down: Stream) -> CallSpan | None:
        traceparent: bytes | None = None
        tracestate = b""
        for name, value in headers:
            if name == b"traceparent":
                traceparent = b"" if traceparent is not None else value  # repeated: invalid
            elif name == b"tracestate":
                tracestate = tracestate + b"," + value if tracestate else value
        peer = getattr(down.conn, "peer_name", None)
        return self.tracing.start_call(
            call.route.tool, call.path, traceparent, tracestate, peer, started=call.started
        )

    def _start(self, call: Call) -> None:
        if not call.finished:
            self._start_attempt(call, counted=True, kind="first")

    def _unknown_method_message(self, path: str, service: str) -> str:
        entry = self.holder.catalog.by_service.get(service)
        sidecar = self.listen_hint or "SIDECAR"
        hint = f"list the registered tools with `toolmesh tools --sidecar {sidecar}`"
        if entry is not None:
            return (
                f"method {path} not found: tool {entry.name!r} serves {service}"
                f" but not this method; {hint}"
            )
        if not service:
            return f"malformed :path {path!r}; expected /package.Service/Method"
        return f"service {service} is not registered with this sidecar; {hint}"

    def _start_attempt(self, call: Call, *, counted: bool, kind: AttemptKind) -> None:
        """Starts an attempt on the endpoint the Route picks (avoiding ones that failed)."""
        route = call.route
        avoid: AbstractSet[Address]
        if call.live or call.failed_endpoints:
            avoid = {attempt.endpoint for attempt in call.live} | call.failed_endpoints
        else:
            avoid = NOTHING_TO_AVOID
        address = route.pick(call, avoid)
        if address is None:
            detail = f"none reachable ({'; '.join(call.failures)})" if call.failures else ""
            refusal = route.no_endpoint(call.path, call.attempts, detail)
            route.metrics.fast_failure(refusal.reason)
            route.completed(call, refusal.code, monotonic() - call.started)
            self._fail(call, refusal.code, refusal.message, refusal.details)
            return
        if counted:
            call.attempts += 1
        else:
            call.transparent_resends += 1
        attempt = Attempt(call, address, call.attempts, monotonic())
        call.live.append(attempt)
        route.attempt_started(attempt)
        route.metrics.attempt_started(kind)
        if call.span is not None:
            attempt.span = call.span.child_attempt(attempt.number, address, kind, attempt.started)
        if route.attempt_timeout_s is not None:
            attempt.timer = self.loop.call_later(
                route.attempt_timeout_s, self._attempt_expired, attempt
            )
        pool = self.pools.get(address)
        if pool is None:
            pool = EndpointPool(
                self, address, self.batch, self.endpoint_settings, self.upstream_connections
            )
            self.pools[address] = pool
        if not pool.submit(attempt):
            call.live.remove(attempt)
            route.attempt_ended(attempt, True, Code.RESOURCE_EXHAUSTED)
            route.completed(call, Code.RESOURCE_EXHAUSTED, monotonic() - call.started)
            self._fail(
                call,
                Code.RESOURCE_EXHAUSTED,
                f"tool {route.tool!r}: too many calls waiting for {address}",
            )
            return
        if counted and len(call.live) == 1 and call.replayable:
            delay = route.hedge_delay(call)
            if delay is not None:
                call.cancel_pending()
                call.pending = self.loop.call_later(delay, self._hedge, call)

    def _hedge(self, call: Call) -> None:
        """The hedge delay passed without a response: send the call to another endpoint."""
        call.pending = None
        if call.finished or call.committed is not None or not call.replayable:
            return
        if call.route.hedge_allowed(call):
            call.route.metrics.hedge()
            self._start_attempt(call, counted=True, kind="hedge")
        self.batch.flush()

    def open_upstream(self, attempt: Attempt, connection: EndpointConnection) -> None:
        """Opens the attempt's stream on `connection` and sends its headers and request."""
        call = attempt.call
        if call.finished or attempt not in call.live:
            return  # cancelled while it waited for a connection
        up = connection.open_stream(attempt)
        up.partner = call.down
        attempt.stream = up
        headers = call.headers
        waited = monotonic() - call.started > WAIT_TOLERANCE_S  # queued, dialled, retried...
        if waited or attempt.number > 1 or call.fallback_of or attempt.timer is not None:
            headers = self._attempt_headers(call, attempt)
        elif call.rewrite_timeout:
            # The common case of an agent without a deadline: the policy's whole budget.
            if call.agent_timed:
                headers = self._attempt_headers(call, attempt)
            else:
                headers = [*headers, call.route.timeout_header]
        if attempt.span is not None:  # the tool's parent is this attempt's span
            headers = with_traceparent(headers, attempt.span.traceparent())
        connection.send_headers(up, headers, call.headers_end)
        for item, end_stream, credit in call.request:
            if credit < 0:
                connection.send_headers(up, item, True)
            else:
                connection.send_data(up, item, end_stream, credit)
        if call.replayable:
            # Kept for another attempt; credited at receipt, so sending credits nothing.
            return
        call.request = []

    def _attempt_headers(self, call: Call, attempt: Attempt) -> HeaderList:
        """The request headers as this attempt sends them: the budget left of the deadline
        (never later than the agent's), `grpc-previous-rpc-attempts`, the fallback's path."""
        headers: HeaderList = []
        path = call.fallback_path
        for name, value in call.headers:
            if name == b"grpc-timeout" or name == b"grpc-previous-rpc-attempts":
                continue
            if name == b":path" and path:
                value = path.encode()
            headers.append((name, value))
        remaining = call.deadline - monotonic()
        if call.route.attempt_timeout_s is not None:
            remaining = min(remaining, attempt.started + call.route.attempt_timeout_s - monotonic())
        if remaining != INFINITY:
            headers.append((b"grpc-timeout", format_timeout(max(0.001, remaining))))
        if attempt.number > 1:
            headers.append((b"grpc-previous-rpc-attempts", str(attempt.number - 1).encode()))
        return headers

    # ------------------------------------------------------------ requests

    def request_data(self, call: Call, payload: bytes, end_stream: bool) -> None:
        down = call.down
        if call.capture is not None:
            call.capture.add(call.capture.request, payload)
        try:
            call.request_scanner.feed(payload)
        except MessageTooLarge as error:
            down.conn.consumed(down, len(payload))
            self._abort(
                call,
                Code.RESOURCE_EXHAUSTED,
                f"request to {call.path}: {error} (set by --max-message-bytes)",
            )
            return
        size = len(payload)
        if call.replayable:
            call.request_bytes += size
            if call.request_bytes <= REPLAY_LIMIT:
                call.request.append((payload, end_stream, 0))
                down.conn.consumed(down, size)  # bounded by REPLAY_LIMIT per call
                for attempt in call.live:
                    up = attempt.stream
                    if up is not None:
                        up.conn.send_data(up, payload, end_stream, 0)
                return
            self._stop_replaying(call)
        target = call.committed or (call.live[0] if call.live else None)
        up = target.stream if target is not None else None
        if up is not None:
            up.conn.send_data(up, payload, end_stream, size)
        else:
            call.request.append((payload, end_stream, size))

    def _stop_replaying(self, call: Call) -> None:
        """The request outgrew what is held: one attempt carries on, alone, never resent."""
        call.replayable = False
        call.cancel_pending()  # no hedge or retry can follow now
        keep = call.committed or (call.live[0] if call.live else None)
        for attempt in list(call.live):
            if attempt is not keep:
                self._cancel_attempt(attempt)
        if keep is not None and keep.stream is not None:
            call.request = []  # everything held so far was sent on it

    def request_trailers(self, call: Call | None, headers: HeaderList) -> None:
        if call is None:
            return
        for attempt in call.live:
            if attempt.stream is not None:
                attempt.stream.conn.send_headers(attempt.stream, headers, True)
        if call.replayable or not call.live or call.live[0].stream is None:
            call.request.append((headers, True, -1))

    def agent_reset(self, call: Call) -> None:
        """The agent cancelled the call (or its connection went away)."""
        for attempt in list(call.live):
            self._cancel_attempt(attempt)
        if not call.finished:
            call.route.completed(call, Code.CANCELLED, monotonic() - call.started)
        self._finish(call)

    def _attempt_expired(self, attempt: Attempt) -> None:
        """The attempt's own timeout passed before its response started: it failed."""
        attempt.timer = None
        call = attempt.call
        if call.finished or call.committed is not None or attempt not in call.live:
            return
        self._withdraw(attempt)
        timeout = call.route.attempt_timeout_s
        reason = f"attempt timed out after {timeout:g}s"
        headers = trailers_only(Code.DEADLINE_EXCEEDED, f"tool {call.tool!r}: {reason}")
        self._attempt_failed(
            attempt, Code.DEADLINE_EXCEEDED, headers, unprocessed=False, reason=reason
        )
        self.batch.flush()

    def _cancel_attempt(self, attempt: Attempt) -> None:
        """Cancels an attempt in flight (the agent left, another attempt won, time ran out)."""
        attempt.cancel_timer()
        call = attempt.call
        if attempt in call.live:
            call.live.remove(attempt)
            call.route.attempt_ended(attempt, True, Code.CANCELLED)  # not the endpoint's fault
        self._withdraw(attempt)

    def _withdraw(self, attempt: Attempt) -> None:
        """Stops an attempt on the wire: resets its stream, or takes it out of the queue
        of a connection it was waiting for."""
        up = attempt.stream
        if up is not None:
            up.conn.send_rst(up, ErrorCode.CANCEL)
        else:
            pool = self.pools.get(attempt.endpoint)
            if pool is not None:
                pool.cancel(attempt)

    # ------------------------------------------------------------ responses

    def response_headers(self, attempt: Attempt, headers: HeaderList, end_stream: bool) -> None:
        call = attempt.call
        if call.committed is None:
            if call.finished or attempt not in call.live:
                return
            if end_stream:
                code = _status_of(headers)
                if code != Code.OK:
                    # A status before any message: the Route may try the call again.
                    self._attempt_failed(attempt, code, headers, unprocessed=False)
                    return
            self._commit(attempt)
            if call.fallback_of:
                headers = [*headers, (b"x-toolmesh-fallback", call.route.tool.encode())]
        elif attempt is not call.committed:
            return
        if end_stream:  # first: forwarding the trailers may finish the call at once
            self._completed(call, _status_of(headers))
        call.down.conn.send_headers(call.down, headers, end_stream)

    def _commit(self, attempt: Attempt) -> None:
        """`attempt`'s response goes to the agent; every other attempt is cancelled."""
        call = attempt.call
        call.committed = attempt
        attempt.cancel_timer()
        call.cancel_pending()
        for other in list(call.live):
            if other is not attempt:
                self._cancel_attempt(other)
        call.down.partner = attempt.stream
        call.replayable = False
        call.request = [r for r in call.request if r[2] > 0]  # only unsent, uncredited

    def response_data(self, attempt: Attempt, payload: bytes, end_stream: bool) -> None:
        call = attempt.call
        up = attempt.stream
        if attempt is not call.committed:
            if up is not None:
                up.conn.consumed(up, len(payload))
            return
        try:
            call.response_scanner.feed(payload)
        except MessageTooLarge as error:
            if up is not None:
                up.conn.consumed(up, len(payload))
            self._abort(
                call,
                Code.RESOURCE_EXHAUSTED,
                f"response from {call.path}: {error} (set by --max-message-bytes)",
            )
            return
        if call.capture is not None:
            call.capture.add(call.capture.response, payload)
        call.down.conn.send_data(call.down, payload, end_stream, len(payload))

    def endpoint_reset(self, attempt: Attempt, code: int) -> None:
        """The endpoint reset the attempt's stream."""
        call = attempt.call
        if call.committed is None:
            if code == ErrorCode.REFUSED_STREAM:
                # RFC 9113 §8.7: a refused stream was not processed; it may go elsewhere.
                self.endpoint_refused(attempt, f"{attempt.endpoint} refused the stream")
            elif attempt in call.live:
                grpc_code = Code.CANCELLED if code == ErrorCode.CANCEL else Code.INTERNAL
                message = f"{attempt.endpoint} reset the stream ({_h2_code_name(code)})"
                self._attempt_failed(
                    attempt, grpc_code, trailers_only(grpc_code, message), unprocessed=False
                )
            return
        if attempt is not call.committed:
            return
        down = call.down
        if code == ErrorCode.NO_ERROR and down.local_ended:
            return  # the response is complete; the endpoint just stops reading the request
        status = Code.CANCELLED if code == ErrorCode.CANCEL else Code.INTERNAL
        call.route.attempt_ended(attempt, False, status)
        call.status = status
        call.route.completed(
            call,
            status,
            monotonic() - call.started,
        )
        down.conn.send_rst(down, code)

    def endpoint_refused(self, attempt: Attempt, reason: str) -> None:
        """The endpoint provably did not process the attempt (REFUSED_STREAM, GOAWAY)."""
        call = attempt.call
        attempt.stream = None
        if attempt not in call.live or call.finished:
            return
        headers = trailers_only(Code.UNAVAILABLE, f"tool {call.tool!r}: {reason}")
        self._attempt_failed(attempt, Code.UNAVAILABLE, headers, unprocessed=True, reason=reason)

    def endpoint_unreachable(self, attempt: Attempt, reason: str) -> None:
        """The endpoint could not be connected to: nothing was sent."""
        call = attempt.call
        if attempt not in call.live or call.finished:
            return
        call.unreachable.add(attempt.endpoint)
        headers = trailers_only(Code.UNAVAILABLE, f"tool {call.tool!r}: {reason}")
        self._attempt_failed(
            attempt, Code.UNAVAILABLE, headers, unprocessed=True, reason=reason, endpoint_fault=True
        )

    def endpoint_lost(self, attempt: Attempt, reason: str) -> None:
        """The endpoint's connection broke while the attempt was on it."""
        call = attempt.call
        attempt.stream = None
        if call.finished:
            return
        message = f"tool {call.tool!r}: {reason}"
        if call.committed is None:
            if attempt in call.live:
                self._attempt_failed(
                    attempt,
                    Code.UNAVAILABLE,
                    trailers_only(Code.UNAVAILABLE, message),
                    unprocessed=False,
                    reason=reason,
                )
            return
        if attempt is call.committed:
            call.route.attempt_ended(attempt, False, Code.UNAVAILABLE)
            call.route.completed(call, Code.UNAVAILABLE, monotonic() - call.started)
            call.down.partner = None
            self._fail(call, Code.UNAVAILABLE, message)

    def _attempt_failed(
        self,
        attempt: Attempt,
        code: int,
        headers: HeaderList,
        *,
        unprocessed: bool,
        reason: str = "",
        endpoint_fault: bool | None = None,
    ) -> None:
        """An attempt ended without a response to forward: try again, or end the call."""
        call = attempt.call
        route = call.route
        attempt.cancel_timer()
        if attempt in call.live:
            call.live.remove(attempt)
        if endpoint_fault is None:  # a refused stream or GOAWAY is no fault of the endpoint
            endpoint_fault = not unprocessed and code in ENDPOINT_FAILURES
        route.attempt_ended(attempt, not endpoint_fault, code)
        call.last_message = reason or _message_of(headers)
        call.failures.append(f"{attempt.endpoint}: {call.last_message or Code(code).name}")
        if code in ENDPOINT_FAILURES:
            call.failed_endpoints.add(attempt.endpoint)
        if call.live:
            return  # another attempt (a hedge) is still running: wait for it
        if call.replayable:
            decision = route.retry(
                call, code, _header(headers, b"grpc-retry-pushback-ms"), unprocessed
            )
        else:
            decision = None  # the request was too large to hold: it cannot be sent again
        if isinstance(decision, float):
            if monotonic() + decision < call.deadline:
                route.metrics.retry(code, unprocessed)
                kind: AttemptKind = "resend" if unprocessed else "retry"
                if decision <= 0:
                    self._start_attempt(call, counted=not unprocessed, kind=kind)
                else:
                    call.cancel_pending()
                    call.pending = self.loop.call_later(
                        decision, self._retry, call, not unprocessed
                    )
                return
        elif isinstance(decision, Refusal):
            self._refused(call, decision)
            return
        if route.fallback and call.replayable and not call.fallback_of and self._to_fallback(call):
            return
        if code == Code.DEADLINE_EXCEEDED and call.deadline - monotonic() < DEADLINE_RACE_S:
            # The tool enforced the deadline the mesh sent it a moment before the mesh's own
            # timer fired: answer as the mesh would, with the details an agent can act on.
            call.cancel_timer()
            self._deadline_expired(call)
            return
        # End the call with what the tool said (a trailers-only response).
        route.completed(call, code, monotonic() - call.started)
        self._end_with(call, headers)

    def _retry(self, call: Call, counted: bool) -> None:
        call.pending = None
        if not call.finished and call.committed is None and not call.down.reset:
            self._start_attempt(call, counted=counted, kind="retry" if counted else "resend")
        self.batch.flush()

    def _to_fallback(self, call: Call) -> bool:
        """Sends the call to its tool's fallback (same method name); False when impossible."""
        primary = call.route
        fallback = self.routes.fallback_route(primary)
        if fallback is None or not fallback.endpoints:
            return False
        call.fallback_of = primary.tool
        call.fallback_path = f"/{fallback.service}/{fallback.method}"
        primary.completed(call, Code.UNAVAILABLE, monotonic() - call.started)
        primary.released(call)
        call.route = fallback
        call.attempts = 0
        call.failed_endpoints.clear()
        primary.metrics.fallback(fallback.tool)
        if call.span is not None:
            call.span.fallback(fallback.tool, call.fallback_path[1:], monotonic())
        self._start_attempt(call, counted=True, kind="fallback")
        return True

    def _refused(self, call: Call, refusal: Refusal) -> None:
        """The Route refused the call (breaker open, budget spent...): fallback or fail."""
        route = call.route
        if (
            route.fallback
            and call.replayable
            and not call.fallback_of
            and refusal.code == Code.UNAVAILABLE
            and self._to_fallback(call)
        ):
            return
        if refusal.reason:
            route.metrics.fast_failure(refusal.reason)
            if call.span is not None:
                call.span.refused(refusal.reason)
        route.completed(call, refusal.code, monotonic() - call.started)
        self._fail(call, refusal.code, refusal.message, refusal.details)

    def _deadline_expired(self, call: Call) -> None:
        call.timer = None
        if call.finished:
            return
        for attempt in list(call.live):
            self._cancel_attempt(attempt)
        elapsed = monotonic() - call.started
        call.route.completed(call, Code.DEADLINE_EXCEEDED, elapsed)
        refusal = call.route.deadline_refusal(call, elapsed, not call.rewrite_timeout)
        call.route.metrics.fast_failure(refusal.reason)
        self._fail(call, refusal.code, refusal.message, refusal.details)
        self.batch.flush()

    def _completed(self, call: Call, code: int) -> None:
        """The committed attempt's response ended with `code`."""
        attempt = call.committed
        if attempt is not None and attempt in call.live:
            call.live.remove(attempt)
            call.route.attempt_ended(attempt, code not in ENDPOINT_FAILURES, code)
        call.status = code
        call.route.completed(call, code, monotonic() - call.started)
        call.cancel_timer()

    # ------------------------------------------------------------ endings

    def _answer(self, down: Stream, code: Code, message: str, details: bytes = b"") -> None:
        """A trailers-only response for a stream that never became a call."""
        headers = trailers_only(code, message)
        if details:
            headers.append((b"grpc-status-details-bin", details))
        down.conn.send_headers(down, headers, True)
        if not down.remote_ended:
            # Tell the agent to stop sending the request body: it will not be read.
            down.conn.send_rst(down, ErrorCode.NO_ERROR)
        down.conn.stream_closed(down)

    def _end_with(self, call: Call, headers: HeaderList) -> None:
        """Ends the agent's stream with a header block (a trailers-only response)."""
        down = call.down
        call.status = _status_of(headers)
        if not down.reset and not down.local_ended:
            if call.fallback_of:
                headers = [*headers, (b"x-toolmesh-fallback", call.route.tool.encode())]
            down.conn.send_headers(down, headers, True)
            if not down.remote_ended:
                down.conn.send_rst(down, ErrorCode.NO_ERROR)
        if down.conn.streams.get(down.id) is down and down.closed:
            down.conn.stream_closed(down)
        self._finish(call)

    def _fail(self, call: Call, code: int, message: str, details: bytes = b"") -> None:
        """Ends the call with a status the mesh made (the endpoint side is gone)."""
        if call.committed is not None:  # response headers went out: end with trailers
            headers = status_trailers(Code(code), message)
        else:
            headers = trailers_only(Code(code), message)
        if details:
            headers.append((b"grpc-status-details-bin", details))
        self._end_with(call, headers)

    def _abort(self, call: Call, code: int, message: str) -> None:
        """Fails the call and cancels its attempts."""
        for attempt in list(call.live):
            self._cancel_attempt(attempt)
        call.route.completed(call, code, monotonic() - call.started)
        self._fail(call, code, message)

    def stream_side_closed(self, call: Call) -> None:
        """One side's stream closed; the call ends when both have (a reset ends both)."""
        down = call.down
        committed = call.committed
        up = committed.stream if committed is not None else None
        if down.reset and up is not None and not up.closed:
            up.conn.send_rst(up, ErrorCode.CANCEL)
        if down.closed and (committed is None or up is None or up.closed):
            if committed is not None and committed in call.live:
                call.live.remove(committed)
                call.route.attempt_ended(committed, True, call.status)
            self._finish(call)

    def _log_invocation(self, call: Call, duration_s: float, trace_id: str | None) -> None:
        committed = call.committed
        assert self.invocations is not None
        request: bytes | bytearray | Message | None = None
        response: bytes | bytearray | Message | None = None
        capture = call.capture
        if capture is not None:
            route = call.route
            entry = self.holder.catalog.tools.get(route.tool)
            request = decoded(entry, route.service, route.method, capture.request, False)
            if capture.response:
                response = decoded(entry, route.service, route.method, capture.response, True)
        self.invocations.record(
            tool=call.fallback_of or call.route.tool,
            method=call.path[1:],
            code=call.status,
            duration_s=duration_s,
            attempts=call.attempts,
            trace_id=trace_id or "",
            endpoint=str(committed.endpoint) if committed is not None else "",
            fallback=call.route.tool if call.fallback_of else "",
            message=call.last_message if call.status else "",
            request=request,
            response=response,
        )

    def _finish(self, call: Call) -> None:
        if call.finished:
            return
        call.finished = True
        now = monotonic()
        span = call.span
        trace_id = None
        if span is not None:
            span.end(call.status, now, attempts=call.attempts)
            trace_id = span.trace_id_hex
        call.metrics.call(call.status, now - call.started, trace_id)
        if self.invocations is not None:
            self._log_invocation(call, now - call.started, trace_id)
        call.cancel_timer()
        call.cancel_pending()
        for attempt in list(call.live):
            self._cancel_attempt(attempt)
        # Break the reference cycles (call <-> streams <-> attempts) so reference counting
        # frees the call at once: cyclic garbage collection was 8 % of the sidecar's CPU.
        down = call.down
        down.call = None
        down.partner = None
        committed = call.committed
        if committed is not None:
            if committed.stream is not None:
                committed.stream.partner = None
                committed.stream = None
            call.committed = None
        call.request = []
        call.route.released(call)
        self.active_calls -= 1
        if self.active_calls == 0:
            self._idle.set()


INFINITY = float("inf")
# A call held longer than this before it is sent gets `grpc-timeout` lowered by the wait.
WAIT_TOLERANCE_S = 0.001
NOTHING_TO_AVOID: frozenset[Address] = frozenset()
# A tool's DEADLINE_EXCEEDED this close to the call's deadline is the deadline the mesh sent
# it (the tool's timer and the relay's fire together; either may be processed first).
DEADLINE_RACE_S = 0.02
# Statuses that count against the endpoint that returned them (outlier ejection).
ENDPOINT_FAILURES = frozenset({Code.UNAVAILABLE, Code.INTERNAL, Code.UNKNOWN, Code.DATA_LOSS})


def _header(headers: HeaderList, name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def _status_of(headers: HeaderList) -> int:
    value = _header(headers, b"grpc-status")
    if value is None:
        return Code.UNKNOWN
    try:
        return int(value)
    except ValueError:
        return Code.UNKNOWN


def _message_of(headers: HeaderList) -> str:
    value = _header(headers, b"grpc-message")
    return percent_decode(value) if value else ""


def _h2_code_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return hex(code)
