"""A real OTLP/gRPC trace receiver for tests: the collector's TraceService on 127.0.0.1:0.

It implements `opentelemetry.proto.collector.trace.v1.TraceService/Export` with grpc.aio,
keeps every span it receives (flattened, with its resource), and lets a test wait for the
spans it expects with a deadline instead of sleeping:

    async with OtlpReceiver() as receiver:
        ...  # point OTEL_EXPORTER_OTLP_ENDPOINT at receiver.endpoint
        spans = await receiver.wait_for(lambda spans: len(spans) >= 4, timeout_s=2)

`OtlpReceiver(hang=True)` accepts Export calls and never answers them (until it stops), to
test that a stuck collector costs the traced process nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

AttributeValue = str | bool | int | float | bytes | list[Any] | dict[str, Any] | None

_KINDS = {
    trace_pb2.Span.SPAN_KIND_UNSPECIFIED: "UNSPECIFIED",
    trace_pb2.Span.SPAN_KIND_INTERNAL: "INTERNAL",
    trace_pb2.Span.SPAN_KIND_SERVER: "SERVER",
    trace_pb2.Span.SPAN_KIND_CLIENT: "CLIENT",
    trace_pb2.Span.SPAN_KIND_PRODUCER: "PRODUCER",
    trace_pb2.Span.SPAN_KIND_CONSUMER: "CONSUMER",
}
_STATUS = {
    trace_pb2.Status.STATUS_CODE_UNSET: "UNSET",
    trace_pb2.Status.STATUS_CODE_OK: "OK",
    trace_pb2.Status.STATUS_CODE_ERROR: "ERROR",
}


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the receiver got it; ids as lowercase hex ("" for no parent)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str  # SERVER, CLIENT, INTERNAL...
    start_ns: int
    end_ns: int
    attributes: dict[str, AttributeValue]
    status: str  # UNSET, OK, ERROR
    status_message: str
    trace_state: str
    flags: int
    resource: dict[str, AttributeValue] = field(repr=False)
    scope: str = ""

    @property
    def service(self) -> str:
        return str(self.resource.get("service.name", ""))

    @property
    def parent_is_remote(self) -> bool | None:
        """What Span.flags says of the parent (None when it does not say)."""
        if not self.flags & 0x100:
            return None
        return bool(self.flags & 0x200)


def any_value(value: common_pb2.AnyValue) -> AttributeValue:
    """An AnyValue as the Python value it holds."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    result: AttributeValue = getattr(value, kind)
    return result


def _attributes(pairs: Sequence[common_pb2.KeyValue]) -> dict[str, AttributeValue]:
    return {pair.key: any_value(pair.value) for pair in pairs}


def flatten(request: trace_service_pb2.ExportTraceServiceRequest) -> list[ReceivedSpan]:
    """The spans of an Export request, each with its resource's attributes."""
    out: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=_KINDS.get(span.kind, str(span.kind)),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=_attributes(span.attributes),
                        status=_STATUS.get(span.status.code, str(span.status.code)),
                        status_message=span.status.message,
                        trace_state=span.trace_state,
                        flags=span.flags,
                        resource=resource,
                        scope=scope_spans.scope.name,
                    )
                )
    return out


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    async def Export(
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        receiver = self._receiver
        receiver.exports += 1
        if receiver.hang:
            receiver._notify()
            # Never answers: waits until the server stops (which cancels this handler).
            await asyncio.get_running_loop().create_future()
        receiver.spans.extend(flatten(request))
        receiver._notify()
        return trace_service_pb2.ExportTraceServiceResponse()


class OtlpReceiver:
    """An OTLP/gRPC trace receiver on 127.0.0.1 (a free port), for one test.

    `spans` holds every span received, in arrival order; `exports` counts Export calls
    (answered or, with `hang`, held). Use from the event loop it was started on.
    """

    def __init__(self, *, hang: bool = False) -> None:
        self.hang = hang
        self.spans: list[ReceivedSpan] = []
        self.exports = 0
        self.address = ""
        self._server: grpc.aio.Server | None = None
        self._changed = asyncio.Event()

    @property
    def endpoint(self) -> str:
        """The URL to put in OTEL_EXPORTER_OTLP_ENDPOINT."""
        return f"http://{self.address}"

    async def start(self) -> str:
        """Starts serving; returns `HOST:PORT`."""
        server = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _TraceService(self), server
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._server = server
        self.address = f"127.0.0.1:{port}"
        return self.address

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(None)  # cancels held (hanging) exports
            self._server = None

    async def __aenter__(self) -> OtlpReceiver:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_for(
        self, condition: Callable[[list[ReceivedSpan]], bool], timeout_s: float = 2.0
    ) -> list[ReceivedSpan]:
        """Returns `spans` once `condition(spans)` holds; TimeoutError after `timeout_s`,
        naming what had arrived."""

        async def satisfied() -> None:
            while not condition(self.spans):
                await self._next_change()

        try:
            await asyncio.wait_for(satisfied(), timeout_s)
        except TimeoutError:
            names = [f"{s.kind} {s.name}" for s in self.spans]
            raise TimeoutError(
                f"the receiver did not get the expected spans within {timeout_s}s;"
                f" it got {len(self.spans)} in {self.exports} exports: {names}"
            ) from None
        return self.spans

    async def wait_for_exports(self, count: int = 1, timeout_s: float = 2.0) -> None:
        """Returns once `count` Export calls arrived (answered or held)."""

        async def arrived() -> None:
            while self.exports < count:
                await self._next_change()

        await asyncio.wait_for(arrived(), timeout_s)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.trace_id == trace_id]

    async def _next_change(self) -> None:
        await self._changed.wait()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
