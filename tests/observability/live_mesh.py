"""A live mesh for Prometheus to scrape: a real registry, a real sidecar, real tool servers.

Everything runs in process on one event loop in a background thread (`MeshLoop`), so the
synchronous Prometheus fixtures can drive it: the registry (SQLite file in a temp dir,
--metrics-listen on 127.0.0.1:0), the sidecar (`sidecar.app.serve` with --metrics-listen and
tracing exported to an in-process OTLP receiver, so calls carry trace ids as exemplars), and
scriptable tool servers (`SteeredProbe`) registered through the registry's API:

- "alpha" (two instances, 0.002 USD a call): the load's tool. Every call is OK; most answer
  at once, `SLOW_SHARE` of them after `SLOW_DELAY_MS`, so the 99th percentile sits in the
  middle of one histogram bucket ((10 ms, 25 ms]) rather than on a bucket edge, where the
  few hundred microseconds between the client's clock and the sidecar's could split them.
- "beta" (two instances, one slow; 1,500 tokens a call): hedges after 5 ms, retries
  UNAVAILABLE, ejects an endpoint after 3 straight failures, opens its breaker after 3
  failed calls, and falls back to "gamma" (same methods under its own service name).
- "delta": no retry budget at all, so a retryable failure is refused a retry
  (RETRY_BUDGET_EXHAUSTED).

The load client is grpc.aio on the same loop, timing each call with `time.perf_counter()`
around the whole RPC as an agent would.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import socket
import threading
import time
import urllib.request
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import uvloop
from google.protobuf import wrappers_pb2

from mesh.api.v1 import registry_pb2, registry_pb2_grpc
from registry.options import RegistryOptions
from registry.server import RunningRegistry
from registry.server import start as start_registry
from sidecar.app import serve as serve_sidecar
from sidecar.options import SidecarOptions
from tests.observability.feed import LoadReport
from tests.observability.otlp_receiver import OtlpReceiver
from tests.observability.prometheus_server import poll
from tests.relay.probe import CHANNEL_OPTIONS, Probe, tool_state

T = TypeVar("T")

ALPHA, BETA, GAMMA, DELTA = "alpha", "beta", "gamma", "delta"
SERVICES = {name: f"{name}.v1.Probe" for name in (ALPHA, BETA, GAMMA, DELTA)}
LOAD_CALLS = 300  # alpha calls of the load
LOAD_BUDGET_S = 10.0  # the load stops here even if calls remain (a test then fails)
SLOW_SHARE = 0.04  # share of alpha calls answered after SLOW_DELAY_MS: they hold the p99
SLOW_DELAY_MS = 16  # mid-bucket of (10 ms, 25 ms], far from both edges
CALL_TIMEOUT_S = 5.0
START_TIMEOUT_S = 10.0
SEED = 11

BETA_POLICY = """\
methods: {Unary: {idempotent: true}}
retry: {max_attempts: 3, initial_backoff: 1ms, max_backoff: 2ms, budget_ratio: 1}
hedging: {enabled: true, delay: 5ms}
circuit_breaker: {consecutive_failures: 3, failure_rate: 0, open_for: 60s}
outlier_detection: {consecutive_failures: 3, base_ejection_time: 60s}
load_balancing: round_robin
fallback: gamma
"""
DELTA_POLICY = """\
methods: {Unary: {idempotent: true}}
retry: {budget_ratio: 0, budget_min_per_second: 0}
circuit_breaker: {enabled: false}
outlier_detection: {enabled: false}
"""
ALPHA_POLICY = "load_balancing: round_robin\n"

# The sidecar exports its spans to the in-process receiver, quickly, keeping every sampled call.
TRACING_ENVIRONMENT = {
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "",  # set to the receiver's endpoint at start
    "OTEL_BSP_SCHEDULE_DELAY": "100",
    "OTEL_TRACES_SAMPLER": "parentbased_always_on",
}
TRACING_CLEARED = ("OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT")


class SteeredProbe(Probe):
    """The relay tests' probe, serving only `Unary` under the service name it is given,
    and waiting `x-delay-ms` milliseconds first when the call asks (a slow answer)."""

    async def unary(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:  # type: ignore[type-arg]
        delay_ms = dict(context.invocation_metadata() or ()).get("x-delay-ms")
        if delay_ms:
            await asyncio.sleep(float(str(delay_ms)) / 1000)  # the tool being slow
        return await super().unary(request, context)

    def handler_for(self, service: str) -> grpc.GenericRpcHandler[Any, Any]:
        unary = grpc.unary_unary_rpc_method_handler(self.unary)
        return grpc.method_handlers_generic_handler(service, {"Unary": unary})


class MeshLoop:
    """An event loop (uvloop, as the sidecar runs on) in a daemon thread."""

    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-mesh", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float) -> T:
        """Runs `coroutine` on the loop and returns its result (TimeoutError after timeout_s)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


