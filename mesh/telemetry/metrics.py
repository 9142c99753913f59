"""Prometheus metrics of the sidecar and the registry: every name once, and the API that records.

Every metric the mesh exports; `metrics_table()` renders this table from the specs below
(a test keeps the two equal, and the README's copy too):

<!-- metrics:start -->
| metric | type | labels | meaning |
|---|---|---|---|
| `toolmesh_call_duration_seconds` | histogram | tool, method, code | Calls as the agent sees them, from arrival at the sidecar to the end, by final gRPC status name; exemplars carry trace_id. |
| `toolmesh_attempt_duration_seconds` | histogram | tool, method, endpoint, code | Each attempt on one endpoint (first, retry, hedge, resend, fallback), by the gRPC status name it ended with. |
| `toolmesh_attempts_total` | counter | tool, method, kind | Attempts sent, by kind: first, retry, hedge, resend (the tool provably never saw the previous one), fallback (an attempt on the fallback tool). |
| `toolmesh_retries_total` | counter | tool, method, reason | Retries decided after a failed attempt, by the failed attempt's gRPC status name, or UNPROCESSED for a resend. |
| `toolmesh_hedges_total` | counter | tool, method | Hedged attempts sent. |
| `toolmesh_fallbacks_total` | counter | tool, method, fallback | Calls handed to the tool's fallback tool. |
| `toolmesh_fast_failures_total` | counter | tool, method, reason | Calls the mesh ended itself, by reason: CIRCUIT_OPEN, CONCURRENCY_LIMIT, RETRY_BUDGET_EXHAUSTED, NO_HEALTHY_ENDPOINT, DEADLINE_EXCEEDED. |
| `toolmesh_circuit_breaker_state` | gauge | tool, method | The method's circuit breaker: 0 closed, 1 half-open, 2 open. |
| `toolmesh_circuit_breaker_transitions_total` | counter | tool, method, to | Circuit breaker state changes, by the state entered: closed, half_open, open. |
| `toolmesh_endpoint_ejections_total` | counter | tool, endpoint | Outlier ejections of an endpoint. |
| `toolmesh_endpoints_ejected` | gauge | tool | Endpoints of the tool ejected now. |
| `toolmesh_calls_in_flight` | gauge | tool | Calls to the tool in the sidecar now. |
| `toolmesh_cost_total` | counter | tool, method, unit, outcome | The tool's registered cost per call summed over calls, by unit (USD, tokens...) and outcome: success, failure. |
| `toolmesh_registry_connected` | gauge | - | 1 while the sidecar's Watch stream to the registry is open, else 0. |
| `toolmesh_catalog_version` | gauge | - | The registry version the sidecar's catalog reflects. |
| `toolmesh_catalog_update_age_seconds` | gauge | - | Seconds since the sidecar's catalog last changed (NaN before it ever did). |
| `toolmesh_catalog_tools` | gauge | - | Tools in the sidecar's catalog. |
| `toolmesh_registry_tools` | gauge | - | Tools registered (the registry's own count). |
| `toolmesh_registry_version` | gauge | - | The registry's current version. |
| `toolmesh_registry_watchers` | gauge | - | Watch streams open on the registry. |
| `toolmesh_registry_requests_total` | counter | rpc, code | Registry RPCs served, by method name and final gRPC status name. |
<!-- metrics:end -->

The `method` label is the gRPC method's full name without the leading slash
(`echo.v1.Echo/Echo`, which is also the span name under the OpenTelemetry RPC conventions);
`endpoint` is the instance's `HOST:PORT`; `code` is a gRPC status name. Durations are
seconds, in the buckets of `DURATION_BUCKETS_S` (0.25 ms to 60 s).

The relay holds one `RouteMetrics` per tool method, built with the route, whose series are
bound once: recording is an attribute update, no lock and no label lookup (see
`mesh.telemetry.series`). One event loop records; the metrics server's thread scrapes.
"""  # noqa: E501 (the table's rows are as long as their meaning)

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any, Final, Literal
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import grpc
from prometheus_client import CollectorRegistry, make_wsgi_app

