"""Known observations fed through the metrics API: a stand-in for a live mesh under load.

`FedMesh` serves a sidecar's and a registry's /metrics like the real processes would and
produces, in two phases, every kind of series the dashboards and rules read:

- `warm_up()` (before Prometheus' first scrape): every series the load will touch exists,
  so `rate()` sees the load's whole increase. Tool "alpha" has had no call yet: its call
  histograms exist at zero (as a sidecar's do once a route is built), so every bucket starts
  from zero and Prometheus' rate() scales them all alike: its p99 is exactly the buckets'.
- `drive()` (the bounded load): "alpha" answers 2,000 calls, all OK, with durations from a
  seeded log-normal spread (median 5 ms); "beta" fails, retries, hedges, falls back to
  alpha, trips its breaker, has an endpoint ejected and refuses calls for each mesh reason.

Swapping in a live mesh means providing the same `MetricsSource` from real processes: the
targets are their --metrics-listen addresses, `drive()` runs the load client and reports what
it measured.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from mesh.policy.breaker import BreakerState
from mesh.telemetry.metrics import (
    FAST_FAILURE_REASONS,
    MetricsServer,
    RegistryMetrics,
    SidecarMetrics,
    metrics_registry,
    start_metrics_server,
)

ALPHA = "alpha"
ALPHA_METHODS = ("alpha.v1.Alpha/Get", "alpha.v1.Alpha/List")
ALPHA_ENDPOINTS = ("127.0.0.1:7001", "127.0.0.1:7002")
BETA = "beta"
BETA_METHOD = "beta.v1.Beta/Put"
BETA_ENDPOINTS = ("127.0.0.1:7101", "127.0.0.1:7102")
CALLS = 2000
SEED = 11

OK, DEADLINE_EXCEEDED, UNAVAILABLE = 0, 4, 14


@dataclass
class LoadReport:
    """What the load did, as its client saw it."""

    total_calls: (
        int  # every call of warm-up and load: what toolmesh_call_duration_seconds_count sums to
    )
    ok_durations: dict[str, list[float]]  # per tool, seconds of each OK call of the load
    trace_ids: list[str] = field(default_factory=list)  # trace ids the calls carried


@dataclass
class MetricsSource:
    """Scrape targets (Prometheus job -> HOST:PORT), the load, and what the tests expect."""

    targets: dict[str, str]
    drive: Callable[[], LoadReport]
    drilldown_tool: str  # the tool the per-tool dashboard is checked with
    quantile_tool: str  # the tool whose p99 is compared with the load's own measurements
    firing_alerts: frozenset[str]  # alerts the load must make fire (those without `for`)
    # Series the load increases that must have been scraped at 0 before it (declared from
    # the catalog, so `increase()` sees their first event); empty when nothing declares them.
    declared_series: tuple[str, ...] = ()


def _trace_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


class FedMesh:
    """A sidecar's and a registry's metrics endpoints, fed with known observations."""

    def __init__(self) -> None:
        self.sidecar_registry = metrics_registry()
        self.registry_registry = metrics_registry()
        self.sidecar = SidecarMetrics(self.sidecar_registry)
        self.registry = RegistryMetrics(self.registry_registry)
        self.servers: list[MetricsServer] = []
        self.calls = 0
        self.rng = random.Random(SEED)
        self.ejected = 0

    def start(self) -> dict[str, str]:
        for registry in (self.sidecar_registry, self.registry_registry):
            self.servers.append(start_metrics_server("127.0.0.1:0", registry))
        return {
            "toolmesh-sidecar": self.servers[0].address,
            "toolmesh-registry": self.servers[1].address,
        }

    def close(self) -> None:
        for server in self.servers:
            server.close()

    def _call(self, tool: str, method: str, code: int, seconds: float, trace: str | None) -> None:
        route = self.sidecar.route(tool, method)
        route.call_started()
        route.call(code, seconds, trace)
        self.calls += 1

    def warm_up(self) -> None:
        """Creates every series before the first scrape (see the module docstring)."""
        sidecar = self.sidecar
        for method in ALPHA_METHODS:
            sidecar.route(ALPHA, method)
        sidecar.route(BETA, BETA_METHOD)
        sidecar.tool(BETA).track_ejected(lambda: self.ejected)
        sidecar.tool(ALPHA).track_ejected(lambda: 0)
        sidecar.track_catalog(
            connected=lambda: True, version=lambda: 42, tools=lambda: 2, updated_at=lambda: 0.0
        )
        self.registry.load_state([ALPHA, BETA], 42)
        self.registry.track_watchers(lambda: 1)
        self._beta_round()
        for endpoint in ALPHA_ENDPOINTS:
            for method in ALPHA_METHODS:
                self.sidecar.route(ALPHA, method).cost(0.0, "USD", success=True)
                self.sidecar.route(ALPHA, method).attempt(endpoint, OK, 0.001)
        self.registry.request("RegisterTool", OK)
        self.registry.request("GetTool", 5)  # NOT_FOUND
        self.registry.request("Watch", OK)

    def _beta_round(self) -> None:
        """One of everything beta does: failures, retries, hedges, fallbacks, fast failures."""
        beta = self.sidecar.route(BETA, BETA_METHOD)
        rng = self.rng
        beta.call_started()
        beta.attempt_started("first")
        beta.attempt(BETA_ENDPOINTS[0], UNAVAILABLE, 0.004)
        beta.retry(UNAVAILABLE)
        beta.attempt_started("retry")
        beta.attempt(BETA_ENDPOINTS[1], OK, 0.003)
        beta.call(OK, 0.02, _trace_id(rng))
        beta.cost(1500, "tokens", success=True)
        self.calls += 1

        beta.call_started()
        beta.attempt_started("first")
        beta.attempt_started("resend")
        beta.retry(UNAVAILABLE, unprocessed=True)
        beta.attempt_started("hedge")
        beta.hedge()
        beta.attempt(BETA_ENDPOINTS[0], DEADLINE_EXCEEDED, 0.5)
        beta.call(DEADLINE_EXCEEDED, 0.5)
        beta.cost(1500, "tokens", success=False)
        self.calls += 1

        beta.call_started()
        beta.fallback(ALPHA)
        beta.attempt_started("fallback")
        beta.call(UNAVAILABLE, 0.05)
        self.calls += 1
        for reason in FAST_FAILURE_REASONS:
            beta.fast_failure(reason)
        self.sidecar.tool(BETA).ejection(BETA_ENDPOINTS[0])

    def drive(self) -> LoadReport:
        """The bounded load (see the module docstring)."""
        rng = self.rng
        durations: list[float] = []
        traces: list[str] = []
        for index in range(CALLS):
            seconds = min(59.0, math.exp(rng.gauss(math.log(0.005), 1.0)))
            method = ALPHA_METHODS[index % 2]
            trace = _trace_id(rng) if index % 10 == 0 else None
            if trace:
                traces.append(trace)
            route = self.sidecar.route(ALPHA, method)
            route.attempt_started("first")
            route.attempt(ALPHA_ENDPOINTS[index % 2], OK, seconds * 0.9, trace)
            route.cost(0.002, "USD", success=True)
            self._call(ALPHA, method, OK, seconds, trace)
            durations.append(seconds)
        for _ in range(20):
            self._beta_round()
        self.sidecar.route(BETA, BETA_METHOD).breaker_transition(
            BreakerState.CLOSED, BreakerState.OPEN
        )
        self.ejected = 1
        for rpc, code in (("RegisterTool", OK), ("GetTool", 5), ("Watch", OK)):
            self.registry.request(rpc, code)
        self.registry.apply_change(43, "gamma", present=True)
        return LoadReport(total_calls=self.calls, ok_durations={ALPHA: durations}, trace_ids=traces)
