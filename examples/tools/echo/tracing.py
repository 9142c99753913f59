"""The echo tool's own traces: one SERVER span per call, child of the caller's `traceparent`.

Instrumented as any tool author would, with the OpenTelemetry SDK: the W3C propagator reads
`traceparent`/`tracestate` from the request metadata (the sidecar writes one per attempt),
spans follow the same RPC semantic conventions as the sidecar's (v1.44.0, plus the names of
v1.37 unless `OTEL_SEMCONV_STABILITY_OPT_IN=rpc`), and a BatchSpanProcessor exports them with
the OTLP/gRPC exporter. Configuration is the sidecar's: the standard `OTEL_*` variables,
and tracing stays off unless a collector endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) — then the servicer is not even wrapped, so the plain
path pays nothing. `service.name` defaults to `echo`; `--instance` becomes
`service.instance.id`. Sampling follows `OTEL_TRACES_SAMPLER` (the SDK's default,
`parentbased_always_on`, traces exactly the calls the sidecar sampled).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from examples.tools.gen.echo.v1 import echo_pb2, echo_pb2_grpc

if TYPE_CHECKING:
    from examples.tools.echo.servicer import EchoServicer

EchoRequest = echo_pb2.EchoRequest
EchoResponse = echo_pb2.EchoResponse
Context = grpc.aio.ServicerContext[EchoRequest, EchoResponse]

SERVICE = "echo.v1.Echo"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
# gRPC codes a server span counts as errors (semantic conventions, gRPC server spans).
SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


def tracing_configured(environ: Mapping[str, str]) -> bool:
    """The sidecar's rule: on when a collector endpoint is set, unless disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return any(environ.get(variable, "").strip() for variable in ENDPOINT_VARIABLES)


class EchoTracing:
    """A tracer provider exporting the echo tool's spans; `wrap` a servicer to trace it."""

    def __init__(self, provider: TracerProvider, listen: str = "", legacy: bool = True) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("examples.tools.echo")
        self._propagator = TraceContextTextMapPropagator()
        self._legacy = legacy
        self._server = _host_port(listen)

    @classmethod
    def from_environment(cls, *, instance: str = "") -> EchoTracing | None:
        """Tracing as the process's `OTEL_*` variables configure it, or None when off."""
        environ = os.environ
        if not tracing_configured(environ):
            return None
        resource = Resource.create({})
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "echo"}))
        # The SDK makes up a random instance id; --instance names it unless the environment
        # does.
        if instance and "service.instance.id=" not in environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
            resource = resource.merge(Resource({"service.instance.id": instance}))
        provider = TracerProvider(resource=resource)  # the sampler comes from the environment
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        opt_in = {v.strip() for v in environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "").split(",")}
        return cls(provider, legacy="rpc/dup" in opt_in or "rpc" not in opt_in)

    def listening_on(self, address: str) -> None:
        """The server's bound `HOST:PORT`: `server.address`/`server.port` of the spans."""
        self._server = _host_port(address)

    def wrap(self, servicer: EchoServicer) -> TracedEchoServicer:
        return TracedEchoServicer(servicer, self)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Exports what is left, waiting at most `timeout_s` (a hanging collector is left
        behind: the export runs on a daemon thread)."""
        worker = threading.Thread(target=self.provider.shutdown, daemon=True)
        worker.start()
        worker.join(timeout_s)

    # ------------------------------------------------------------------ spans

    def start(self, method: str, context: Context) -> trace.Span:
        """The SERVER span of a call of `method`, child of the caller's `traceparent`."""
        carrier: dict[str, str] = {}
        for key, value in context.invocation_metadata() or ():
            if key in ("traceparent", "tracestate") and isinstance(value, str):
                carrier[key] = value
        full = f"{SERVICE}/{method}"
        attributes: dict[str, str | int] = {"rpc.system.name": "grpc", "rpc.method": full}
        if self._legacy:
            attributes.update({"rpc.system": "grpc", "rpc.service": SERVICE})
        if self._server is not None:
            attributes["server.address"], attributes["server.port"] = self._server
        peer = _peer(context.peer())
        if peer is not None:
            host, port = peer
            attributes.update(
                {
                    "client.address": host,
                    "client.port": port,
                    "network.peer.address": host,
                    "network.peer.port": port,
                }
            )
        return self._tracer.start_span(
            full,
            context=self._propagator.extract(carrier),
            kind=trace.SpanKind.SERVER,
            attributes=attributes,
        )

    def end(self, span: trace.Span, code: grpc.StatusCode) -> None:
        """Ends `span` with the call's status."""
        span.set_attribute("rpc.response.status_code", code.name)
        if self._legacy:
            span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code in SERVER_ERRORS:
            span.set_attribute("error.type", code.name)
            span.set_status(trace.StatusCode.ERROR)
        span.end()


class TracedEchoServicer(echo_pb2_grpc.EchoServicer):
    """An echo servicer wrapped in one SERVER span per call (the wrapped one does the work)."""

    def __init__(self, inner: EchoServicer, tracing: EchoTracing) -> None:
        self.inner = inner
        self.tracing = tracing

    @contextmanager
    def _span(self, method: str, context: Context) -> Iterator[None]:
        """A SERVER span around one call, ended with the status the call ends with."""
        span = self.tracing.start(method, context)
        code = grpc.StatusCode.UNKNOWN
        try:
            yield
            code = grpc.StatusCode.OK
        except BaseException as error:
            code = _status_of(error, context)
            raise
        finally:
            self.tracing.end(span, code)

    async def Echo(self, request: EchoRequest, context: Context) -> EchoResponse:
        with self._span("Echo", context):
            return await self.inner.Echo(request, context)

    async def Write(self, request: EchoRequest, context: Context) -> EchoResponse:
        with self._span("Write", context):
            return await self.inner.Write(request, context)

    async def ClientStream(
        self, request_iterator: AsyncIterator[EchoRequest], context: Context
    ) -> EchoResponse:
        with self._span("ClientStream", context):
            return await self.inner.ClientStream(request_iterator, context)

    async def ServerStream(
        self, request: EchoRequest, context: Context
    ) -> AsyncIterator[EchoResponse]:
        with self._span("ServerStream", context):
            async for response in self.inner.ServerStream(request, context):
                yield response

    async def Bidi(
        self, request_iterator: AsyncIterator[EchoRequest], context: Context
    ) -> AsyncIterator[EchoResponse]:
        with self._span("Bidi", context):
            async for response in self.inner.Bidi(request_iterator, context):
                yield response


def _status_of(error: BaseException, context: Context) -> grpc.StatusCode:
    """The status a handler that raised `error` ends its call with."""
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    code: Any = context.code()  # set by context.abort() before it raises
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.UNKNOWN  # what grpc answers for an unhandled exception


def _host_port(address: str) -> tuple[str, int] | None:
    """`HOST:PORT` or `[IPv6]:PORT` split; None for anything else (unix sockets...)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def _peer(peer: str | None) -> tuple[str, int] | None:
    """grpc's `ipv4:HOST:PORT` / `ipv6:[HOST]:PORT` peer string split; None otherwise."""
    if not peer:
        return None
    scheme, _, address = peer.partition(":")
    if scheme not in ("ipv4", "ipv6"):
        return None
    return _host_port(address)