from mesh.addresses import parse_address
from mesh.config.policy import STATUS_CODES
from mesh.policy.breaker import BreakerState
from mesh.telemetry.series import FamilyCollector, Histogram, MetricSpec, Value, metrics_registry

__all__ = [
    "ALL_METRICS",
    "DURATION_BUCKETS_S",
    "MetricSpec",
    "MetricsServer",
    "NullRouteMetrics",
    "NullSidecarMetrics",
    "NullToolMetrics",
    "RegistryMetrics",
    "RouteMetrics",
    "SidecarMetrics",
    "ToolMetrics",
    "metrics_registry",
    "metrics_table",
    "start_metrics_server",
]

# Upper bounds in seconds: loopback tools answer in well under a millisecond, LLM-backed ones
# take tens of seconds; 1-2.5-5 steps keep any quantile estimate within a bucket's factor.
# fmt: off
DURATION_BUCKETS_S: Final = (
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)
# fmt: on

# --------------------------------------------------------------------------- the names
# Every metric, once.

CALL_DURATION: Final = MetricSpec(
    "toolmesh_call_duration_seconds",
    "histogram",
    "Calls as the agent sees them, from arrival at the sidecar to the end, by final gRPC "
    "status name; exemplars carry trace_id.",
    ("tool", "method", "code"),
    DURATION_BUCKETS_S,
)
ATTEMPT_DURATION: Final = MetricSpec(
    "toolmesh_attempt_duration_seconds",
    "histogram",
    "Each attempt on one endpoint (first, retry, hedge, resend, fallback), by the gRPC "
    "status name it ended with.",
    ("tool", "method", "endpoint", "code"),
    DURATION_BUCKETS_S,
)
ATTEMPTS: Final = MetricSpec(
    "toolmesh_attempts_total",
    "counter",
    "Attempts sent, by kind: first, retry, hedge, resend (the tool provably never saw the "
    "previous one), fallback (an attempt on the fallback tool).",
    ("tool", "method", "kind"),
)
RETRIES: Final = MetricSpec(
    "toolmesh_retries_total",
    "counter",
    "Retries decided after a failed attempt, by the failed attempt's gRPC status name, or "
    "UNPROCESSED for a resend.",
    ("tool", "method", "reason"),
)
HEDGES: Final = MetricSpec(
    "toolmesh_hedges_total", "counter", "Hedged attempts sent.", ("tool", "method")
)
FALLBACKS: Final = MetricSpec(
    "toolmesh_fallbacks_total",
    "counter",
    "Calls handed to the tool's fallback tool.",
    ("tool", "method", "fallback"),
)
FAST_FAILURES: Final = MetricSpec(
    "toolmesh_fast_failures_total",
    "counter",
    "Calls the mesh ended itself, by reason: CIRCUIT_OPEN, CONCURRENCY_LIMIT, "
    "RETRY_BUDGET_EXHAUSTED, NO_HEALTHY_ENDPOINT, DEADLINE_EXCEEDED.",
    ("tool", "method", "reason"),
)
BREAKER_STATE: Final = MetricSpec(
    "toolmesh_circuit_breaker_state",
    "gauge",
    "The method's circuit breaker: 0 closed, 1 half-open, 2 open.",
    ("tool", "method"),
)
BREAKER_TRANSITIONS: Final = MetricSpec(
    "toolmesh_circuit_breaker_transitions_total",
    "counter",
    "Circuit breaker state changes, by the state entered: closed, half_open, open.",
    ("tool", "method", "to"),
)
ENDPOINT_EJECTIONS: Final = MetricSpec(
    "toolmesh_endpoint_ejections_total",
    "counter",
    "Outlier ejections of an endpoint.",
    ("tool", "endpoint"),
)
ENDPOINTS_EJECTED: Final = MetricSpec(
    "toolmesh_endpoints_ejected", "gauge", "Endpoints of the tool ejected now.", ("tool",)
)
CALLS_IN_FLIGHT: Final = MetricSpec(
    "toolmesh_calls_in_flight", "gauge", "Calls to the tool in the sidecar now.", ("tool",)
)
COST: Final = MetricSpec(
    "toolmesh_cost_total",
    "counter",
    "The tool's registered cost per call summed over calls, by unit (USD, tokens...) and "
    "outcome: success, failure.",
    ("tool", "method", "unit", "outcome"),
)
REGISTRY_CONNECTED: Final = MetricSpec(
    "toolmesh_registry_connected",
    "gauge",
    "1 while the sidecar's Watch stream to the registry is open, else 0.",
)
CATALOG_VERSION: Final = MetricSpec(
    "toolmesh_catalog_version", "gauge", "The registry version the sidecar's catalog reflects."
)
CATALOG_UPDATE_AGE: Final = MetricSpec(
    "toolmesh_catalog_update_age_seconds",
    "gauge",
    "Seconds since the sidecar's catalog last changed (NaN before it ever did).",
)
CATALOG_TOOLS: Final = MetricSpec(
    "toolmesh_catalog_tools", "gauge", "Tools in the sidecar's catalog."
)
REGISTRY_TOOLS: Final = MetricSpec(
    "toolmesh_registry_tools", "gauge", "Tools registered (the registry's own count)."
)
REGISTRY_VERSION: Final = MetricSpec(
    "toolmesh_registry_version", "gauge", "The registry's current version."
)
REGISTRY_WATCHERS: Final = MetricSpec(
    "toolmesh_registry_watchers", "gauge", "Watch streams open on the registry."
)
REGISTRY_REQUESTS: Final = MetricSpec(
    "toolmesh_registry_requests_total",
    "counter",
    "Registry RPCs served, by method name and final gRPC status name.",
    ("rpc", "code"),
)

