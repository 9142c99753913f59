"""Traces of relayed calls, exported over OTLP/gRPC, for a relay that runs on callbacks.

Semantic conventions: OpenTelemetry semantic conventions **v1.44.0**, RPC spans and gRPC
(the version `opentelemetry-semantic-conventions` 0.66b2 encodes: `rpc.system.name`, a
fully-qualified `rpc.method`, `rpc.response.status_code` as the code's name). By default the
names of v1.37.0 and before are emitted too (`rpc.system`, `rpc.service`,
`rpc.grpc.status_code`), which most backends still key on — the conventions' `rpc/dup` mode;
`OTEL_SEMCONV_STABILITY_OPT_IN=rpc` drops them. Where the two disagree (`rpc.method`), the
current form wins.

One sampled call is this tree (each line a span; names are `rpc.method`, e.g.
`echo.v1.Echo/Echo`):

    agent CLIENT span                      (the agent's `traceparent` names it)
    └─ sidecar SERVER span                 the call as the sidecar received it
       └─ sidecar CLIENT span              the tool call: server.address = the tool's name
          ├─ CLIENT span, attempt 1        one per attempt on one endpoint; its context is
          │  └─ tool SERVER span           the `traceparent` the tool receives
          └─ CLIENT span, attempt 2 (retry / hedge / resend)
             └─ tool SERVER span

A call sent to its tool's fallback gets a second tool-call span (`toolmesh.fallback.of`);
the first ends with `toolmesh.fallback.to`. Attributes (besides the conventions'
`rpc.*`, `server.*`, `client.*`, `network.peer.*`, `error.type`):

| attribute | on | value |
| --- | --- | --- |
| `toolmesh.tool` | all | the tool's registered name |
| `toolmesh.attempts` | server, tool call | attempts sent (resends not counted) |
| `toolmesh.hedges` | tool call | hedged attempts, when any |
| `toolmesh.breaker.decision` | tool call | `admitted`, `probe` (half-open), `rejected` |
| `toolmesh.refusal` | tool call | why the mesh answered, its ErrorInfo reason: `CIRCUIT_OPEN`... |
| `toolmesh.fallback.to` / `.of` | server, tool call | the fallback tool / the primary tool |
| `toolmesh.attempt.number` | attempt | 1 for the first; a transparent resend keeps its number |
| `toolmesh.attempt.kind` | attempt | `first`, `retry`, `hedge`, `resend`, `fallback` |
| `toolmesh.retry.reason` | attempt | the previous attempt's failure (`UNAVAILABLE`...) |

Span status: a tool-call or attempt span is an error for every code but OK; the server span
only for UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS (the
conventions' server rule: the others are the caller's errors).

Configuration: the standard `OTEL_*` variables (see `trace_settings`); off unless a collector
endpoint is set. Sampling defaults to `parentbased_traceidratio` at 1.0; the recommended
production setting is 1 % (`OTEL_TRACES_SAMPLER=parentbased_traceidratio`,
`OTEL_TRACES_SAMPLER_ARG=0.01`, also `RECOMMENDED_PRODUCTION_SAMPLING`): an agent's own
sampling decision, carried by its `traceparent`, is followed either way.

The hot path: `Tracing.enabled` is a plain attribute; an unsampled call costs one sampling
decision and nothing else (`start_call_span` returns None). A sampled call fills a few slotted
records with the relay's own `time.monotonic()` timestamps — no SDK span objects, context
managers or `contextvars`. Ended calls go to a bounded queue; one background thread encodes
them (hand-written OTLP protobuf) and exports them in batches with the OTLP exporter, so a
dead or hanging collector only ever fills the queue, after which new calls' spans are
dropped and counted (`Tracing.dropped_calls`). Not thread-safe: one event loop drives the
records; the export thread only reads calls after they ended.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING

from mesh.telemetry.trace_context import (
    SpanContext,
    child_flags,
    format_traceparent,
    parse_traceparent,
    traceparent_sampled,
    with_traceparent,
)
from mesh.telemetry.trace_sampling import Sampler
from mesh.telemetry.trace_settings import (
    RECOMMENDED_PRODUCTION_SAMPLING,
    TracingConfigError,
    TracingOff,
    TracingSettings,
    settings_from_environment,
)

if TYPE_CHECKING:
    from mesh.addresses import Address
    from mesh.telemetry.trace_export import SpanExportQueue

__all__ = [
    "ATTEMPT_FALLBACK",
    "ATTEMPT_FIRST",
    "ATTEMPT_HEDGE",
    "ATTEMPT_RESEND",
    "ATTEMPT_RETRY",
    "BREAKER_ADMITTED",
    "BREAKER_PROBE",
    "BREAKER_REJECTED",
    "RECOMMENDED_PRODUCTION_SAMPLING",
    "AttemptSpan",
    "CallSpan",
    "SpanContext",
    "ToolCallSpan",
    "Tracing",
    "TracingConfigError",
    "format_traceparent",
    "parse_traceparent",
    "traceparent_sampled",
    "with_traceparent",
]

# toolmesh.attempt.kind
ATTEMPT_FIRST = "first"
ATTEMPT_RETRY = "retry"  # after a failed attempt, by the retry policy
ATTEMPT_HEDGE = "hedge"  # while another attempt is still running
ATTEMPT_RESEND = "resend"  # transparent: the endpoint provably never saw the previous one
ATTEMPT_FALLBACK = "fallback"  # the first attempt on the fallback tool
# toolmesh.breaker.decision
BREAKER_ADMITTED = "admitted"
BREAKER_PROBE = "probe"  # admitted as a half-open probe
BREAKER_REJECTED = "rejected"

_CANCELLED = 1
_LOW_64 = (1 << 64) - 1
_ALWAYS = 1 << 64
_random = random.Random()  # ids need uniqueness, not secrecy (as the SDK's generator)
_bits = _random.getrandbits


class Tracing:
    """The tracer of one process. `enabled` False: every method is a cheap no-op.

    Build it with `from_environment`; call `shutdown` once when the process stops.
    """

    __slots__ = (
        "_bound",
        "_follow_parent",
        "_queue",
        "enabled",
        "off_reason",
        "settings",
    )

    def __init__(
        self, settings: TracingSettings | None, queue: SpanExportQueue | None = None
    ) -> None:
        """Tracing with `settings` exporting through `queue`; both None: tracing off.
        `from_environment` builds both; tests may pass a queue of their own."""
        self.settings = settings
        self._queue = queue
        self.enabled = settings is not None and queue is not None
        self.off_reason = "" if self.enabled else "disabled"
        sampler = settings.sampler if settings is not None else Sampler("always_off")
        # The sampling rule, precomputed (see trace_sampling.Sampler.sampled).
        self._follow_parent = sampler.parent_based
        self._bound = sampler.bound

    @classmethod
    def from_environment(
        cls,
        service_name_default: str = "toolmesh-sidecar",
        environ: Mapping[str, str] | None = None,
        *,
        service_version: str = "",
    ) -> Tracing:
        """Tracing as the `OTEL_*` variables configure it (see `trace_settings`); off when
        no collector endpoint is set or `OTEL_SDK_DISABLED=true`.

        Raises TracingConfigError naming the variable whose value cannot be used.
        """
        settings = settings_from_environment(
            os.environ if environ is None else environ, service_name_default, service_version
        )
        if isinstance(settings, TracingOff):
            tracing = cls(None)
            tracing.off_reason = settings.reason
            return tracing
        from mesh.telemetry.trace_export import otlp_queue  # the exporter's imports are heavy

        return cls(settings, otlp_queue(settings))

    @classmethod
    def off(cls) -> Tracing:
        return cls(None)

    # ------------------------------------------------------------------ calls

    def start_call(
        self,
        tool: str,
        method: str,
        traceparent: bytes | None,
        tracestate: bytes = b"",
        peer: object = None,
        *,
        started: float,
    ) -> CallSpan | None:
        """`start_call_span` from the agent's raw `traceparent`/`tracestate` header values
        (None/b"" when absent): the relay's entry point. A valid but unsampled parent is
        recognised without parsing its ids (the common case under 1 % sampling); an invalid
        one counts as none, and its `tracestate` is ignored."""
        if not self.enabled:
            return None
        parent = None
        if traceparent is not None:
            if self._follow_parent:
                sampled = traceparent_sampled(traceparent)
                if sampled is False:
                    return None
                if sampled:
                    parent = parse_traceparent(traceparent, tracestate)
            else:
                parent = parse_traceparent(traceparent, tracestate)
        return self.start_call_span(tool, method, parent, peer, started=started)

    def start_call_span(
        self,
        tool: str,
        method: str,
        parent: SpanContext | None,
        peer: object = None,
        *,
        started: float,
    ) -> CallSpan | None:
        """The spans of a call the sidecar received, or None when it is not sampled (then
        the relay does nothing more for it, and the agent's `traceparent` goes to the tool
        unchanged).

        `method` is the full path (`/pkg.Service/Method`); `parent` the agent's span context
        (`parse_traceparent`), None when it sent none or an invalid one; `peer` the agent's
        socket address as `getpeername()` gave it (or None); `started` the call's
        `time.monotonic()` arrival time.
        """
        if not self.enabled:
            return None
        if parent is not None:
            if self._follow_parent:
                if not parent.flags & 1:
                    return None
            elif (parent.trace_id & _LOW_64) >= self._bound:
                return None
            trace_id = parent.trace_id
        else:
            bound = self._bound
            if not bound:
                return None
            trace_id = _bits(128) or 1
            if bound != _ALWAYS and (trace_id & _LOW_64) >= bound:
                return None
        return CallSpan(self, trace_id, parent, tool, method, peer, started)

    def listening_on(self, address: Address) -> None:
        """The sidecar's own listen address: `server.address`/`server.port` of its SERVER
        spans. Call once, after binding."""
        if self._queue is not None:
            self._queue.encoder.listening_on(address)

    def _finished(self, call: CallSpan) -> None:
        queue = self._queue
        if queue is not None:
            queue.put(call)

    # ------------------------------------------------------------------ lifecycle

    @property
    def dropped_calls(self) -> int:
        """Sampled calls whose spans were dropped because the export queue was full."""
        return self._queue.dropped if self._queue is not None else 0

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Exports every ended call now; False when that did not finish within `timeout_s`.
        Blocks: call it from a thread (`asyncio.to_thread`), not from the event loop."""
        return self._queue.flush(timeout_s) if self._queue is not None else True

    def shutdown(self, timeout_s: float | None = None) -> None:
        """Exports what is queued (for at most `timeout_s`, default OTEL_BSP_EXPORT_TIMEOUT)
        and stops the export thread. Blocks like `flush`. Idempotent."""
        queue = self._queue
        if queue is None:
            return
        self.enabled = False
        if timeout_s is None:
            timeout_s = self.settings.shutdown_timeout_s if self.settings is not None else 5.0
        queue.shutdown(timeout_s)


