"""A scripted toolmesh.v1.Registry: a real grpc.aio server whose Watch streams the test drives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from mesh.api.v1 import registry_pb2

_CLOSE = object()


class WatchStream:
    """One Watch call: what it asked, and controls to send on it or end it."""

    def __init__(self, request: registry_pb2.WatchRequest, metadata: dict[str, str]) -> None:
        self.request = request
        self.metadata = metadata
        self._outbox: asyncio.Queue[Any] = asyncio.Queue()

    def send(self, response: registry_pb2.WatchResponse) -> None:
        self._outbox.put_nowait(response)

    def close(self) -> None:
        """Ends the stream with OK (the watcher must reconnect)."""
        self._outbox.put_nowait(_CLOSE)

    def fail(self, code: grpc.StatusCode) -> None:
        self._outbox.put_nowait(code)

    async def next_item(self) -> Any:
        return await self._outbox.get()


class FakeRegistry:
    """Serves only Registry/Watch, on 127.0.0.1:0 (or the given port)."""

    def __init__(self) -> None:
        self.server = grpc.aio.server()
        self._streams: asyncio.Queue[WatchStream] = asyncio.Queue()
        self.address = ""

    async def start(self, port: int = 0) -> str:
        handler = grpc.unary_stream_rpc_method_handler(
            self._watch,
            request_deserializer=registry_pb2.WatchRequest.FromString,
            response_serializer=registry_pb2.WatchResponse.SerializeToString,
        )
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("toolmesh.v1.Registry", {"Watch": handler})]
        )
        bound = self.server.add_insecure_port(f"127.0.0.1:{port}")
        await self.server.start()
        self.address = f"127.0.0.1:{bound}"
        return self.address

    async def stop(self) -> None:
        await self.server.stop(None)

    async def next_stream(self, timeout: float = 2.0) -> WatchStream:
        """The next Watch call the watcher opens."""
        return await asyncio.wait_for(self._streams.get(), timeout)

    async def _watch(
        self, request: registry_pb2.WatchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[registry_pb2.WatchResponse]:
        metadata = {
            key: value
            for key, value in (context.invocation_metadata() or ())
            if isinstance(value, str)
        }
        stream = WatchStream(request, metadata)
        self._streams.put_nowait(stream)
        while True:
            item = await stream.next_item()
            if item is _CLOSE:
                return
            if isinstance(item, grpc.StatusCode):
                await context.abort(item, f"scripted failure {item.name}")
            yield item


def snapshot(
    version: int, store_id: str, *tools: registry_pb2.ToolState
) -> registry_pb2.WatchResponse:
    return registry_pb2.WatchResponse(
        version=version, store_id=store_id, snapshot=registry_pb2.Snapshot(tools=list(tools))
    )


def upserted(
    version: int, store_id: str, tool: registry_pb2.ToolState
) -> registry_pb2.WatchResponse:
    return registry_pb2.WatchResponse(version=version, store_id=store_id, upserted=tool)


def removed(version: int, store_id: str, name: str) -> registry_pb2.WatchResponse:
    return registry_pb2.WatchResponse(version=version, store_id=store_id, removed=name)