SIDECAR_METRICS: Final = (
    CALL_DURATION,
    ATTEMPT_DURATION,
    ATTEMPTS,
    RETRIES,
    HEDGES,
    FALLBACKS,
    FAST_FAILURES,
    BREAKER_STATE,
    BREAKER_TRANSITIONS,
    ENDPOINT_EJECTIONS,
    ENDPOINTS_EJECTED,
    CALLS_IN_FLIGHT,
    COST,
    REGISTRY_CONNECTED,
    CATALOG_VERSION,
    CATALOG_UPDATE_AGE,
    CATALOG_TOOLS,
)
REGISTRY_METRICS: Final = (REGISTRY_TOOLS, REGISTRY_VERSION, REGISTRY_WATCHERS, REGISTRY_REQUESTS)
ALL_METRICS: Final = SIDECAR_METRICS + REGISTRY_METRICS


def metrics_table() -> str:
    """The Markdown rows of the metric table (the module docstring's and the README's)."""
    rows = []
    for spec in ALL_METRICS:
        labels = ", ".join(spec.labels) or "-"
        rows.append(f"| `{spec.name}` | {spec.kind} | {labels} | {spec.help} |")
    return "\n".join(rows)


# Label values.
ATTEMPT_KINDS: Final = ("first", "retry", "hedge", "resend", "fallback")
AttemptKind = Literal["first", "retry", "hedge", "resend", "fallback"]
FAST_FAILURE_REASONS: Final = (
    "CIRCUIT_OPEN",
    "CONCURRENCY_LIMIT",
    "RETRY_BUDGET_EXHAUSTED",
    "NO_HEALTHY_ENDPOINT",
    "DEADLINE_EXCEEDED",
)
UNPROCESSED: Final = "UNPROCESSED"  # retries_total reason of a resend
SUCCESS: Final = "success"
FAILURE: Final = "failure"
BREAKER_GAUGE: Final = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}

_CODE_NAMES: Final = {code: name for name, code in STATUS_CODES.items()}


def code_name(code: int) -> str:
    """The `code` label of a gRPC status: its name, or the number for one gRPC lacks."""
    return _CODE_NAMES.get(code) or str(code)


# --------------------------------------------------------------------------- the sidecar


