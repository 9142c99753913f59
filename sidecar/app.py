"""The sidecar process: registry watcher, relay, internal gRPC services and /metrics, wired once."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Callable

from mesh.addresses import Address, AddressError, parse_address
from mesh.telemetry.logs import DEFAULT_REDACTED_FIELDS, InvocationLog, PayloadLogging
from mesh.telemetry.metrics import (
    NullSidecarMetrics,
    SidecarMetrics,
    metrics_registry,
    start_metrics_server,
)
from mesh.telemetry.tracing import Tracing, TracingConfigError
from sidecar.catalog import Catalog, CatalogHolder
from sidecar.metric_series import declare_catalog_series
from sidecar.options import SidecarOptions
from sidecar.relay.relay import Relay
from sidecar.services.names import INTERNAL_SERVICES
from sidecar.services.server import start_internal_server
from sidecar.watch import RegistryWatcher

log = logging.getLogger("toolmesh.sidecar")

GC_THRESHOLD = 20_000  # allocations between young-generation collections (Python's default: 700)


class StartupError(Exception):
    """The sidecar cannot start; the message says why in one line."""


async def serve(
    options: SidecarOptions,
    *,
    ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> bool:
    """Runs the sidecar until `stop` is set (or SIGTERM/SIGINT when `stop` is None).

    Calls `ready(address)` once agents can connect. Returns True when every call in flight
    finished within the grace period.
    """
    try:
        listen = parse_address(options.listen, allow_port_zero=True)
        parse_address(options.registry)
    except AddressError as error:
        raise StartupError(str(error)) from None
    if listen.is_unix:
        raise StartupError("--listen must be HOST:PORT (agents connect over TCP)")
    if options.max_message_bytes < 1024:
        raise StartupError(
            f"--max-message-bytes must be at least 1024 (got {options.max_message_bytes})"
        )

    holder = CatalogHolder()
    watcher = RegistryWatcher(holder, options.registry, options.cache, options.token)
    registry = metrics_registry()
    # --no-telemetry: the relay's recording calls land on no-ops (it is not told, so the
    # baseline runs exactly the same relay code).
    metrics = SidecarMetrics(registry) if options.telemetry else NullSidecarMetrics()
    metrics.track_catalog(
        connected=lambda: watcher.connected,
        version=lambda: watcher.version,
        tools=lambda: len(holder.catalog.tools),
        updated_at=lambda: watcher.last_update_monotonic,
    )
    try:
        tracing = (
            Tracing.from_environment("toolmesh-sidecar") if options.telemetry else _tracing_off()
        )
    except TracingConfigError as error:
        raise StartupError(str(error)) from None
    metrics_server = None
    if options.metrics_listen:
        try:
            metrics_server = start_metrics_server(options.metrics_listen, registry)
        except ValueError as error:
            raise StartupError(str(error)) from None
    relay = Relay(
        holder,
        internal_services=INTERNAL_SERVICES,
        max_message_bytes=options.max_message_bytes,
        upstream_connections=options.upstream_connections,
        policies=options.policies,
        metrics=metrics,
        tracing=tracing,
        invocations=_invocation_log(options),
    )
    await watcher.start(options.registry_wait_s)
    try:
        host, port = await relay.start(listen.host, listen.port)
    except OSError as error:
        await watcher.stop()
        raise StartupError(
            f"cannot listen on {options.listen}: {error.strerror or error}"
        ) from None
    bound = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    tracing.listening_on(Address(host=host, port=port))
    log.info("tracing: %s", "on, OTLP export" if tracing.enabled else f"off ({tracing.off_reason})")
    relay.listen_hint = bound
    internal_server, internal_address = await start_internal_server(holder, bound)
    relay.internal_address = parse_address(internal_address)

    known_tools = set(holder.catalog.tools)
    declare_catalog_series(metrics, holder.catalog, policies=options.policies)

    def on_catalog(catalog: Catalog) -> None:
        relay.forget_endpoints(
            {address for entry in catalog.tools.values() for address in entry.endpoints}
        )
        for gone in known_tools - set(catalog.tools):
            metrics.forget_tool(gone)  # its series leave /metrics with it
        known_tools.clear()
        known_tools.update(catalog.tools)
        declare_catalog_series(metrics, catalog, policies=options.policies)

    holder.listeners.append(on_catalog)

    stop_event = stop or asyncio.Event()
    if stop is None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop_event.set)
    # Everything allocated so far lives as long as the process: keep the collector off it,
    # and collect less often (calls free themselves by reference counting).
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    if ready is not None:
        ready(bound)
    log.info("sidecar listening on %s (registry %s)", bound, options.registry)
    try:
        await stop_event.wait()
    finally:
        log.info("stopping: draining calls in flight (grace %.1fs)", options.grace_period_s)
        finished = await relay.shutdown(options.grace_period_s)
        await internal_server.stop(0.5)
        await watcher.stop()
        if metrics_server is not None:
            metrics_server.close()
        await asyncio.to_thread(tracing.shutdown, 5.0)  # flush what is queued, bounded
    return finished


def _tracing_off() -> Tracing:
    tracing = Tracing.off()
    tracing.off_reason = "--no-telemetry"
    return tracing


def _invocation_log(options: SidecarOptions) -> InvocationLog | None:
    if not options.invocation_log:
        return None
    payloads = None
    if options.log_payloads_bytes:
        if options.log_payloads_bytes < 16:
            raise StartupError(
                f"--log-payloads must be 0 (off) or at least 16 (got {options.log_payloads_bytes})"
            )
        payloads = PayloadLogging(
            max_bytes=options.log_payloads_bytes,
            redact=DEFAULT_REDACTED_FIELDS | frozenset(options.redact_fields),
        )
    return InvocationLog.to_stream(sys.stderr, payloads=payloads)


def main(options: SidecarOptions) -> int:
    """Runs the sidecar on uvloop; prints `toolmesh sidecar listening on HOST:PORT` when ready."""
    import uvloop

    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    def announce(address: str) -> None:
        print(f"toolmesh sidecar listening on {address}", flush=True)

    try:
        uvloop.run(serve(options, ready=announce))
    except StartupError as error:
        print(f"toolmesh sidecar: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
