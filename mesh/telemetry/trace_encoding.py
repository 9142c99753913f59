"""Ended calls as an OTLP `ExportTraceServiceRequest`, written straight to protobuf bytes.

The SDK's encoder costs about 30 µs per span here (a Python object graph per span, then a
message per attribute); writing the wire format directly, with each route's and endpoint's
constant attributes encoded once and reused, costs a few µs per span. Messages follow
`opentelemetry/proto/trace/v1/trace.proto` (opentelemetry-proto 1.x); tests parse the result
with the generated classes. Runs on the export thread (its caches are that thread's own);
only `listening_on` is called from elsewhere, once, before traffic.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

from mesh.telemetry.trace_settings import AttributeValue, TracingSettings
from mesh.telemetry.tracing import code_name

if TYPE_CHECKING:
    from mesh.addresses import Address
    from mesh.telemetry.tracing import AttemptSpan, CallSpan, ToolCallSpan

SCOPE_NAME = "toolmesh"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.44.0"
MAX_TEXT = 512  # bytes of a free-text attribute or status message kept (UTF-8)

# Span.kind values (trace.proto SpanKind).
_SERVER = b"\x30\x02"
_CLIENT = b"\x30\x03"
# Span.flags: the W3C flags in bits 0-7; bit 8 says bit 9 is meaningful; bit 9 is set when
# the parent span lives in another process.
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
# gRPC codes a server span counts as errors (semconv gRPC server span); a client: all but OK.
_SERVER_ERRORS = frozenset({2, 4, 12, 13, 14, 15})
_MAX_CACHED = 4096  # entries per cache of encoded blocks; a full cache starts over

_pack_double = struct.Struct("<d").pack
# Span fields packed in one call each: span_id (field 2) and parent_span_id (4), both 8-byte
# big-endian ids; start (7) and end (8), fixed64; flags (16, a two-byte tag), fixed32.
_pack_ids = struct.Struct(">BBQBBQ").pack
_pack_id = struct.Struct(">BBQ").pack
_pack_times = struct.Struct("<BQBQ").pack
_pack_flags = struct.Struct("<BBI").pack
_SMALL_VARINTS = [bytes((n,)) for n in range(128)]


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL_VARINTS[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: `tag` (already encoded) then the payload's length."""
    return tag + _varint(len(payload)) + payload


def _text(value: str, limit: int = MAX_TEXT) -> bytes:
    data = value.encode("utf-8", "replace")
    if len(data) > limit:
        data = data[:limit].decode("utf-8", "ignore").encode()  # never split a character
    return data


def _any_value(value: AttributeValue) -> bytes:
    """An AnyValue message."""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + _varint(value & 0xFFFF_FFFF_FFFF_FFFF)  # int64, two's complement
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    return _field(b"\x0a", _text(value))


def attribute(key: str, value: AttributeValue, tag: bytes = b"\x4a") -> bytes:
    """One KeyValue as the repeated field `tag` (Span.attributes, field 9, by default)."""
    return _field(tag, _field(b"\x0a", key.encode()) + _field(b"\x12", _any_value(value)))


def attributes(pairs: Iterable[tuple[str, AttributeValue]], tag: bytes = b"\x4a") -> bytes:
    return b"".join(attribute(key, value, tag) for key, value in pairs)


def wall_clock_offset_ns() -> int:
    """Nanoseconds to add to `time.monotonic()` * 1e9 to get Unix time, measured now."""
    return time.time_ns() - time.monotonic_ns()