class ToolMetrics:
    """A tool's own series: calls in flight, endpoint ejections."""

    __slots__ = ("_ejections", "_families", "in_flight", "name")

    def __init__(self, families: FamilyCollector, name: str) -> None:
        self._families = families
        self.name = name
        self.in_flight = families[CALLS_IN_FLIGHT].value(name)
        self._ejections: dict[Hashable, Value] = {}

    def ejection(self, endpoint: Hashable) -> None:
        """The outlier detector ejected `endpoint` (any key whose str() is HOST:PORT)."""
        cell = self._ejections.get(endpoint)
        if cell is None:
            cell = self._families[ENDPOINT_EJECTIONS].value(self.name, str(endpoint))
            self._ejections[endpoint] = cell
        cell.value += 1

    def expect_endpoints(self, endpoints: Iterable[Hashable]) -> None:
        """Creates the ejection counters of `endpoints` at 0, so the first ejection of each
        is an increase that `increase()` and alerts can see."""
        for endpoint in endpoints:
            if endpoint not in self._ejections:
                self._ejections[endpoint] = self._families[ENDPOINT_EJECTIONS].value(
                    self.name, str(endpoint)
                )

    def track_ejected(self, count: Callable[[], int]) -> None:
        """`toolmesh_endpoints_ejected` reads `count()` at each scrape, from the metrics
        server's thread: it must only read (no clean-up of expired ejections)."""
        self._families[ENDPOINTS_EJECTED].reading(count, self.name)


