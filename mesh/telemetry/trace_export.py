"""Exporting ended calls off the event loop: a bounded queue, one thread, OTLP/gRPC batches.

`SpanExportQueue.put` is all the event loop ever does (a deque append; a full queue drops
the call and counts it). The thread wakes every `schedule_delay_s`, or as soon as a batch is
full, encodes up to `max_batch_calls` calls per request and sends it with
opentelemetry-exporter-otlp's `OTLPSpanExporter` (its endpoint, TLS, headers, compression,
timeout and retry-with-backoff, all configured by the standard variables). A collector that
is down or hangs holds the thread, never a call: meanwhile the queue fills and drops.

The design is the SDK's BatchSpanProcessor's; it is not used as such because it takes SDK
span objects, which cost more to create (about 24 µs per span here) than relaying a call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mesh.addresses import Address
    from mesh.telemetry.trace_encoding import SpanEncoder
    from mesh.telemetry.trace_settings import TracingSettings
    from mesh.telemetry.tracing import CallSpan

log = logging.getLogger("toolmesh.tracing")

# Sends one encoded ExportTraceServiceRequest holding `spans` spans; True when accepted.
Send = Callable[[bytes, int], bool]
DROP_LOG_INTERVAL_S = 60.0  # at most one "queue full" warning this often


class SpanExportQueue:
    """Ended calls waiting for export, and the thread that exports them.

    `encoder` turns a batch of calls into request bytes; `send` delivers them (blocking is
    fine: it runs on the thread). `close` (optional) is called at shutdown after the thread
    had its chance to finish, to cut a delivery still in progress.
    """

    def __init__(
        self,
        encoder: SpanEncoder,
        send: Send,
        *,
        max_queue_calls: int = 2048,
        max_batch_calls: int = 512,
        schedule_delay_s: float = 5.0,
        close: Callable[[], None] | None = None,
    ) -> None:
        self.encoder = encoder
        self._send = send
        self._close = close
        self._max_queue = max_queue_calls
        self._max_batch = max_batch_calls
        self._delay = schedule_delay_s
        self._queue: deque[CallSpan] = deque()
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._passes_started = 0  # guarded by _progress
        self._passes_done = 0  # guarded by _progress
        self._stopping = False
        self._closed = False
        self.dropped = 0  # written by the event loop only
        self.exported_spans = 0  # written by the thread only
        self.discarded = 0  # left unsent at shutdown; written by the thread only
        self.failed_batches = 0  # written by the thread only
        self._dropped_logged = 0
        self._last_drop_log = 0.0
        self._thread = threading.Thread(target=self._run, name="toolmesh-trace-export", daemon=True)
        self._thread.start()

    def put(self, call: CallSpan) -> None:
        """Queues an ended call (the event loop's whole share of exporting)."""
        queue = self._queue
        if len(queue) >= self._max_queue or self._stopping:
            self.dropped += 1
            call.attempts.clear()  # see _drain
            return
        queue.append(call)
        if len(queue) >= self._max_batch and not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout_s: float) -> bool:
        """Exports everything queued before this call; False if not done within `timeout_s`."""
        with self._progress:
            target = self._passes_started + 1
            self._wake.set()
            return self._progress.wait_for(lambda: self._passes_done >= target, timeout_s)

    def shutdown(self, timeout_s: float) -> None:
        """Exports what is queued within `timeout_s`, then stops the thread. Idempotent."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout_s)
        self._closed = True
        if self._close is not None:
            self._close()  # cuts an export still waiting on the collector
        self._thread.join(1.0)

    @property
    def pending(self) -> int:
        return len(self._queue)

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._delay)
            self._wake.clear()
            self._pass()
        self._pass()

    def _pass(self) -> None:
        with self._progress:
            self._passes_started += 1
        try:
            self._drain()
        finally:
            with self._progress:
                self._passes_done += 1
                self._progress.notify_all()

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            if self._closed:
                # Shut down while the collector held us: what is left is not sent.
                self.discarded += len(queue)
                queue.clear()
                return
            count = min(self._max_batch, len(queue))
            batch = [queue.popleft() for _ in range(count)]
            try:
                data, spans = self.encoder.request(batch)
                sent = self._send(data, spans)
            except Exception:  # a bug must not stop exporting for good
                log.exception("could not export %d traced calls; they are dropped", count)
                sent, spans = False, 0
            finally:
                # Attempts point back at their call: emptying the list breaks the cycle, so
                # reference counting frees each call now rather than a full GC pass later.
                for call in batch:
                    call.attempts.clear()
            if sent:
                self.exported_spans += spans
            else:
                self.failed_batches += 1
            self._report_drops()

    def _report_drops(self) -> None:
        dropped = self.dropped
        now = time.monotonic()
        if dropped > self._dropped_logged and now - self._last_drop_log >= DROP_LOG_INTERVAL_S:
            log.warning(
                "trace export queue full: %d traced calls dropped so far"
                " (collector slow or down? raise OTEL_BSP_MAX_QUEUE_SIZE or sample less)",
                dropped,
            )
            self._dropped_logged = dropped
            self._last_drop_log = now


class _EncodedBatch:
    """What the OTLP exporter is handed instead of SDK spans: ready request bytes."""

    __slots__ = ("data", "spans")

    def __init__(self, data: bytes, spans: int) -> None:
        self.data = data
        self.spans = spans


EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def otlp_queue(settings: TracingSettings, listen: Address | None = None) -> SpanExportQueue:
    """The export queue for `settings`, sending to `settings.endpoint` over OTLP/gRPC."""
    import grpc
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )
    from opentelemetry.sdk.trace.export import SpanExportResult

    from mesh.telemetry.trace_encoding import SpanEncoder

    class EncodedTraceServiceStub:
        """TraceService's stub for requests that are already serialized."""

        def __init__(self, channel: grpc.Channel) -> None:
            self.Export = channel.unary_unary(
                EXPORT_METHOD,
                request_serializer=None,  # the request is the encoded bytes
                response_deserializer=ExportTraceServiceResponse.FromString,
            )

    class BytesExporter(OTLPSpanExporter):
        """The OTLP exporter (its channel, TLS, headers, timeout, retries and reconnection),
        fed encoded requests. Parsing them into the generated message only for its stub to
        serialize them again would cost about 2.5 µs per span; this stub sends the bytes."""

        def __init__(self, endpoint: str) -> None:
            super().__init__(endpoint=endpoint)
            # The exporter builds its stub from `_stub`, now and on each reconnection.
            self._stub = EncodedTraceServiceStub  # type: ignore[assignment]
            self._client = EncodedTraceServiceStub(self._channel)  # type: ignore[assignment,arg-type]

        def _translate_data(self, data: Any) -> Any:
            return data.data

        def _count_data(self, data: Any) -> int:
            return int(data.spans)

    exporter = BytesExporter(settings.endpoint)

    def send(data: bytes, spans: int) -> bool:
        batch: Sequence[Any] = _EncodedBatch(data, spans)  # type: ignore[assignment]
        return exporter.export(batch) is SpanExportResult.SUCCESS

    def close() -> None:
        exporter.shutdown(timeout_millis=0)

    return SpanExportQueue(
        SpanEncoder(settings, listen),
        send,
        max_queue_calls=settings.max_queue_calls,
        max_batch_calls=settings.max_batch_calls,
        schedule_delay_s=settings.schedule_delay_s,
        close=close,
    )
