"""`python -m bench.otlp_sink`: an OTLP/gRPC trace receiver that counts spans, for the
telemetry benchmark.

Serves `opentelemetry.proto.collector.trace.v1.TraceService/Export` on 127.0.0.1 (a free
port), prints `otlp sink listening on HOST:PORT`, then after every Export one line
`spans SERVICE TOTAL`: the spans received so far from each `service.name` that request
carried. It keeps nothing else: a collector that answers at once, so a traced sidecar's
export really happens (encoding, HTTP/2, the answer) and costs what it costs.
Runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

SERVICE_NAME_KEY = "service.name"


def spans_by_service(request: trace_service_pb2.ExportTraceServiceRequest) -> Counter[str]:
    """The spans in `request` per `service.name` resource attribute ("" when absent)."""
    counts: Counter[str] = Counter()
    for resource_spans in request.resource_spans:
        service = next(
            (
                attribute.value.string_value
                for attribute in resource_spans.resource.attributes
                if attribute.key == SERVICE_NAME_KEY
            ),
            "",
        )
        counts[service] += sum(len(scope.spans) for scope in resource_spans.scope_spans)
    return counts


class CountingTraceService(trace_service_pb2_grpc.TraceServiceServicer):
    """Counts the spans of each Export per service and prints the running totals."""

    def __init__(self) -> None:
        self.totals: Counter[str] = Counter()

    async def Export(
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.aio.ServicerContext[
            trace_service_pb2.ExportTraceServiceRequest,
            trace_service_pb2.ExportTraceServiceResponse,
        ],
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        received = spans_by_service(request)
        self.totals.update(received)
        for service in received:
            print(f"spans {service or '-'} {self.totals[service]}", flush=True)
        return trace_service_pb2.ExportTraceServiceResponse()


async def serve() -> None:
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
        CountingTraceService(), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"otlp sink listening on 127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(0.5)


if __name__ == "__main__":
    asyncio.run(serve())
    sys.exit(0)