class RouteMetrics:
    """The series of one tool method, bound once; each method is a few attribute updates.

    Contract: `call_started()` once when a call to the method enters the sidecar and
    `call(...)` once when it ends (it also ends the in-flight count), whatever happened in
    between. Durations are seconds; codes are gRPC status numbers.
    """

    __slots__ = (
        "_attempt_cells",
        "_attempts",
        "_breaker_state",
        "_calls",
        "_costs",
        "_fallbacks",
        "_families",
        "_fast",
        "_hedges",
        "_retries",
        "_transitions",
        "method",
        "tool",
    )

    def __init__(self, families: FamilyCollector, tool: ToolMetrics, method: str) -> None:
        self._families = families
        self.tool = tool
        self.method = method
        name = tool.name
        # Series that alerts and `rate()` rely on exist from the start, at 0: an increase
        # from "absent" to 1 is invisible to `increase()`.
        self._calls: dict[int, Histogram] = {
            0: families[CALL_DURATION].histogram(name, method, "OK")
        }
        self._attempt_cells: dict[tuple[Hashable, int], Histogram] = {}
        attempts = families[ATTEMPTS]
        self._attempts = {kind: attempts.value(name, method, kind) for kind in ATTEMPT_KINDS}
        self._retries: dict[str, Value] = {}
        self._hedges = families[HEDGES].value(name, method)
        self._fallbacks: dict[str, Value] = {}
        fast = families[FAST_FAILURES]
        self._fast = {reason: fast.value(name, method, reason) for reason in FAST_FAILURE_REASONS}
        self._breaker_state = families[BREAKER_STATE].value(name, method)
        transitions = families[BREAKER_TRANSITIONS]
        self._transitions = {
            state: transitions.value(name, method, state.value) for state in BreakerState
        }
        self._costs: dict[tuple[str, bool], Value] = {}

    def expect(
        self,
        *,
        retry_codes: Iterable[int] = (),
        fallback: str | None = None,
        cost_unit: str | None = None,
        endpoints: Iterable[Hashable] = (),
    ) -> None:
        """Creates at 0 the series the method's policy can produce: retries by each code in
        `retry_codes` (and resends of unprocessed requests, which any call may need), the
        calls sent to `fallback`, the cost in `cost_unit` for successes and failures, and a
        successful attempt on each of `endpoints`. A series that first appears at 1 is an
        increase `rate()` never sees; one that exists at 0 is not."""
        for reason in (UNPROCESSED, *(code_name(code) for code in sorted(retry_codes))):
            if reason not in self._retries:
                self._retries[reason] = self._families[RETRIES].value(
                    self.tool.name, self.method, reason
                )
        if fallback and fallback not in self._fallbacks:
            self._fallbacks[fallback] = self._families[FALLBACKS].value(
                self.tool.name, self.method, fallback
            )
        if cost_unit:
            for success in (True, False):
                if (cost_unit, success) not in self._costs:
                    self._costs[(cost_unit, success)] = self._families[COST].value(
                        self.tool.name, self.method, cost_unit, SUCCESS if success else FAILURE
                    )
        for endpoint in endpoints:
            if (endpoint, 0) not in self._attempt_cells:
                self._attempt_cells[(endpoint, 0)] = self._families[ATTEMPT_DURATION].histogram(
                    self.tool.name, self.method, str(endpoint), code_name(0)
                )

    # calls -------------------------------------------------------------------

    def call_started(self) -> None:
        """A call entered the sidecar (before admission: refused calls count too)."""
        self.tool.in_flight.value += 1

    def call(self, code: int, duration_s: float, trace_id: str | None = None) -> None:
        """The call ended with `code` after `duration_s` seconds, as the agent saw it.
        `trace_id` (32 hex digits) becomes the bucket's exemplar when given."""
        self.tool.in_flight.value -= 1
        cell = self._calls.get(code)
        if cell is None:
            cell = self._calls[code] = self._families[CALL_DURATION].histogram(
                self.tool.name, self.method, code_name(code)
            )
        cell.observe(duration_s, trace_id)

    # attempts ----------------------------------------------------------------

    def attempt_started(self, kind: AttemptKind) -> None:
        """An attempt of `kind` goes out."""
        self._attempts[kind].value += 1

    def attempt(
        self, endpoint: Hashable, code: int, duration_s: float, trace_id: str | None = None
    ) -> None:
        """An attempt on `endpoint` (str() gives HOST:PORT) ended with `code` after
        `duration_s` seconds (a cancelled loser of a hedge: CANCELLED)."""
        key = (endpoint, code)
        cell = self._attempt_cells.get(key)
        if cell is None:
            cell = self._attempt_cells[key] = self._families[ATTEMPT_DURATION].histogram(
                self.tool.name, self.method, str(endpoint), code_name(code)
            )
        cell.observe(duration_s, trace_id)

    def retry(self, code: int, unprocessed: bool = False) -> None:
        """A retry was decided after an attempt failed with `code`; `unprocessed`: a resend
        of a request the tool provably never saw."""
        reason = UNPROCESSED if unprocessed else code_name(code)
        cell = self._retries.get(reason)
        if cell is None:
            cell = self._retries[reason] = self._families[RETRIES].value(
                self.tool.name, self.method, reason
            )
        cell.value += 1

    def hedge(self) -> None:
        """A hedged attempt was sent."""
        self._hedges.value += 1

    def fallback(self, to: str) -> None:
        """The call went to the fallback tool `to`."""
        cell = self._fallbacks.get(to)
        if cell is None:
            cell = self._fallbacks[to] = self._families[FALLBACKS].value(
                self.tool.name, self.method, to
            )
        cell.value += 1

    def fast_failure(self, reason: str) -> None:
        """The mesh ended the call itself; `reason` is the MeshError's (FAST_FAILURE_REASONS)."""
        cell = self._fast.get(reason)
        if cell is None:
            cell = self._fast[reason] = self._families[FAST_FAILURES].value(
                self.tool.name, self.method, reason
            )
        cell.value += 1

    # breaker -----------------------------------------------------------------

    def breaker_transition(self, old: BreakerState, new: BreakerState) -> None:
        """The method's breaker moved from `old` to `new` (the breaker's `on_transition`)."""
        self._breaker_state.value = BREAKER_GAUGE[new]
        self._transitions[new].value += 1

    def breaker_state(self, state: BreakerState) -> None:
        """Sets the state without counting a transition (a new breaker starts CLOSED)."""
        self._breaker_state.value = BREAKER_GAUGE[state]

    # cost --------------------------------------------------------------------

    def cost(self, amount: float, unit: str, success: bool) -> None:
        """One call to the tool cost `amount` of `unit`; `success`: it ended OK."""
        key = (unit, success)
        cell = self._costs.get(key)
        if cell is None:
            cell = self._costs[key] = self._families[COST].value(
                self.tool.name, self.method, unit, SUCCESS if success else FAILURE
            )
        cell.value += amount


