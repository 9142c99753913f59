"""Hand-driven HTTP/2 peers for protocol tests: a raw client and a scripted raw endpoint.

They speak frames directly (with the sidecar's own frame serializers and the `hpack`
library's encoder/decoder), so tests can send what a gRPC library never would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import hpack
from google.protobuf import wrappers_pb2

from sidecar.h2 import frames as f

Headers = list[tuple[bytes, bytes]]


def grpc_message(data: bytes) -> bytes:
    body = wrappers_pb2.BytesValue(value=data).SerializeToString()
    return b"\x00" + len(body).to_bytes(4, "big") + body


def request_headers(path: str, extra: Headers = ()) -> Headers:  # type: ignore[assignment]
    return [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", path.encode()),
        (b":authority", b"test"),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
        *extra,
    ]


class FrameReader:
    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.parser = f.FrameParser(f.MAX_MAX_FRAME_SIZE)
        self.queue: list[f.Frame] = []

    async def next(self, timeout: float = 5.0) -> f.Frame | None:
        """The next frame, or None at end of connection."""
        while not self.queue:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                return None
            self.queue.extend(self.parser.feed(data))
        return self.queue.pop(0)


class RawClient:
    """An agent that writes frames by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.frames = FrameReader(reader)
        self.writer = writer
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.peer_settings: dict[int, int] = {}

    @classmethod
    async def connect(cls, address: str, settings: dict[int, int] | None = None) -> RawClient:
        host, port = address.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        client = cls(reader, writer)
        client.send(f.PREFACE + f.settings_frame(settings or {}))
        return client

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def block(self, headers: Headers) -> bytes:
        return self.encoder.encode(headers)

    async def next(self, timeout: float = 5.0) -> f.Frame | None:
        """The next frame that is not housekeeping (SETTINGS, connection WINDOW_UPDATE)."""
        while True:
            frame = await self.frames.next(timeout)
            if frame is None:
                return None
            if frame.type == f.SETTINGS:
                if not frame.flags & f.FLAG_ACK:
                    self.peer_settings.update(dict(f.parse_settings(frame.payload)))
                    self.send(f.settings_frame(ack=True))
                continue
            if frame.type == f.WINDOW_UPDATE and frame.stream_id == 0:
                continue
            return frame

    async def until(
        self, predicate: Callable[[f.Frame], bool], timeout: float = 5.0
    ) -> list[f.Frame]:
        """Frames up to and including the first matching `predicate`."""
        seen: list[f.Frame] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.next(max(0.01, deadline - loop.time()))
            if frame is None:
                raise AssertionError(f"connection closed; frames so far: {seen}")
            seen.append(frame)
            if predicate(frame):
                return seen

    def decode(self, frame: f.Frame) -> dict[bytes, bytes]:
        return dict(self.decoder.decode(frame.payload, raw=True))

    async def closed(self, timeout: float = 5.0) -> list[f.Frame]:
        """Reads until the relay closes the connection; returns what it sent before."""
        seen: list[f.Frame] = []
        while True:
            frame = await self.frames.next(timeout)
            if frame is None:
                return seen
            seen.append(frame)

    def close(self) -> None:
        self.writer.close()


Script = Callable[["RawEndpoint", int, Headers], Awaitable[None]]


class RawEndpoint:
    """A tool endpoint that answers each new stream with `script(endpoint, stream_id, headers)`."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.streams: list[int] = []
        self.writer: asyncio.StreamWriter | None = None
        self.server: asyncio.AbstractServer | None = None
        self.encoder = hpack.Encoder()
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in self.tasks:
            task.cancel()

    def send(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)

    def respond(self, stream_id: int, body: bytes, status: int = 0) -> None:
        self.send(
            f.headers_frames(
                stream_id,
                self.encoder.encode([(b":status", b"200"), (b"content-type", b"application/grpc")]),
                False,
                16384,
            )
        )
        self.send(f.data_frame(stream_id, grpc_message(body)))
        self.send(
            f.headers_frames(
                stream_id,
                self.encoder.encode([(b"grpc-status", str(status).encode())]),
                True,
                16384,
            )
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writer = writer
        self.encoder = hpack.Encoder()
        decoder = hpack.Decoder()
        preface = await reader.readexactly(len(f.PREFACE))
        assert preface == f.PREFACE
        writer.write(f.settings_frame({}))
        frames = FrameReader(reader)
        while True:
            try:
                frame = await frames.next(timeout=30)
            except (TimeoutError, ConnectionError):
                return
            if frame is None:
                return
            if frame.type == f.SETTINGS and not frame.flags & f.FLAG_ACK:
                writer.write(f.settings_frame(ack=True))
            elif frame.type == f.HEADERS:
                headers = decoder.decode(frame.payload, raw=True)
                self.streams.append(frame.stream_id)
                task = asyncio.get_running_loop().create_task(
                    self.script(self, frame.stream_id, headers)
                )
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
