"""A collector that is down, or that hangs, costs traced calls nothing and blocks nothing.

The API is timed call by call (200 simulated relayed calls, each with one retry, yielding to
the event loop between calls as the relay does) with the exporter pointed at a closed port or
at a receiver whose Export never returns, against the same loop with tracing off.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import threading
import time
from collections.abc import Iterator

import pytest

from mesh.addresses import Address
from mesh.telemetry.trace_encoding import SpanEncoder
from mesh.telemetry.trace_export import SpanExportQueue
from mesh.telemetry.trace_settings import TracingSettings
from mesh.telemetry.tracing import ATTEMPT_FIRST, ATTEMPT_RETRY, Tracing
from tests.observability.otlp_receiver import OtlpReceiver

CALLS = 200
SLOWEST_ALLOWED_S = 0.050
# What tracing may add to a call on average, collector or not: generous against a noisy
# machine, yet far below what a blocked export would cost (the exporter's timeout is 2 s).
MEAN_OVERHEAD_ALLOWED_S = 0.001
HEADER = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
ENDPOINTS = (Address("127.0.0.1", 7001), Address("127.0.0.1", 7002))


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    yield port


def exporting_to(endpoint: str) -> Tracing:
    environ = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint,
        # Export early and often, so exports are in flight while the calls run.
        "OTEL_BSP_SCHEDULE_DELAY": "5",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10",
        "OTEL_BSP_MAX_QUEUE_SIZE": "100",
    }
    tracing = Tracing.from_environment(environ=environ)
    assert tracing.enabled
    return tracing


async def timed_calls(tracing: Tracing) -> list[float]:
    """Seconds each of CALLS simulated calls spent in the tracing API."""
    durations: list[float] = []
    for _ in range(CALLS):
        started = time.perf_counter()
        now = time.monotonic()
        call = tracing.start_call("echo", "/echo.v1.Echo/Echo", HEADER, started=now)
        if call is not None:
            first = call.child_attempt(1, ENDPOINTS[0], ATTEMPT_FIRST, now)
            first.traceparent()
            first.end(14, time.monotonic(), failure="connection refused")
            second = call.child_attempt(2, ENDPOINTS[1], ATTEMPT_RETRY, time.monotonic())
            second.traceparent()
            call.end(0, time.monotonic())
        durations.append(time.perf_counter() - started)
        await asyncio.sleep(0)  # the relay's callbacks return to the loop between events
    return durations


def assert_unaffected(traced: list[float], untraced: list[float]) -> None:
    assert len(traced) == CALLS
    assert max(traced) < SLOWEST_ALLOWED_S, f"slowest traced call took {max(traced):.4f}s"
    overhead = statistics.fmean(traced) - statistics.fmean(untraced)
    assert overhead < MEAN_OVERHEAD_ALLOWED_S, f"tracing added {overhead * 1e6:.0f} µs per call"


async def shutdown_within(tracing: Tracing, limit_s: float) -> None:
    started = time.monotonic()
    await asyncio.to_thread(tracing.shutdown, 0.2)
    assert time.monotonic() - started < limit_s


async def test_a_collector_that_is_down_costs_calls_nothing(
    closed_port: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2")
    untraced = await timed_calls(Tracing.off())
    tracing = exporting_to(f"http://127.0.0.1:{closed_port}")
    try:
        traced = await timed_calls(tracing)
        # The exporter did try (and is now backing off): nothing waited for it.
        deadline = time.monotonic() + 2.0
        while not any("exporting traces" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the exporter never tried the dead collector"
            await asyncio.sleep(0.01)
        assert_unaffected(traced, untraced)
        queue = tracing._queue
        assert queue is not None
        assert queue.exported_spans == 0
    finally:
        await shutdown_within(tracing, 3.0)


async def test_a_collector_that_hangs_costs_calls_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "10")  # the export would hang this long
    untraced = await timed_calls(Tracing.off())
    async with OtlpReceiver(hang=True) as receiver:
        tracing = exporting_to(receiver.endpoint)
        try:
            traced = await timed_calls(tracing)
            # An export reached the collector and is being held while the calls went on.
            await receiver.wait_for_exports(1, timeout_s=2.0)
            assert_unaffected(traced, untraced)
            assert tracing.dropped_calls > 0  # the queue (100 calls) filled up: newest dropped
            assert receiver.spans == []
        finally:
            await shutdown_within(tracing, 3.0)  # cuts the held export instead of waiting 10 s


def test_a_full_queue_drops_new_calls_and_counts_them() -> None:
    entered = threading.Event()
    release = threading.Event()

    def stuck_send(data: bytes, spans: int) -> bool:
        entered.set()
        release.wait(5.0)
        return True

    queue = SpanExportQueue(
        SpanEncoder(TracingSettings(endpoint="http://127.0.0.1:1")),
        stuck_send,
        max_queue_calls=10,
        max_batch_calls=5,
        schedule_delay_s=60.0,
    )
    tracing = Tracing(TracingSettings(endpoint="http://127.0.0.1:1"), queue)
    try:

        def one_call() -> None:
            call = tracing.start_call("echo", "/echo.v1.Echo/Echo", HEADER, started=1.0)
            assert call is not None
            call.child_attempt(1, ENDPOINTS[0], ATTEMPT_FIRST, 1.0)
            call.end(0, 2.0)

        for _ in range(5):  # a full batch wakes the thread, which gets stuck sending it
            one_call()
        assert entered.wait(2.0)
        for _ in range(15):
            one_call()
        assert queue.pending == 10
        assert tracing.dropped_calls == 5
    finally:
        release.set()
        tracing.shutdown(2.0)
    assert queue.exported_spans == 15 * 3  # what was queued still went out at shutdown
