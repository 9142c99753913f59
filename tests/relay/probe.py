"""A scripted tool for relay tests: a real grpc.aio server with raw-bytes generic handlers.

Messages are `google.protobuf.BytesValue`, so the catalog can describe the service without
generated code, and the handlers can steer each call from request metadata.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
from google.protobuf import descriptor_pb2, wrappers_pb2

from mesh.api.v1 import registry_pb2
from mesh.config import load_policy_yaml

SERVICE = "probe.v1.Probe"
UNARY = f"/{SERVICE}/Unary"
SERVER_STREAM = f"/{SERVICE}/ServerStream"
CLIENT_STREAM = f"/{SERVICE}/ClientStream"
BIDI = f"/{SERVICE}/Bidi"
HANG = f"/{SERVICE}/Hang"


def descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    files = descriptor_pb2.FileDescriptorSet()
    wrappers_pb2.DESCRIPTOR.CopyToProto(files.file.add())
    proto = files.file.add()
    proto.name = "probe/v1/probe.proto"
    proto.package = "probe.v1"
    proto.syntax = "proto3"
    proto.dependency.append("google/protobuf/wrappers.proto")
    service = proto.service.add()
    service.name = "Probe"
    for name, client_streaming, server_streaming in (
        ("Unary", False, False),
        ("ServerStream", False, True),
        ("ClientStream", True, False),
        ("Bidi", True, True),
        ("Hang", False, False),
    ):
        method = service.method.add()
        method.name = name
        method.input_type = ".google.protobuf.BytesValue"
        method.output_type = ".google.protobuf.BytesValue"
        method.client_streaming = client_streaming
        method.server_streaming = server_streaming
    return files


def tool_state(
    name: str, addresses: list[str], policy_yaml: str = "", service: str = SERVICE
) -> registry_pb2.ToolState:
    """A tool serving the probe service at `addresses`, with a policy given as YAML."""
    files = descriptor_set()
    if service != SERVICE:  # the same methods under another name (a fallback tool)
        package, _, short = service.rpartition(".")
        files.file[1].package = package
        files.file[1].name = f"{package.replace('.', '/')}/probe.proto"
        files.file[1].service[0].name = short
    tool = registry_pb2.Tool(name=name, descriptors=files)
    for address in addresses:
        tool.endpoints.add(address=address)
    if policy_yaml:
        tool.policy.CopyFrom(load_policy_yaml(policy_yaml, where="test policy"))
    return registry_pb2.ToolState(tool=tool)


def _pack(data: bytes) -> bytes:
    return wrappers_pb2.BytesValue(value=data).SerializeToString()


def _unpack(raw: bytes) -> bytes:
    return wrappers_pb2.BytesValue.FromString(raw).value


@dataclass
class ProbeState:
    """What the probe observed, for assertions."""

    calls: int = 0
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    time_remaining: list[float | None] = field(default_factory=list)
    deadlines: list[float | None] = field(default_factory=list)  # time.monotonic() clock
    metadata: list[tuple[tuple[str, str | bytes], ...]] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)  # ServerStream waits per message
    sent: int = 0


class Probe:
    def __init__(self, label: str = "probe", *, delay_s: float = 0.0, seed: int = 7) -> None:
        self.label = label
        self.state = ProbeState()
        self.delay_s = delay_s  # this instance answers Unary this much later (a slow one)
        self.failing = False  # this instance fails every Unary with UNAVAILABLE
        self.fail_next = 0  # ... or only the next few
        self.pushback: str | None = None  # grpc-retry-pushback-ms sent with those failures
        self.rng = random.Random(seed)

    def _observe(self, context: grpc.aio.ServicerContext) -> dict[str, str | bytes]:
        self.state.calls += 1
        remaining = context.time_remaining()
        self.state.time_remaining.append(remaining)
        self.state.deadlines.append(None if remaining is None else time.monotonic() + remaining)
        metadata = tuple(context.invocation_metadata() or ())
        self.state.metadata.append(metadata)
        echoed = tuple((k, v) for k, v in metadata if k.startswith("x-"))
        return dict(echoed) | {"__echo__": echoed}  # type: ignore[dict-item]

    async def _finish(self, context: grpc.aio.ServicerContext, md: dict) -> None:  # type: ignore[type-arg]
        echoed = md["__echo__"]
        if echoed:
            await context.send_initial_metadata(echoed)
            context.set_trailing_metadata(echoed)
        code = md.get("x-status")
        if code:
            message = md.get("x-message-bin", b"")
            assert isinstance(message, bytes)
            await context.abort(grpc.StatusCode[str(code)], message.decode())

    async def unary(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        md = self._observe(context)
        if self.failing or self.fail_next:
            self.fail_next = max(0, self.fail_next - 1)
            if self.pushback is not None:
                context.set_trailing_metadata((("grpc-retry-pushback-ms", self.pushback),))
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{self.label} is failing")
        rate = md.get("x-fail-rate")
        if rate and self.rng.random() < float(str(rate)):
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{self.label} failed this one")
        early = md.get("x-expire-early-ms")
        remaining = context.time_remaining()
        if early and remaining is not None:
            # The tool enforces the deadline it was sent a little before gRPC would.
            await asyncio.sleep(max(0.0, remaining - int(str(early)) / 1000))
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, f"{self.label} ran out of time")
        if self.delay_s:
            try:
                await asyncio.sleep(self.delay_s)  # the tool being slow, not a test waiting
            except asyncio.CancelledError:
                self.state.cancelled.set()
                raise
        if "x-compress" in md:
            context.set_compression(grpc.Compression.Gzip)
        size = md.get("x-response-size")
        await self._finish(context, md)
        if size:
            return _pack(b"r" * int(size))
        return _pack(self.label.encode() + b":" + _unpack(request))

    async def server_stream(
        self, request: bytes, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        md = self._observe(context)
        count = int(md.get("x-count", "3"))
        size = int(md.get("x-size", "10"))
        gated = "x-gated" in md
        await self._finish(context, md)
        for index in range(count):
            if gated:
                await self.state.gate.wait()
                self.state.gate.clear()
            self.state.sent = index + 1
            yield _pack(bytes([index % 256]) * size)

    async def client_stream(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> bytes:
        md = self._observe(context)
        parts = [_unpack(r) async for r in requests]
        await self._finish(context, md)
        return _pack(b"|".join(parts))

    async def bidi(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        md = self._observe(context)
        await self._finish(context, md)
        async for request in requests:
            yield _pack(b"echo:" + _unpack(request))

    async def hang(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self._observe(context)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.state.cancelled.set()
            raise
        return b""

    def handler(self) -> grpc.GenericRpcHandler:
        identity = None
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Unary": grpc.unary_unary_rpc_method_handler(self.unary, identity, identity),
                "ServerStream": grpc.unary_stream_rpc_method_handler(
                    self.server_stream, identity, identity
                ),
                "ClientStream": grpc.stream_unary_rpc_method_handler(
                    self.client_stream, identity, identity
                ),
                "Bidi": grpc.stream_stream_rpc_method_handler(self.bidi, identity, identity),
                "Hang": grpc.unary_unary_rpc_method_handler(self.hang, identity, identity),
            },
        )


MAX_MESSAGE = 64 << 20
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", MAX_MESSAGE),
]


async def start_probe(label: str = "probe") -> tuple[grpc.aio.Server, str, Probe]:
    probe = Probe(label)
    server = grpc.aio.server(options=CHANNEL_OPTIONS)
    server.add_generic_rpc_handlers((probe.handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}", probe