def free_loopback_port() -> int:
    """A port free on 127.0.0.1 now (for the sidecar's /metrics, whose bound port serve()
    does not report)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def tracing_environment(endpoint: str) -> Iterator[None]:
    """The OTEL_* variables the sidecar reads at start, restored afterwards."""
    names = (*TRACING_ENVIRONMENT, *TRACING_CLEARED)
    saved = {name: os.environ.get(name) for name in names}
    for name in TRACING_CLEARED:
        os.environ.pop(name, None)
    os.environ.update(TRACING_ENVIRONMENT | {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def scraped_value(address: str, name: str) -> float | None:
    """The value of the unlabelled sample `name` on http://address/metrics (None: absent)."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=2) as response:
        text = response.read().decode()
    for line in text.splitlines():
        metric, _, value = line.partition(" ")
        if metric == name:
            return float(value)
    return None


def _pack(data: bytes) -> bytes:
    return wrappers_pb2.BytesValue(value=data).SerializeToString()


@dataclass
class Tally:
    """What the load client did and saw."""

    calls: int = 0  # every call sent through the sidecar
    alpha_durations: list[float] = field(default_factory=list)  # seconds, all OK
    alpha_codes: list[grpc.StatusCode] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)
    codes: dict[str, list[grpc.StatusCode]] = field(default_factory=dict)  # per other tool