class CallSpan:
    """A sampled call: its SERVER span, its tool-call CLIENT span(s) and its attempts.

    Owned by the event loop until `end`; then handed to the export thread, and every later
    method call is ignored.
    """

    __slots__ = (
        "_last_failure",
        "_prefix",
        "_tracing",
        "attempt_count",
        "attempts",
        "code",
        "ended",
        "flags",
        "message",
        "method",
        "parent_id",
        "peer",
        "server_id",
        "started",
        "tool",
        "tool_call",
        "tool_calls",
        "trace_id",
        "tracestate",
    )

    def __init__(
        self,
        tracing: Tracing,
        trace_id: int,
        parent: SpanContext | None,
        tool: str,
        method: str,
        peer: object,
        started: float,
    ) -> None:
        self._tracing = tracing
        self.trace_id = trace_id
        if parent is not None:
            self.parent_id = parent.span_id
            self.flags = child_flags(parent.flags)
            self.tracestate = parent.tracestate
        else:
            self.parent_id = 0
            self.flags = 1
            self.tracestate = b""
        self.tool = tool
        self.method = method
        self.peer = peer
        self.started = started
        self.ended = 0.0  # 0 until `end`
        self.code = -1
        self.message = ""
        self.attempt_count = 0
        self.server_id = _bits(64) or 1
        self.tool_call = ToolCallSpan(tool, method, started)
        self.tool_calls = [self.tool_call]  # more than one after a fallback
        self.attempts: list[AttemptSpan] = []
        self._last_failure = ""  # the last failed attempt's code name: the next one's reason
        self._prefix = b""  # b"00-<trace id>-", built by the first traceparent()

    @property
    def trace_id_hex(self) -> str:
        """The trace id as 32 lowercase hex digits: what an exemplar's `trace_id` holds."""
        return f"{self.trace_id:032x}"

    @property
    def context(self) -> SpanContext:
        """The SERVER span's context (the parent of what the sidecar does for the call)."""
        return SpanContext(self.trace_id, self.server_id, self.flags, self.tracestate)

    def child_attempt(
        self,
        number: int,
        endpoint: Address,
        kind: str,
        started: float,
        *,
        retry_reason: str = "",
    ) -> AttemptSpan:
        """The span of an attempt about to be sent to `endpoint`: `number` as the relay
        counts it, `kind` one of ATTEMPT_*, `started` its `time.monotonic()` start.
        `retry_reason` overrides the default reason of a retry, hedge or resend (the code
        name of the last failed attempt, or `hedge_delay` for a hedge)."""
        if not retry_reason and kind != ATTEMPT_FIRST and kind != ATTEMPT_FALLBACK:
            retry_reason = "hedge_delay" if kind == ATTEMPT_HEDGE else self._last_failure
        attempt = AttemptSpan(self, number, endpoint, kind, started, retry_reason)
        if not self.ended:
            self.attempts.append(attempt)
            if kind != ATTEMPT_RESEND:
                self.tool_call.attempts += 1
                if kind == ATTEMPT_HEDGE:
                    self.tool_call.hedges += 1
        return attempt

    def set_breaker(self, decision: str) -> None:
        """Records the circuit breaker's answer for the current tool call (BREAKER_*)."""
        self.tool_call.breaker = decision

    def refused(self, reason: str) -> None:
        """The mesh answered instead of the tool: `reason` is the mesh error's ErrorInfo
        reason (`CIRCUIT_OPEN`, `RETRY_BUDGET_EXHAUSTED`, `NO_HEALTHY_ENDPOINT`...), so
        traces, logs and the agent's error details name it alike."""
        self.tool_call.refusal = reason

    def fallback(self, tool: str, method: str, at: float) -> None:
        """The call goes to `tool`'s `method` (full path) from now (`at`, monotonic): the
        current tool call ends UNAVAILABLE and a new one starts under the same SERVER span."""
        if self.ended:
            return
        current = self.tool_call
        current.end(14, at)  # UNAVAILABLE: why the relay falls back
        current.fallback_to = tool
        following = ToolCallSpan(tool, method, at)
        following.fallback_of = current.tool
        self.tool_call = following
        self.tool_calls.append(following)
        self._last_failure = ""

    def end(
        self, code: int, ended: float, *, attempts: int | None = None, message: str = ""
    ) -> None:
        """The call ended with gRPC `code` at `ended` (monotonic), as the agent saw it.

        `attempts` is what the relay counted (default: the attempts recorded); `message` the
        grpc-message of a failed call. Attempts still open end with the call's code (the
        committed one answered with it; the others were cut by its end). The first call
        wins; the spans are then queued for export.
        """
        if self.ended:
            return
        self.ended = ended
        self.code = code
        self.message = message
        self.attempt_count = (
            attempts if attempts is not None else sum(c.attempts for c in self.tool_calls)
        )
        for attempt in self.attempts:
            if not attempt.ended:
                attempt.ended = ended
                attempt.code = code
        self.tool_call.end(code, ended, message)
        self._tracing._finished(self)

    def _traceparent(self, span_id: int) -> bytes:
        prefix = self._prefix
        if not prefix:
            prefix = self._prefix = b"00-%032x-" % self.trace_id
        return b"%s%016x-%02x" % (prefix, span_id, self.flags)

    def __repr__(self) -> str:
        return f"CallSpan({self.method} trace={self.trace_id_hex})"


