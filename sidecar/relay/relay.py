"""The relay: routes each agent stream to a tool endpoint and moves its frames both ways.

Per call the work is: decode the request header block once, look the `:path` up in the
catalog, pick an endpoint (round robin), re-encode the same headers on a pooled endpoint
connection, then pass DATA, trailers and resets through. Messages are never decoded; only
their 5-byte length prefixes are followed, to enforce the message size limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from mesh.addresses import Address
from sidecar.catalog import CatalogHolder
from sidecar.h2.connection import Stream, WriteBatch
from sidecar.h2.errors import ErrorCode
from sidecar.h2.hpack_codec import HeaderList
from sidecar.h2.settings import LocalSettings
from sidecar.relay.agent import AgentConnection
from sidecar.relay.call import REPLAY_LIMIT, Call
from sidecar.relay.endpoint import EndpointConnection
from sidecar.relay.messages import MessageTooLarge
from sidecar.relay.pool import EndpointPool
from sidecar.relay.status import Code, format_timeout, parse_timeout, status_trailers, trailers_only

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
        self._round_robin: dict[str, int] = {}
        self.active_calls = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._server: asyncio.AbstractServer | None = None
        self.shutting_down = False

    # ------------------------------------------------------------ serving

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listens on host:port (port 0: any free port); returns the bound address."""
        loop = asyncio.get_running_loop()
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

    # ------------------------------------------------------------ requests

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
        if service in self.internal_services and self.internal_address is not None:
            tool = SIDECAR_TOOL
            endpoints: tuple[Address, ...] = (self.internal_address,)
        else:
            catalog = self.holder.catalog
            entry = catalog.by_path.get(path_text)
            if entry is None:
                self._answer(
                    down, Code.UNIMPLEMENTED, self._unknown_method_message(path_text, service)
                )
                return
            tool, endpoints = entry.name, entry.endpoints
            if not endpoints:
                self._answer(
                    down,
                    Code.UNAVAILABLE,
                    f"tool {tool!r} has no endpoints registered (method {path_text})",
                )
                return
        deadline = time.monotonic() + timeout if timeout is not None else None
        call = Call(down, headers, path_text, tool, deadline, self.max_message_bytes)
        down.call = call
        self.active_calls += 1
        self._idle.clear()
        call.headers_end = end_stream  # a request without a body ends on its HEADERS
        self._dispatch(call, endpoints)

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

    def _dispatch(self, call: Call, endpoints: tuple[Address, ...]) -> None:
        """Sends `call` to the next endpoint of its tool that it has not tried yet."""
        if call.tried:
            tried = {entry.partition(": ")[0] for entry in call.tried}
            candidates: tuple[Address, ...] = tuple(e for e in endpoints if str(e) not in tried)
        else:
            candidates = endpoints
        if not candidates:
            detail = "; ".join(call.tried) or "no endpoints"
            self.fail(
                call, Code.UNAVAILABLE, f"tool {call.tool!r}: no reachable endpoint ({detail})"
            )
            return
        index = self._round_robin.get(call.tool, 0)
        self._round_robin[call.tool] = index + 1
        address = candidates[index % len(candidates)]
        call.endpoint = address
        pool = self.pools.get(address)
        if pool is None:
            pool = EndpointPool(
                self, address, self.batch, self.endpoint_settings, self.upstream_connections
            )
            self.pools[address] = pool
        if not pool.submit(call):
            self.fail(
                call,
                Code.RESOURCE_EXHAUSTED,
                f"tool {call.tool!r}: too many calls waiting for {address}",
            )

    def _endpoints_of(self, call: Call) -> tuple[Address, ...]:
        if call.tool == SIDECAR_TOOL and self.internal_address is not None:
            return (self.internal_address,)
        entry = self.holder.catalog.tools.get(call.tool)
        return entry.endpoints if entry is not None else ()

    def open_upstream(self, call: Call, connection: EndpointConnection) -> None:
        """Opens the call's stream on `connection` and sends its headers and request so far."""
        if call.down.reset:
            self._finish(call)
            return
        up = connection.open_stream(call)
        up.partner = call.down
        call.down.partner = up
        call.up = up
        headers = call.headers
        if call.deadline is not None and (call.delayed or call.tried):
            # Time spent here must come off the tool's budget: its deadline may not end
            # later than the agent's.
            adjusted = self._with_remaining_timeout(call)
            if adjusted is None:
                return
            headers = adjusted
        connection.send_headers(up, headers, call.headers_end)
        request = call.request
        for item, end_stream, credit in request:
            if credit < 0:
                connection.send_headers(up, item, True)
            else:
                connection.send_data(up, item, end_stream, credit)
        if call.replayable:
            # Kept for a replay; already credited, so a second send credits nothing.
            call.request = [
                (item, end, 0 if credit > 0 else credit) for item, end, credit in request
            ]
        else:
            call.request = []

    def _with_remaining_timeout(self, call: Call) -> HeaderList | None:
        """The headers with `grpc-timeout` lowered to what remains of the agent's deadline."""
        assert call.deadline is not None
        remaining = call.deadline - time.monotonic()
        if remaining <= 0:
            self.fail(
                call,
                Code.DEADLINE_EXCEEDED,
                f"deadline exceeded before {call.path} reached tool {call.tool!r}",
            )
            return None
        value = format_timeout(remaining)
        return [(n, value) if n == b"grpc-timeout" else (n, v) for n, v in call.headers]

    def request_data(self, call: Call, payload: bytes, end_stream: bool) -> None:
        down = call.down
        try:
            call.request_scanner.feed(payload)
        except MessageTooLarge as error:
            self._abort(
                call,
                Code.RESOURCE_EXHAUSTED,
                f"request to {call.path}: {error} (set by --max-message-bytes)",
            )
            down.conn.consumed(down, len(payload))
            return
        size = len(payload)
        up = call.up
        if call.replayable:
            call.request_bytes += size
            if call.request_bytes <= REPLAY_LIMIT:
                call.request.append((payload, end_stream, 0))
                down.conn.consumed(down, size)  # bounded by REPLAY_LIMIT per call
                if up is not None:
                    up.conn.send_data(up, payload, end_stream, 0)
                return
            call.replayable = False
            if up is not None:
                call.request = []  # everything kept so far was sent already
        if up is not None:
            up.conn.send_data(up, payload, end_stream, size)
        else:
            call.request.append((payload, end_stream, size))

    def request_trailers(self, call: Call | None, headers: HeaderList) -> None:
        if call is None:
            return
        if call.up is not None:
            call.up.conn.send_headers(call.up, headers, True)
            if not call.replayable:
                return
        call.request.append((headers, True, -1))

    def agent_reset(self, call: Call) -> None:
        """The agent cancelled the call (or its connection went away)."""
        up = call.up
        if up is not None:
            up.conn.send_rst(up, ErrorCode.CANCEL)
        elif call.endpoint is not None:
            pool = self.pools.get(call.endpoint)
            if pool is not None:
                pool.cancel(call)
        self._finish(call)

    # ------------------------------------------------------------ responses

    def response_headers(self, call: Call, headers: HeaderList, end_stream: bool) -> None:
        if not call.response_started:
            call.response_started = True
            call.replayable = False
            call.request = [r for r in call.request if r[2] > 0]  # only unsent, uncredited
        call.down.conn.send_headers(call.down, headers, end_stream)

    def response_data(self, call: Call, payload: bytes, end_stream: bool) -> None:
        try:
            call.response_scanner.feed(payload)
        except MessageTooLarge as error:
            up = call.up
            if up is not None:
                up.conn.consumed(up, len(payload))
            self._abort(
                call,
                Code.RESOURCE_EXHAUSTED,
                f"response from {call.path}: {error} (set by --max-message-bytes)",
            )
            return
        call.down.conn.send_data(call.down, payload, end_stream, len(payload))

    def endpoint_reset(self, call: Call, code: int) -> None:
        """The endpoint reset the call's stream."""
        if code == ErrorCode.REFUSED_STREAM and not call.response_started:
            # §8.7: a refused stream was not processed; it may go to another connection.
            self.endpoint_refused(call, f"{call.endpoint} refused the stream")
            return
        down = call.down
        if code == ErrorCode.NO_ERROR and down.local_ended:
            return  # the response is complete; the endpoint just stops reading the request
        down.conn.send_rst(down, code)

    def endpoint_refused(self, call: Call, reason: str) -> None:
        """The endpoint provably did not process the call: send it again if we can."""
        call.up = None
        call.down.partner = None
        if call.down.reset:
            self._finish(call)
            return
        if not call.replayable or call.response_started:
            self.fail(
                call,
                Code.UNAVAILABLE,
                f"tool {call.tool!r}: {reason}; the request was too large to resend",
            )
            return
        call.tried.append(f"{call.endpoint}: {reason}")
        if len(call.tried) > 3:
            self.fail(call, Code.UNAVAILABLE, f"tool {call.tool!r}: {'; '.join(call.tried)}")
            return
        # The same endpoint may serve it on a fresh connection; prefer the others first.
        endpoints = self._endpoints_of(call)
        others = tuple(e for e in endpoints if e != call.endpoint)
        self._dispatch_again(call, others or endpoints)

    def _dispatch_again(self, call: Call, endpoints: tuple[Address, ...]) -> None:
        remembered = call.tried
        call.tried = [
            t for t in remembered if t.partition(": ")[0] not in {str(e) for e in endpoints}
        ]
        self._dispatch(call, endpoints)
        call.tried = remembered

    def endpoint_unreachable(self, call: Call, reason: str) -> None:
        """The endpoint could not be connected to: nothing was sent, try the next one."""
        call.tried.append(reason)
        if call.down.reset:
            self._finish(call)
            return
        self._dispatch(call, self._endpoints_of(call))

    def endpoint_lost(self, call: Call, reason: str) -> None:
        """The endpoint's connection broke while the call was on it."""
        call.up = None
        call.down.partner = None
        self.fail(call, Code.UNAVAILABLE, f"tool {call.tool!r}: {reason}")

    # ------------------------------------------------------------ endings

    def _answer(self, down: Stream, code: Code, message: str) -> None:
        """A trailers-only response for a stream that never became a call."""
        down.conn.send_headers(down, trailers_only(code, message), True)
        if not down.remote_ended:
            # Tell the agent to stop sending the request body: it will not be read.
            down.conn.send_rst(down, ErrorCode.NO_ERROR)
        down.conn.stream_closed(down)

    def fail(self, call: Call, code: Code, message: str) -> None:
        """Ends the agent's side of the call with a gRPC status (the endpoint side is gone)."""
        down = call.down
        if not down.reset and not down.local_ended:
            if call.response_started:
                down.conn.send_headers(down, status_trailers(code, message), True)
            else:
                down.conn.send_headers(down, trailers_only(code, message), True)
            if not down.remote_ended:
                down.conn.send_rst(down, ErrorCode.NO_ERROR)
        if down.conn.streams.get(down.id) is down and down.closed:
            down.conn.stream_closed(down)
        self._finish(call)

    def _abort(self, call: Call, code: Code, message: str) -> None:
        """Fails the call and cancels its endpoint stream."""
        up = call.up
        if up is not None:
            call.up = None
            up.conn.send_rst(up, ErrorCode.CANCEL)
        self.fail(call, code, message)

    def stream_side_closed(self, call: Call) -> None:
        """One side's stream closed; the call ends when both have (a reset ends both)."""
        down, up = call.down, call.up
        if down.reset and up is not None and not up.closed:
            up.conn.send_rst(up, ErrorCode.CANCEL)
        if down.closed and (up is None or up.closed):
            self._finish(call)

    def _finish(self, call: Call) -> None:
        if call.down.call is None:
            return
        call.down.call = None
        call.request = []
        self.active_calls -= 1
        if self.active_calls == 0:
            self._idle.set()