class LiveMesh:
    """The mesh, started by `start()` and stopped by `close()` (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.loop = MeshLoop()
        self.rng = random.Random(SEED)
        self.tally = Tally()
        self.probes: dict[str, list[SteeredProbe]] = {}
        self.servers: list[grpc.aio.Server] = []
        self.receiver = OtlpReceiver()
        self.registry: RunningRegistry | None = None
        self.sidecar_stop: asyncio.Event | None = None
        self.sidecar_task: asyncio.Task[bool] | None = None
        self.sidecar_address = ""
        self.sidecar_metrics = ""
        self.channel: grpc.aio.Channel | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> dict[str, str]:
        """Starts everything, waits until the sidecar's catalog holds every tool, and
        returns the scrape targets (Prometheus job -> HOST:PORT)."""
        self.loop.run(self._start_tools_and_registry(), START_TIMEOUT_S)
        assert self.registry is not None and self.registry.metrics_server is not None
        self.sidecar_metrics = f"127.0.0.1:{free_loopback_port()}"
        with tracing_environment(self.receiver.endpoint):
            self.loop.run(self._start_sidecar(), START_TIMEOUT_S)
        poll(
            "the sidecar's catalog to hold every tool",
            lambda: (
                scraped_value(self.sidecar_metrics, "toolmesh_catalog_tools") == len(SERVICES)
                or None
            ),
            START_TIMEOUT_S,
        )
        return {
            "toolmesh-sidecar": self.sidecar_metrics,
            "toolmesh-registry": self.registry.metrics_server.address,
        }

    async def _start_tools_and_registry(self) -> None:
        await self.receiver.start()
        self.registry = await start_registry(
            RegistryOptions(
                listen="127.0.0.1:0",
                db=str(self.directory / "registry.db"),
                metrics_listen="127.0.0.1:0",
            )
        )
        instances = {ALPHA: 2, BETA: 2, GAMMA: 1, DELTA: 1}
        addresses: dict[str, list[str]] = {}
        for tool, count in instances.items():
            for index in range(count):
                probe = SteeredProbe(f"{tool}-{index}", seed=SEED + index)
                server = grpc.aio.server(options=CHANNEL_OPTIONS)
                server.add_generic_rpc_handlers((probe.handler_for(SERVICES[tool]),))
                port = server.add_insecure_port("127.0.0.1:0")
                await server.start()
                self.servers.append(server)
                self.probes.setdefault(tool, []).append(probe)
                addresses.setdefault(tool, []).append(f"127.0.0.1:{port}")
        self.probes[BETA][0].delay_s = 0.03  # the slow instance the hedges overtake
        costs = {ALPHA: (0.002, "USD"), BETA: (1500.0, "tokens")}
        policies = {ALPHA: ALPHA_POLICY, BETA: BETA_POLICY, DELTA: DELTA_POLICY}
        async with grpc.aio.insecure_channel(self.registry.address) as channel:
            stub = registry_pb2_grpc.RegistryStub(channel)  # type: ignore[no-untyped-call]
            for tool in (GAMMA, ALPHA, BETA, DELTA):  # a fallback names a registered tool
                definition = tool_state(
                    tool, addresses[tool], policies.get(tool, ""), service=SERVICES[tool]
                ).tool
                if tool in costs:
                    definition.cost.amount, definition.cost.unit = costs[tool]
                await stub.RegisterTool(
                    registry_pb2.RegisterToolRequest(tool=definition), timeout=CALL_TIMEOUT_S
                )
            # One refused lookup, so the registry's request series carry an error code too.
            try:
                await stub.GetTool(
                    registry_pb2.GetToolRequest(name="missing"), timeout=CALL_TIMEOUT_S
                )
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.NOT_FOUND, error
            else:
                raise AssertionError("GetTool of an unknown tool answered")

    async def _start_sidecar(self) -> None:
        assert self.registry is not None
        ready = asyncio.Event()
        self.sidecar_stop = asyncio.Event()

        def on_ready(address: str) -> None:
            self.sidecar_address = address
            ready.set()

        options = SidecarOptions(
            listen="127.0.0.1:0",
            registry=self.registry.address,
            metrics_listen=self.sidecar_metrics,
            cache=str(self.directory / "sidecar-cache.bin"),
            grace_period_s=0.5,
        )
        self.sidecar_task = asyncio.create_task(
            serve_sidecar(options, ready=on_ready, stop=self.sidecar_stop)
        )
        waiting = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait(
            {waiting, self.sidecar_task}, timeout=START_TIMEOUT_S, return_when="FIRST_COMPLETED"
        )
        if waiting not in done:
            waiting.cancel()
            if self.sidecar_task in done:
                self.sidecar_task.result()  # raises the sidecar's StartupError
            raise TimeoutError(f"the sidecar was not ready within {START_TIMEOUT_S:g}s")
        self.channel = grpc.aio.insecure_channel(self.sidecar_address, options=CHANNEL_OPTIONS)

    def close(self) -> None:
        try:
            self.loop.run(self._stop(), 15)
        finally:
            self.loop.close()

    async def _stop(self) -> None:
        if self.channel is not None:
            await self.channel.close(None)
        if self.sidecar_stop is not None and self.sidecar_task is not None:
            self.sidecar_stop.set()
            await asyncio.wait_for(self.sidecar_task, 10)
        if self.registry is not None:
            await self.registry.stop(0.5)
        for server in self.servers:
            await server.stop(None)
        await self.receiver.stop()

    # ---------------------------------------------------------------- calls

    async def _call(
        self, tool: str, metadata: Mapping[str, str] | None = None
    ) -> tuple[grpc.StatusCode, float]:
        """One Unary call to `tool` through the sidecar: its status and duration (seconds)."""
        assert self.channel is not None
        method = self.channel.unary_unary(f"/{SERVICES[tool]}/Unary", None, None)
        self.tally.calls += 1
        started = time.perf_counter()
        try:
            await method(
                _pack(b"x"), timeout=CALL_TIMEOUT_S, metadata=tuple((metadata or {}).items())
            )
            code = grpc.StatusCode.OK
        except grpc.aio.AioRpcError as error:
            code = error.code()
        seconds = time.perf_counter() - started
        if tool != ALPHA:
            self.tally.codes.setdefault(tool, []).append(code)
        return code, seconds

    async def _alpha_call(self, slow: bool) -> None:
        """An alpha call carrying a sampled W3C trace context (its trace id is the exemplar)."""
        metadata = self._traced()
        if slow:
            metadata["x-delay-ms"] = str(SLOW_DELAY_MS)
        code, seconds = await self._call(ALPHA, metadata)
        self.tally.alpha_codes.append(code)
        self.tally.alpha_durations.append(seconds)

    def _traced(self) -> dict[str, str]:
        """Metadata carrying a new sampled W3C trace context, whose trace id is recorded."""
        trace_id = f"{self.rng.getrandbits(128):032x}"
        self.tally.trace_ids.append(trace_id)
        return {"traceparent": f"00-{trace_id}-{self.rng.getrandbits(64):016x}-01"}

    # ---------------------------------------------------------------- phases

    def warm_up(self) -> None:
        """One OK call to each tool before Prometheus' first scrape, so every route's series
        exist at their starting values and `rate()` sees the load's whole increase."""
        self.loop.run(self._warm_up(), START_TIMEOUT_S)

    async def _warm_up(self) -> None:
        for tool in (ALPHA, BETA, GAMMA, DELTA):
            code, _ = await self._call(tool, self._traced())
            assert code == grpc.StatusCode.OK, f"warm-up call to {tool}: {code}"
        self.tally.codes.clear()

    def drive(self) -> LoadReport:
        """The bounded load: beta's and delta's events first (so the series they create get
        scraped a few times during alpha's load), then LOAD_CALLS alpha calls."""
        self.loop.run(self._drive(), LOAD_BUDGET_S + 5)
        tally = self.tally
        assert len(tally.alpha_durations) == LOAD_CALLS, "the load ran out of time"
        assert set(tally.alpha_codes) == {grpc.StatusCode.OK}, tally.alpha_codes
        return LoadReport(
            total_calls=tally.calls,
            ok_durations={ALPHA: tally.alpha_durations},
            trace_ids=tally.trace_ids,
        )

    async def _drive(self) -> None:
        deadline = time.monotonic() + LOAD_BUDGET_S
        # Hedges: beta's first instance answers in 30 ms, the hedge goes out after 5 ms.
        for _ in range(6):
            await self._call(BETA)
        # Retries: the first two attempts fail at once (UNAVAILABLE), the third answers.
        for probe in self.probes[BETA]:
            probe.fail_next = 1
        await self._call(BETA)
        # Failures: every attempt fails at once (a trailers-only UNAVAILABLE, which the
        # sidecar may retry), and so does the fallback, which gets the same metadata. Three
        # straight failures eject an endpoint and open the breaker.
        for _ in range(3):
            await self._call(BETA, {"x-fail-rate": "1"})
        # The breaker is open: calls go to the fallback tool and succeed there.
        for _ in range(3):
            await self._call(BETA)
        # Delta cannot afford a retry: RETRY_BUDGET_EXHAUSTED.
        for _ in range(2):
            await self._call(DELTA, {"x-fail-rate": "1"})
        slow = set(self.rng.sample(range(LOAD_CALLS), math.ceil(SLOW_SHARE * LOAD_CALLS)))
        for index in range(LOAD_CALLS):
            if time.monotonic() > deadline:
                break
            await self._alpha_call(index in slow)
