"""A real grpc.aio tool server for demo.v1.Echo, built from the compiled descriptors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import message_factory

from mesh.descriptors import build_pool

from .compiled import echo_files

# Metadata keys a channel adds by itself: left out of SayReply.seen_metadata.
_TRANSPORT_KEYS = {"user-agent", "grpc-accept-encoding", "te", "content-type"}


def _classes() -> dict[str, Any]:
    pool = build_pool(echo_files())
    names = ["SayRequest", "SayReply", "CountRequest", "CountReply", "Number", "Total"]
    names.append("FailRequest")
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"demo.v1.{name}"))
        for name in names
    }


class EchoTool:
    """demo.v1.Echo: `start()` serves it on 127.0.0.1:0; `address` is host:port."""

    def __init__(self) -> None:
        self.m = _classes()
        self.server = grpc.aio.server()
        self.address = ""

    async def start(self) -> str:
        m = self.m
        handlers = {
            "Say": grpc.unary_unary_rpc_method_handler(
                self.say, m["SayRequest"].FromString, m["SayReply"].SerializeToString
            ),
            "Count": grpc.unary_stream_rpc_method_handler(
                self.count, m["CountRequest"].FromString, m["CountReply"].SerializeToString
            ),
            "Sum": grpc.stream_unary_rpc_method_handler(
                self.sum, m["Number"].FromString, m["Total"].SerializeToString
            ),
            "Chat": grpc.stream_stream_rpc_method_handler(
                self.chat, m["SayRequest"].FromString, m["SayReply"].SerializeToString
            ),
            "Fail": grpc.unary_unary_rpc_method_handler(
                self.fail, m["FailRequest"].FromString, m["SayReply"].SerializeToString
            ),
        }
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("demo.v1.Echo", handlers)]
        )
        port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        self.address = f"127.0.0.1:{port}"
        return self.address

    async def stop(self) -> None:
        await self.server.stop(None)

    async def say(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        reply = self.m["SayReply"](text=request.text * max(request.times, 1))
        for key, value in context.invocation_metadata() or ():
            if key not in _TRANSPORT_KEYS and isinstance(value, str):
                reply.seen_metadata[key] = value
            elif isinstance(value, bytes):
                reply.seen_metadata[key] = value.hex()
        remaining = context.time_remaining()
        reply.deadline_ms = int(remaining * 1000) if remaining is not None else 0
        return reply

    async def count(
        self, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        for value in range(1, request.up_to + 1):
            yield self.m["CountReply"](value=value)

    async def sum(self, requests: AsyncIterator[Any], context: Any) -> Any:
        total = self.m["Total"]()
        async for number in requests:
            total.sum += number.value
            total.count += 1
        return total

    async def chat(self, requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        async for request in requests:
            yield self.m["SayReply"](text=f"you said {request.text}")

    async def fail(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        code = next(code for code in grpc.StatusCode if code.value[0] == request.code)
        await context.abort(code, request.message, (("failure-reason", "asked"),))