class SpanEncoder:
    """Encodes ended calls for export. Attribute blocks that depend only on the route, the
    endpoint, the peer or the status code are built once and cached."""

    def __init__(self, settings: TracingSettings, listen: Address | None = None) -> None:
        self._legacy = settings.legacy_rpc_attributes
        resource = _field(b"\x0a", attributes(settings.resource, tag=b"\x0a"))
        scope = _field(b"\x0a", _field(b"\x0a", SCOPE_NAME.encode()))
        self._resource_field = resource  # ResourceSpans.resource
        self._scope_field = scope  # ScopeSpans.scope
        self._schema = _field(b"\x1a", SCHEMA_URL.encode())
        self._listen = b""
        self._offset_ns = wall_clock_offset_ns()
        self._routes: dict[tuple[str, str], _Route] = {}
        self._server_blocks: dict[_ServerKey, bytes] = {}
        self._tool_call_blocks: dict[_ToolCallKey, bytes] = {}
        self._attempt_blocks: dict[_AttemptKey, bytes] = {}
        if listen is not None:
            self.listening_on(listen)

    def listening_on(self, address: Address) -> None:
        """The sidecar's own address: `server.*` of its SERVER spans."""
        self._listen = _address_attributes(address, peer=False)
        self._server_blocks = {}  # they hold the old address

    def request(self, calls: Sequence[CallSpan]) -> tuple[bytes, int]:
        """The serialized ExportTraceServiceRequest of `calls`, and its number of spans."""
        spans: list[bytes] = []
        for call in calls:
            self._call(call, spans)
        scope_spans = self._scope_field + b"".join(spans)
        resource_spans = (
            self._resource_field + _field(b"\x12", scope_spans + self._schema) + self._schema
        )
        return _field(b"\x0a", resource_spans), len(spans)

    # ------------------------------------------------------------------ spans
    # Each span is appended to `out` as a whole ScopeSpans.spans field (tag, length, Span).

    def _call(self, call: CallSpan, out: list[bytes]) -> None:
        head = b"\x0a\x10" + call.trace_id.to_bytes(16, "big") + _tracestate(call.tracestate)
        flags = call.flags & 0xFF
        local_flags = _pack_flags(0x85, 0x01, flags | _HAS_IS_REMOTE)
        offset = self._offset_ns
        route = self._route(call.tool, call.method)
        tool_calls = call.tool_calls
        fallback = tool_calls[-1].tool if len(tool_calls) > 1 else ""
        # Everything but ids and times repeats from call to call: one cached block.
        key = (route, call.peer, call.code, call.message, call.attempt_count, fallback)
        block = self._server_blocks.get(key)
        if block is None:
            block = self._server_block(key)
        if call.parent_id:
            ids = _pack_ids(0x12, 8, call.server_id, 0x22, 8, call.parent_id)
            server_flags = _pack_flags(0x85, 0x01, flags | _HAS_IS_REMOTE | _IS_REMOTE)
        else:
            ids = _pack_id(0x12, 8, call.server_id)
            server_flags = local_flags
        start = int(call.started * 1e9) + offset
        body = b"".join(
            (head, ids, route.server_name, _pack_times(0x39, start, 0x41, _end(call, offset)))
        )
        body += block + server_flags
        out.append(b"\x12" + _varint(len(body)) + body)
        server_id = call.server_id
        for tool_call in tool_calls:
            self._tool_call(tool_call, server_id, head, local_flags, out)
        for attempt in call.attempts:
            self._attempt(attempt, head, local_flags, out)

    def _tool_call(
        self, tool_call: ToolCallSpan, server_id: int, head: bytes, flags: bytes, out: list[bytes]
    ) -> None:
        route = self._route(tool_call.tool, tool_call.method)
        key = (
            route,
            tool_call.code,
            tool_call.message,
            tool_call.attempts,
            tool_call.hedges,
            tool_call.breaker,
            tool_call.refusal,
            tool_call.fallback_to,
            tool_call.fallback_of,
        )
        block = self._tool_call_blocks.get(key)
        if block is None:
            block = self._tool_call_block(key)
        self._client_span(tool_call, tool_call.span_id, server_id, route, block, head, flags, out)

    def _attempt(self, attempt: AttemptSpan, head: bytes, flags: bytes, out: list[bytes]) -> None:
        route = self._route(attempt.tool, attempt.method)
        key = (
            route,
            attempt.endpoint,
            attempt.code,
            attempt.failure,
            attempt.number,
            attempt.kind,
            attempt.retry_reason,
        )
        block = self._attempt_blocks.get(key)
        if block is None:
            block = self._attempt_block(key)
        self._client_span(
            attempt, attempt.span_id, attempt.parent_id, route, block, head, flags, out
        )

    def _client_span(
        self,
        span: ToolCallSpan | AttemptSpan,
        span_id: int,
        parent_id: int,
        route: _Route,
        block: bytes,
        head: bytes,
        flags: bytes,
        out: list[bytes],
    ) -> None:
        """Appends one CLIENT span (a tool call or an attempt): ids, name, times, then its
        cached attribute block and flags."""
        offset = self._offset_ns
        start = int(span.started * 1e9) + offset
        body = b"".join(
            (
                head,
                _pack_ids(0x12, 8, span_id, 0x22, 8, parent_id),
                route.client_name,
                _pack_times(0x39, start, 0x41, _end(span, offset)),
                block,
                flags,
            )
        )
        out.append(b"\x12" + _varint(len(body)) + body)

    # ------------------------------------------------------------------ cached blocks
    # A span's attributes (and status) depend on a handful of values that repeat: each
    # combination is encoded once. The caches are cleared when they grow past _MAX_CACHED.

    def _server_block(self, key: _ServerKey) -> bytes:
        route, peer, code, message, attempts, fallback = key
        parts = [route.server, self._listen, _peer_attributes(peer)]
        parts.append(self._status(code, message, server=True))
        parts.append(attribute("toolmesh.attempts", attempts))
        if fallback:
            parts.append(attribute("toolmesh.fallback.to", fallback))
        return _remember(self._server_blocks, key, b"".join(parts))

    def _tool_call_block(self, key: _ToolCallKey) -> bytes:
        route, code, message, attempts, hedges, breaker, refusal, fallback_to, fallback_of = key
        parts = [route.tool_call, self._status(code, message, server=False)]
        pairs: list[tuple[str, AttributeValue]] = [("toolmesh.attempts", attempts)]
        if hedges:
            pairs.append(("toolmesh.hedges", hedges))
        if breaker:
            pairs.append(("toolmesh.breaker.decision", breaker))
        if refusal:
            pairs.append(("toolmesh.refusal", refusal))
        if fallback_to:
            pairs.append(("toolmesh.fallback.to", fallback_to))
        if fallback_of:
            pairs.append(("toolmesh.fallback.of", fallback_of))
        parts.append(attributes(pairs))
        return _remember(self._tool_call_blocks, key, b"".join(parts))

    def _attempt_block(self, key: _AttemptKey) -> bytes:
        route, endpoint, code, failure, number, kind, reason = key
        pairs: list[tuple[str, AttributeValue]] = [
            ("toolmesh.attempt.number", number),
            ("toolmesh.attempt.kind", kind),
        ]
        if reason:
            pairs.append(("toolmesh.retry.reason", reason))
        parts = (
            route.attempt,
            _address_attributes(endpoint, peer=True),
            self._status(code, failure, server=False),
            attributes(pairs),
        )
        return _remember(self._attempt_blocks, key, b"".join(parts))

    def _route(self, tool: str, method: str) -> _Route:
        route = self._routes.get((tool, method))
        if route is None:
            route = _remember(self._routes, (tool, method), _Route(tool, method, self._legacy))
        return route

    def _status(self, code: int, message: str, *, server: bool) -> bytes:
        """`rpc.response.status_code` (and `rpc.grpc.status_code`), `error.type` and the
        span Status for `code`; the message only describes an error."""
        error = code in _SERVER_ERRORS if server else code != 0
        name = code_name(code) if code >= 0 else "UNKNOWN"
        parts = [attribute("rpc.response.status_code", name)]
        if self._legacy and code >= 0:
            parts.append(attribute("rpc.grpc.status_code", code))
        if error:
            parts.append(attribute("error.type", name))
            status = (_field(b"\x12", _text(message)) if message else b"") + b"\x18\x02"
            parts.append(_field(b"\x7a", status))  # Span.status, code ERROR
        return b"".join(parts)


