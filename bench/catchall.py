"""An in-process gRPC server that answers every method with an empty message.

The extra tools registered for the memory measurement point at it: a call to any of their
methods through the sidecar then succeeds exactly when the sidecar has loaded that tool,
which is how the benchmark knows all of them are in the sidecar's catalog.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from typing import TYPE_CHECKING

import grpc

if TYPE_CHECKING:  # generic in the type stubs only
    _Handler = grpc.GenericRpcHandler[bytes, bytes]
else:
    _Handler = grpc.GenericRpcHandler


class _AnswerEverything(_Handler):
    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        return grpc.unary_unary_rpc_method_handler(_empty)


def _empty(request: bytes, context: grpc.ServicerContext) -> bytes:
    return b""


@contextmanager
def catch_all_server() -> Iterator[str]:
    """Serves on 127.0.0.1 (a free port); yields its HOST:PORT; stops it on exit."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((_AnswerEverything(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None)
