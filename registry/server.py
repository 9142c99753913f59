"""The registry process: store, watch hub, lease reaper and gRPC server, started and stopped
in one place.

`main(options)` is what the CLI calls: it runs `serve()` on uvloop, prints exactly one line
`toolmesh registry listening on HOST:PORT` to stdout once serving, logs to stderr, and
returns 0 after a clean shutdown (SIGTERM/SIGINT) or 1 after a start-up failure, which it
reports as one line on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import uvloop
from grpc_health.v1 import health_pb2, health_pb2_grpc

# grpcio-health-checking exposes its asyncio servicer as `health.aio`, which its typing misses.
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]

from mesh.addresses import Address, AddressError, parse_address
from mesh.api.v1 import registry_pb2, registry_pb2_grpc
from mesh.telemetry.metrics import (
    MetricsServer,
    RegistryMetrics,
    metrics_registry,
    start_metrics_server,
)
from registry.auth import BearerAuth
from registry.errors import StartupError
from registry.leases import SYSTEM_CLOCK, Clock, Reaper
from registry.options import RegistryOptions
from registry.service import RegistryService
from registry.store import Store
from registry.watch import DEFAULT_QUEUE_LIMIT, WatchHub

GRACE_PERIOD = 2.0  # seconds in-flight calls get to finish at shutdown
MAX_RECEIVE_MESSAGE_BYTES = 64 * 1024 * 1024  # descriptor sets can be large
SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["Registry"].full_name

_log = logging.getLogger(__name__)


@dataclass(slots=True)
class RunningRegistry:
    """A started registry. `address` is the bound `HOST:PORT` (the real port when 0 was asked)."""

    address: str
    store: Store
    hub: WatchHub
    server: grpc.aio.Server
    health: health_aio.HealthServicer
    reaper_task: asyncio.Task[None]
    metrics_server: MetricsServer | None = None

    async def stop(self, grace: float = GRACE_PERIOD) -> None:
        """Stops serving: watchers are told (UNAVAILABLE), calls in flight get `grace`
        seconds, then the reaper stops and the store closes."""
        await self.health.enter_graceful_shutdown()
        self.hub.close()
        await self.server.stop(grace)
        self.reaper_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):  # how the reaper is meant to end
            await self.reaper_task
        await self.store.close()
        if self.metrics_server is not None:
            self.metrics_server.close()
        _log.info("registry stopped")


def _listen_address(text: str) -> Address:
    try:
        return parse_address(text, allow_port_zero=True)
    except AddressError as error:
        raise StartupError(f"listen: {error}") from None


def _check_bindable(address: Address) -> None:
    """Binds and releases the address first, so a busy or unknown address gives a clear
    message (grpcio only says that binding failed)."""
    if address.is_unix:
        return
    try:
        candidates = socket.getaddrinfo(
            address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as error:
        raise StartupError(
            f"listen {address}: cannot resolve {address.host!r}: {error.strerror}"
        ) from None
    failure: OSError | None = None
    for family, kind, protocol, _, sockaddr in candidates:
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
                return
            except OSError as error:
                failure = error
    if failure is not None:
        reason = "address already in use" if failure.errno == errno.EADDRINUSE else failure.strerror
        raise StartupError(f"listen {address}: {reason}")


async def start(
    options: RegistryOptions,
    *,
    clock: Clock = SYSTEM_CLOCK,
    watch_queue_limit: int = DEFAULT_QUEUE_LIMIT,
) -> RunningRegistry:
    """Opens the store and starts serving on `options.listen`. Raises StartupError."""
    if options.token is not None and not options.token.strip():
        raise StartupError("token: the token is empty")
    listen = _listen_address(options.listen)
    _check_bindable(listen)
    collector = metrics_registry()
    metrics = RegistryMetrics(collector)
    store = await Store.open(options.db, clock=clock)
    metrics_server: MetricsServer | None = None
    try:
        hub = WatchHub(watch_queue_limit)
        store.add_listener(hub.publish)
        states, version = await store.list_tools()
        metrics.load_state([state.tool.name for state in states], version)
        store.add_listener(
            lambda change: metrics.apply_change(
                change.version, change.tool, change.state is not None
            )
        )
        metrics.track_watchers(lambda: hub.subscriber_count)
        if options.metrics_listen:
            try:
                metrics_server = start_metrics_server(options.metrics_listen, collector)
            except ValueError as error:
                raise StartupError(str(error)) from None
        reaper = Reaper(store, clock)
        server = grpc.aio.server(
            interceptors=[metrics.interceptor()],
            options=[
                ("grpc.max_receive_message_length", MAX_RECEIVE_MESSAGE_BYTES),
                # grpcio sets SO_REUSEPORT by default, which would let a second registry
                # bind the same port silently.
                ("grpc.so_reuseport", 0),
            ],
        )
        registry_pb2_grpc.add_RegistryServicer_to_server(  # type: ignore[no-untyped-call]
            RegistryService(store, hub, BearerAuth(options.token), reaper), server
        )
        health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        try:
            port = server.add_insecure_port(listen.grpc_target())
        except RuntimeError:
            raise StartupError(f"listen {listen}: cannot bind the address") from None
        await server.start()
    except BaseException:
        await store.close()
        if metrics_server is not None:
            metrics_server.close()
        raise
    for service in ("", SERVICE_NAME):
        await health.set(service, health_pb2.HealthCheckResponse.SERVING)
    reaper_task = asyncio.create_task(reaper.run(), name="registry-lease-reaper")
    bound = listen if listen.is_unix else Address(host=listen.host, port=port)
    _log.info(
        "registry serving on %s (store %s, version %d, auth %s)",
        bound,
        store.store_id,
        await store.version(),
        "on" if options.token else "off",
    )
    if metrics_server is not None:
        _log.info("registry metrics on http://%s/metrics", metrics_server.address)
    return RunningRegistry(str(bound), store, hub, server, health, reaper_task, metrics_server)


async def serve(options: RegistryOptions, *, ready: Callable[[str], None] | None = None) -> None:
    """Serves until cancelled or, in the main thread, until SIGTERM/SIGINT; then stops
    gracefully. Calls `ready(bound_address)` once serving. Raises StartupError."""
    running = await start(options)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    handle_signals = threading.current_thread() is threading.main_thread()
    try:
        if handle_signals:
            for signum in signals:
                loop.add_signal_handler(signum, stopping.set)
        if ready is not None:
            ready(running.address)
        await stopping.wait()
        _log.info("registry stopping (signal received)")
    finally:
        if handle_signals:
            for signum in signals:
                loop.remove_signal_handler(signum)
        await running.stop()


def main(options: RegistryOptions) -> int:
    """Runs the registry in this process on uvloop; returns the exit code."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    def announce(address: str) -> None:
        print(f"toolmesh registry listening on {address}", flush=True)

    try:
        uvloop.run(serve(options, ready=announce))
    except StartupError as error:
        print(f"toolmesh registry: error: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130  # interrupted while starting, before the signal handlers were in place
    return 0
