"""Fixtures: a whole mesh in this process — real registry (SQLite in tmp_path), real sidecar."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from mesh.api.v1 import registry_pb2, registry_pb2_grpc
from registry.options import RegistryOptions
from registry.server import RunningRegistry, start
from sidecar.app import serve
from sidecar.options import SidecarOptions
from tests.relay.probe import CHANNEL_OPTIONS, Probe, start_probe, tool_state


@dataclass
class Sidecar:
    address: str
    stop: asyncio.Event
    task: asyncio.Task[bool]

    async def close(self) -> bool:
        self.stop.set()
        return await asyncio.wait_for(self.task, 15)


async def start_sidecar(registry: str, cache: Path, *, registry_wait_s: float = 2.0) -> Sidecar:
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    options = SidecarOptions(
        listen="127.0.0.1:0",
        registry=registry,
        cache=str(cache),
        registry_wait_s=registry_wait_s,
        grace_period_s=5.0,
    )
    task = asyncio.ensure_future(serve(options, ready=ready.set_result, stop=stop))
    done, _ = await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises the start-up error
    assert ready in done, "sidecar did not become ready within 10 s"
    return Sidecar(ready.result(), stop, task)


@dataclass
class LocalMesh:
    registry: RunningRegistry
    registry_stub: registry_pb2_grpc.RegistryStub
    sidecar: Sidecar
    channel: grpc.aio.Channel
    probe: Probe
    probe_address: str
    tmp_path: Path

    async def register_probe(self, name: str = "probe") -> registry_pb2.RegisterToolResponse:
        state = tool_state(name, [self.probe_address])
        response: registry_pb2.RegisterToolResponse = await self.registry_stub.RegisterTool(
            registry_pb2.RegisterToolRequest(tool=state.tool), timeout=5
        )
        return response


@pytest.fixture
async def local_mesh(tmp_path: Path) -> AsyncIterator[LocalMesh]:
    probe_server, probe_address, probe = await start_probe()
    registry = await start(RegistryOptions(listen="127.0.0.1:0", db=str(tmp_path / "registry.db")))
    registry_channel = grpc.aio.insecure_channel(registry.address)
    sidecar = await start_sidecar(registry.address, tmp_path / "cache.pb")
    channel = grpc.aio.insecure_channel(sidecar.address, options=CHANNEL_OPTIONS)
    try:
        yield LocalMesh(
            registry,
            registry_pb2_grpc.RegistryStub(registry_channel),  # type: ignore[no-untyped-call]
            sidecar,
            channel,
            probe,
            probe_address,
            tmp_path,
        )
    finally:
        await channel.close()
        await sidecar.close()
        await registry_channel.close()
        await registry.stop(0.5)
        await probe_server.stop(None)