class ToolCallSpan:
    """The CLIENT span of one tool's share of a call (the primary's, or the fallback's)."""

    __slots__ = (
        "attempts",
        "breaker",
        "code",
        "ended",
        "fallback_of",
        "fallback_to",
        "hedges",
        "message",
        "method",
        "refusal",
        "span_id",
        "started",
        "tool",
    )

    def __init__(self, tool: str, method: str, started: float) -> None:
        self.span_id = _bits(64) or 1
        self.tool = tool
        self.method = method
        self.started = started
        self.ended = 0.0
        self.code = -1
        self.message = ""
        self.attempts = 0
        self.hedges = 0
        self.breaker = ""
        self.refusal = ""
        self.fallback_to = ""
        self.fallback_of = ""

    def end(self, code: int, ended: float, message: str = "") -> None:
        if not self.ended:
            self.ended = ended
            self.code = code
            self.message = message


class AttemptSpan:
    """The CLIENT span of one attempt on one endpoint."""

    __slots__ = (
        "call",
        "code",
        "ended",
        "endpoint",
        "failure",
        "kind",
        "method",
        "number",
        "parent_id",
        "retry_reason",
        "span_id",
        "started",
        "tool",
    )

    def __init__(
        self,
        call: CallSpan,
        number: int,
        endpoint: Address,
        kind: str,
        started: float,
        retry_reason: str,
    ) -> None:
        self.call = call
        tool_call = call.tool_call
        self.parent_id = tool_call.span_id
        self.tool = tool_call.tool
        self.method = tool_call.method
        self.span_id = _bits(64) or 1
        self.number = number
        self.endpoint = endpoint
        self.kind = kind
        self.started = started
        self.retry_reason = retry_reason
        self.ended = 0.0
        self.code = -1
        self.failure = ""

    def traceparent(self) -> bytes:
        """The `traceparent` to send to the tool for this attempt (replacing the agent's)."""
        return self.call._traceparent(self.span_id)

    def end(self, code: int, ended: float, *, failure: str = "") -> None:
        """The attempt ended with gRPC `code` at `ended` (monotonic). `failure` says what
        went wrong when it failed (the grpc-message, "connection refused", "cancelled: the
        hedge won"...). Ignored once ended, or once its call ended."""
        if self.ended or self.call.ended:
            return
        self.ended = ended
        self.code = code
        if code:
            self.failure = failure
            if code != _CANCELLED:
                self.call._last_failure = code_name(code)

    def __repr__(self) -> str:
        return f"AttemptSpan({self.method} #{self.number} {self.kind} at {self.endpoint})"


_CODE_NAMES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)


def code_name(code: int) -> str:
    """A gRPC status code's name (its number as text when gRPC defines none)."""
    return _CODE_NAMES[code] if 0 <= code < len(_CODE_NAMES) else str(code)