class SidecarMetrics:
    """The sidecar's metrics, registered in `registry` (one per process)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.families = FamilyCollector(SIDECAR_METRICS)
        registry.register(self.families)
        self._tools: dict[str, ToolMetrics] = {}
        self._routes: dict[tuple[str, str], RouteMetrics] = {}

    def tool(self, tool: str) -> ToolMetrics:
        """The tool's series (cached)."""
        metrics = self._tools.get(tool)
        if metrics is None:
            metrics = self._tools[tool] = ToolMetrics(self.families, tool)
        return metrics

    def route(self, tool: str, method: str) -> RouteMetrics:
        """The series of `tool`'s `method` (`pkg.Service/Method`), cached: hold on to it."""
        key = (tool, method)
        metrics = self._routes.get(key)
        if metrics is None:
            metrics = self._routes[key] = RouteMetrics(self.families, self.tool(tool), method)
        return metrics

    def forget_tool(self, tool: str) -> None:
        """Drops every series of `tool` (it left the catalog); Prometheus marks them stale.
        RouteMetrics still held for it keep counting into cells nobody exports."""
        self._tools.pop(tool, None)
        for key in [key for key in self._routes if key[0] == tool]:
            del self._routes[key]
        for family in self.families.families.values():
            if "tool" in family.spec.labels:
                family.forget("tool", tool)

    def track_catalog(
        self,
        *,
        connected: Callable[[], bool],
        version: Callable[[], int],
        tools: Callable[[], int],
        updated_at: Callable[[], float | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """The registry/watch health series read these at each scrape (on the metrics
        server's thread, so they must only read): whether the Watch stream is open, the
        catalog's version and tool count, and `clock()` time of the catalog's last change
        (None: never)."""

        def age() -> float:
            at = updated_at()
            return math.nan if at is None else max(0.0, clock() - at)

        families = self.families
        families[REGISTRY_CONNECTED].reading(lambda: 1.0 if connected() else 0.0)
        families[CATALOG_VERSION].reading(lambda: float(version()))
        families[CATALOG_TOOLS].reading(lambda: float(tools()))
        families[CATALOG_UPDATE_AGE].reading(age)


# --------------------------------------------------------------------------- telemetry off


class NullToolMetrics(ToolMetrics):
    """A tool's series that record nothing (the sidecar started with `--no-telemetry`)."""

    __slots__ = ()

    def __init__(self, name: str) -> None:  # no families: nothing is registered
        self.name = name
        self.in_flight = Value()  # never exported; kept so the attribute exists

    def ejection(self, endpoint: Hashable) -> None:
        pass

    def expect_endpoints(self, endpoints: Iterable[Hashable]) -> None:
        pass

    def track_ejected(self, count: Callable[[], int]) -> None:
        pass


class NullRouteMetrics(RouteMetrics):
    """A tool method's series that record nothing: every recording method is a no-op, so the
    relay's calls into it cost one method call each (the baseline the telemetry benchmark
    measures against). Every public method of RouteMetrics is overridden here (a test keeps
    it so), so none reaches the parent's unset slots."""

    __slots__ = ()

    def __init__(self, tool: NullToolMetrics, method: str) -> None:  # no families
        self.tool = tool
        self.method = method

    def expect(
        self,
        *,
        retry_codes: Iterable[int] = (),
        fallback: str | None = None,
        cost_unit: str | None = None,
        endpoints: Iterable[Hashable] = (),
    ) -> None:
        pass

    def call_started(self) -> None:
        pass

    def call(self, code: int, duration_s: float, trace_id: str | None = None) -> None:
        pass

    def attempt_started(self, kind: AttemptKind) -> None:
        pass

    def attempt(
        self, endpoint: Hashable, code: int, duration_s: float, trace_id: str | None = None
    ) -> None:
        pass

    def retry(self, code: int, unprocessed: bool = False) -> None:
        pass

    def hedge(self) -> None:
        pass

    def fallback(self, to: str) -> None:
        pass

    def fast_failure(self, reason: str) -> None:
        pass

    def breaker_transition(self, old: BreakerState, new: BreakerState) -> None:
        pass

    def breaker_state(self, state: BreakerState) -> None:
        pass

    def cost(self, amount: float, unit: str, success: bool) -> None:
        pass


class NullSidecarMetrics(SidecarMetrics):
    """The sidecar's metrics with telemetry off: registers no family, records nothing.
    `families` is an empty collector (never registered), so /metrics, when served, is empty."""

    def __init__(self) -> None:  # nothing to register in
        self.families = FamilyCollector(())
        self._tools: dict[str, ToolMetrics] = {}
        self._routes: dict[tuple[str, str], RouteMetrics] = {}

    def tool(self, tool: str) -> NullToolMetrics:
        """A do-nothing tool (a fresh one each time: it holds nothing worth sharing)."""
        return NullToolMetrics(tool)

    def route(self, tool: str, method: str) -> NullRouteMetrics:
        return NullRouteMetrics(NullToolMetrics(tool), method)

    def forget_tool(self, tool: str) -> None:
        pass

    def track_catalog(
        self,
        *,
        connected: Callable[[], bool],
        version: Callable[[], int],
        tools: Callable[[], int],
        updated_at: Callable[[], float | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        pass


# --------------------------------------------------------------------------- the registry


class RegistryMetrics:
    """The registry process's metrics, registered in `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.families = FamilyCollector(REGISTRY_METRICS)
        registry.register(self.families)
        self._names: set[str] = set()
        self._tools = self.families[REGISTRY_TOOLS].value()
        self._version = self.families[REGISTRY_VERSION].value()
        self._requests: dict[tuple[str, int], Value] = {}

    def load_state(self, tools: Iterable[str], version: int) -> None:
        """The store's state at start: the registered tools' names and the version."""
        self._names = set(tools)
        self._tools.value = len(self._names)
        self._version.value = version

    def apply_change(self, version: int, tool: str, present: bool) -> None:
        """A committed change (the store's listener): `tool` exists (`present`) or was
        removed as of `version`."""
        if present:
            self._names.add(tool)
        else:
            self._names.discard(tool)
        self._tools.value = len(self._names)
        self._version.value = max(self._version.value, version)

    def track_watchers(self, count: Callable[[], int]) -> None:
        """`toolmesh_registry_watchers` reads `count()` at each scrape (metrics thread)."""
        self.families[REGISTRY_WATCHERS].reading(lambda: float(count()))

    def request(self, rpc: str, code: int) -> None:
        """An RPC (`RegisterTool`, `Watch`...) ended with gRPC status number `code`."""
        key = (rpc, code)
        cell = self._requests.get(key)
        if cell is None:
            cell = self._requests[key] = self.families[REGISTRY_REQUESTS].value(
                rpc, code_name(code)
            )
        cell.value += 1

    def interceptor(self) -> grpc.aio.ServerInterceptor[Any, Any]:
        """A grpc.aio server interceptor that counts every RPC with `request`."""
        return RequestCounter(self)


if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # grpc's class is not subscriptable at run time; only its stubs are generic
    _ServerInterceptor = grpc.aio.ServerInterceptor

_CANCELLED: Final = STATUS_CODES["CANCELLED"]
_UNKNOWN: Final = STATUS_CODES["UNKNOWN"]


def _final_code(context: grpc.aio.ServicerContext[Any, Any], error: BaseException | None) -> int:
    """The status an RPC ended with: what the handler set (abort, set_code), else OK when it
    returned, CANCELLED when the client left, UNKNOWN for an escaped exception."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return int(code.value[0])
    if isinstance(code, int):
        return code
    if error is None:
        return 0
    if isinstance(error, asyncio.CancelledError):
        return _CANCELLED
    return _UNKNOWN


class RequestCounter(_ServerInterceptor):
    """Counts each RPC once it ends, by method name and final status."""

    def __init__(self, metrics: RegistryMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        rpc = handler_call_details.method.rpartition("/")[2]
        for attribute, make_handler, count in _HANDLER_KINDS:
            behavior = getattr(handler, attribute)
            if behavior is not None:
                return make_handler(  # type: ignore[no-any-return]
                    count(behavior, rpc, self._metrics),
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
        return handler


def _counted_unary(
    behavior: Callable[..., Any], rpc: str, metrics: RegistryMetrics
) -> Callable[..., Awaitable[Any]]:
    async def counted(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            response = await behavior(request, context)
        except BaseException as error:
            metrics.request(rpc, _final_code(context, error))
            raise
        metrics.request(rpc, _final_code(context, None))
        return response

    return counted


def _counted_stream(
    behavior: Callable[..., Any], rpc: str, metrics: RegistryMetrics
) -> Callable[..., AsyncIterator[Any]]:
    async def counted(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            async for response in behavior(request, context):
                yield response
        except BaseException as error:
            metrics.request(rpc, _final_code(context, error))
            raise
        metrics.request(rpc, _final_code(context, None))

    return counted


# --------------------------------------------------------------------------- /metrics


# (the handler's attribute, grpc's constructor for that kind, the counting wrapper)
_HANDLER_KINDS: tuple[tuple[str, Callable[..., Any], Callable[..., Any]], ...] = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler, _counted_unary),
    ("unary_stream", grpc.unary_stream_rpc_method_handler, _counted_stream),
    ("stream_unary", grpc.stream_unary_rpc_method_handler, _counted_unary),
    ("stream_stream", grpc.stream_stream_rpc_method_handler, _counted_stream),
)


class _QuietHandler(WSGIRequestHandler):
    """Serves a scrape without writing an access log line for it."""

    def log_message(self, format: str, *args: Any) -> None:
        return


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress never holds the process at exit


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


# How often the serving thread checks for `close()`: the longest close() waits.
_POLL_INTERVAL_S: Final = 0.05


class MetricsServer:
    """A running /metrics HTTP endpoint; `address` is the bound HOST:PORT."""

    def __init__(self, server: WSGIServer, address: str) -> None:
        self._server = server
        self.address = address
        self._thread = threading.Thread(
            target=server.serve_forever,
            args=(_POLL_INTERVAL_S,),
            name=f"metrics {address}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stops serving and releases the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(1.0)


def start_metrics_server(address: str, registry: CollectorRegistry) -> MetricsServer:
    """Serves `registry` over HTTP on `address` (HOST:PORT or [v6]:PORT; port 0 picks a
    free one) from a daemon thread. Any path answers; a scraper that asks for OpenMetrics
    (`Accept: application/openmetrics-text`, as Prometheus does) gets it, exemplars included;
    others get the classic text format; gzip when asked. Raises ValueError naming the address
    when it cannot be used."""
    try:
        parsed = parse_address(address, allow_port_zero=True)
    except ValueError as error:
        raise ValueError(f"metrics address: {error}") from None
    if parsed.is_unix:
        raise ValueError(f"metrics address {address!r}: must be HOST:PORT, not a unix socket")
    try:
        family = socket.getaddrinfo(
            parsed.host, parsed.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0][0]
        server_class = _ThreadingServer6 if family == socket.AF_INET6 else _ThreadingServer
        server: WSGIServer = make_server(
            parsed.host,
            parsed.port,
            make_wsgi_app(registry),
            server_class=server_class,
            handler_class=_QuietHandler,
        )
    except OSError as error:  # socket.gaierror included
        raise ValueError(
            f"metrics address {address!r}: cannot listen: {error.strerror or error}"
        ) from None
    host, port = server.server_address[:2]
    host_text = host.decode() if isinstance(host, bytes) else str(host)
    bound = f"[{host_text}]:{port}" if ":" in host_text else f"{host_text}:{port}"
    return MetricsServer(server, bound)
