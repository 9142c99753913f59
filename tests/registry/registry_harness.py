"""Test kit for the registry: descriptor sets compiled from small protos, tool builders,
in-process and subprocess registries, and a Watch reader that waits with deadlines."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import grpc
from google.protobuf import descriptor_pb2, duration_pb2
from grpc_tools import protoc

from mesh.api.v1 import registry_pb2, registry_pb2_grpc
from registry.leases import SYSTEM_CLOCK, Clock
from registry.options import RegistryOptions
from registry.server import RunningRegistry, start
from registry.watch import DEFAULT_QUEUE_LIMIT

WAIT = 3.0  # seconds: the deadline of every wait on the registry in these tests

PROTOS = {
    "common.proto": """
        syntax = "proto3";
        package testtools.common;
        message Word { string text = 1; }
        message Pair { int64 a = 1; int64 b = 2; }
        message Number { int64 value = 1; }
    """,
    "echo.proto": """
        syntax = "proto3";
        package testtools.echo.v1;
        import "google/protobuf/timestamp.proto";
        message SayRequest { string text = 1; }
        message SayReply { string text = 1; google.protobuf.Timestamp at = 2; }
        service Echo { rpc Say(SayRequest) returns (SayReply); }
    """,
    "multi.proto": """
        syntax = "proto3";
        package testtools.multi.v1;
        import "common.proto";
        service Math { rpc Add(testtools.common.Pair) returns (testtools.common.Number); }
        service Text { rpc Upper(testtools.common.Word) returns (testtools.common.Word); }
    """,
}
ECHO_SERVICE = "testtools.echo.v1.Echo"
MATH_SERVICE = "testtools.multi.v1.Math"
TEXT_SERVICE = "testtools.multi.v1.Text"


def compile_descriptor_sets(directory: Path) -> dict[str, descriptor_pb2.FileDescriptorSet]:
    """Compiles each of PROTOS (with its imports) into a FileDescriptorSet, keyed by stem."""
    for name, text in PROTOS.items():
        (directory / name).write_text(text)
    well_known = str(resources.files("grpc_tools") / "_proto")
    sets = {}
    for name in PROTOS:
        out = directory / f"{name}.pb"
        code = protoc.main(
            [
                "protoc",
                f"-I{directory}",
                f"-I{well_known}",
                f"--descriptor_set_out={out}",
                "--include_imports",
                name,
            ]
        )
        assert code == 0, f"protoc failed on {name}"
        sets[name.removesuffix(".proto")] = descriptor_pb2.FileDescriptorSet.FromString(
            out.read_bytes()
        )
    return sets


def make_tool(
    name: str,
    descriptors: descriptor_pb2.FileDescriptorSet,
    *,
    services: Iterable[str] = (),
    endpoints: Iterable[str] = (),
    **fields: object,
) -> registry_pb2.Tool:
    """A Tool message for RegisterTool."""
    return registry_pb2.Tool(
        name=name,
        descriptors=descriptors,
        services=list(services),
        endpoints=[registry_pb2.Endpoint(address=address) for address in endpoints],
        **fields,  # type: ignore[arg-type]
    )


def seconds(value: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(value * 1e9))
    return duration


def stub_for(channel: grpc.aio.Channel) -> registry_pb2_grpc.RegistryStub:
    """A Registry client on `channel` (the generated stub is untyped)."""
    return registry_pb2_grpc.RegistryStub(channel)  # type: ignore[no-untyped-call]


@dataclass
class Registry:
    """An in-process registry with a client stub on it."""

    running: RunningRegistry
    channel: grpc.aio.Channel
    stub: registry_pb2_grpc.RegistryStub
    db: Path
    token: str | None

    @property
    def auth(self) -> list[tuple[str, str]]:
        """Call metadata carrying this registry's token."""
        return [("authorization", f"Bearer {self.token}")] if self.token else []


@dataclass
class Launcher:
    """Starts in-process registries and stops whatever is still running at teardown."""

    directory: Path
    running: list[Registry] = field(default_factory=list)

    async def start(
        self,
        db: Path | None = None,
        *,
        token: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        watch_queue_limit: int = DEFAULT_QUEUE_LIMIT,
    ) -> Registry:
        db = db or self.directory / "registry.db"
        options = RegistryOptions(listen="127.0.0.1:0", db=str(db), token=token)
        running = await start(options, clock=clock, watch_queue_limit=watch_queue_limit)
        # Responses carry descriptor sets too: clients need the server's 64 MiB limit.
        channel = grpc.aio.insecure_channel(
            running.address, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        )
        registry = Registry(running, channel, stub_for(channel), db, token)
        self.running.append(registry)
        return registry

    async def stop(self, registry: Registry) -> None:
        self.running.remove(registry)
        await registry.channel.close(None)
        await registry.running.stop(grace=0.5)

    async def stop_all(self) -> None:
        for registry in list(self.running):
            await self.stop(registry)


class WatchStream:
    """A Watch call read one message at a time, each read bounded by a deadline."""

    def __init__(
        self, stub: registry_pb2_grpc.RegistryStub, since_version: int = 0, store_id: str = ""
    ) -> None:
        request = registry_pb2.WatchRequest(since_version=since_version, store_id=store_id)
        self.call = stub.Watch(request)

    async def next(self, timeout: float = WAIT) -> registry_pb2.WatchResponse:
        message = await asyncio.wait_for(self.call.read(), timeout)
        assert message is not grpc.aio.EOF, "watch stream ended"  # type: ignore[attr-defined]
        assert isinstance(message, registry_pb2.WatchResponse)
        return message

    async def until(
        self, predicate: Callable[[registry_pb2.WatchResponse], bool], timeout: float = WAIT
    ) -> registry_pb2.WatchResponse:
        """Reads until a message satisfies `predicate`, all within `timeout` seconds."""

        async def read() -> registry_pb2.WatchResponse:
            while True:
                message = await self.next(timeout)
                if predicate(message):
                    return message

        return await asyncio.wait_for(read(), timeout)

    def cancel(self) -> None:
        self.call.cancel()


class RegistryProcess:
    """`python -m registry` as a subprocess; always stopped by its PID at teardown."""

    def __init__(self, db: Path, stderr_path: Path, *extra: str) -> None:
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "registry", "--listen", "127.0.0.1:0", "--db", str(db), *extra],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=db.parent,
        )
        self.address = ""

    async def ready(self, timeout: float = 15.0) -> str:
        """Waits for the ready line; returns the bound address."""
        assert self.process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), timeout)
        text = line.decode().strip()
        prefix = "toolmesh registry listening on "
        assert text.startswith(prefix), f"unexpected ready line {text!r}: {self.stderr()}"
        self.address = text[len(prefix) :]
        return self.address

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    async def terminate(self, timeout: float = 10.0) -> int:
        """Sends SIGTERM and waits for the exit code."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        return await asyncio.to_thread(self.process.wait, timeout)

    def close(self) -> None:
        self.kill()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


def run_registry_to_exit(
    db: Path, *extra: str, timeout: float = 15.0
) -> subprocess.CompletedProcess[str]:
    """Runs `python -m registry` expecting it to exit by itself (a start-up failure)."""
    return subprocess.run(
        [sys.executable, "-m", "registry", "--db", str(db), *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=db.parent,
    )