# What a span's attribute block depends on (besides its route: the tool and method).
_ServerKey = tuple["_Route", object, int, str, int, str]  # peer, code, message, attempts, fallback
# code, message, attempts, hedges, breaker, refusal, fallback to, fallback of
_ToolCallKey = tuple["_Route", int, str, int, int, str, str, str, str]
# endpoint, code, failure, number, kind, retry reason
_AttemptKey = tuple["_Route", "Address", int, str, int, str, str]
_K = TypeVar("_K")
_V = TypeVar("_V")


def _remember(cache: dict[_K, _V], key: _K, value: _V) -> _V:
    if len(cache) >= _MAX_CACHED:
        cache.clear()
    cache[key] = value
    return value


class _Route:
    """The encoded constant parts of one tool method's spans."""

    __slots__ = ("attempt", "client_name", "server", "server_name", "tool_call")

    def __init__(self, tool: str, method: str, legacy: bool) -> None:
        full = method[1:] if method.startswith("/") else method
        service = full.rpartition("/")[0]
        name = _field(b"\x2a", _text(full))  # Span.name = rpc.method
        self.server_name = name + _SERVER
        self.client_name = name + _CLIENT
        common = [("rpc.system.name", "grpc"), ("rpc.method", full)]
        if legacy:
            common += [("rpc.system", "grpc"), ("rpc.service", service)]
        common.append(("toolmesh.tool", tool))
        self.server = attributes(common)
        self.tool_call = attributes([*common, ("server.address", tool)])
        self.attempt = self.server


def _end(span: CallSpan | ToolCallSpan | AttemptSpan, offset: int) -> int:
    """A span's end in Unix nanoseconds; never before its start."""
    return int(max(span.ended, span.started) * 1e9) + offset


def _tracestate(value: bytes) -> bytes:
    """Span.trace_state: the agent's header passed through; dropped if it is not text."""
    if not value or len(value) > MAX_TEXT or not value.isascii():
        return b""
    return _field(b"\x1a", value)


def _address_attributes(address: Address, *, peer: bool) -> bytes:
    """`server.address`/`server.port` of `address` (+ `network.peer.*` for an IP host)."""
    if address.is_unix:
        pairs: list[tuple[str, AttributeValue]] = [
            ("server.address", address.unix_path),
            ("network.transport", "unix"),
        ]
        return attributes(pairs)
    pairs = [("server.address", address.host), ("server.port", address.port)]
    if peer and _is_ip(address.host):
        pairs += [("network.peer.address", address.host), ("network.peer.port", address.port)]
    return attributes(pairs)


def _peer_attributes(peer: object) -> bytes:
    """`client.*` and `network.peer.*` of the agent's socket address (getpeername)."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        if isinstance(host, str) and isinstance(port, int):
            return attributes(
                [
                    ("client.address", host),
                    ("client.port", port),
                    ("network.peer.address", host),
                    ("network.peer.port", port),
                ]
            )
    if isinstance(peer, str) and peer:
        return attributes([("client.address", peer), ("network.transport", "unix")])
    return b""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
