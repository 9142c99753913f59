"""Fixtures: a real relay on 127.0.0.1:0 in front of real probe servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc
import pytest
import uvloop

from sidecar.catalog import Catalog, CatalogHolder
from sidecar.relay.relay import Relay
from tests.relay.probe import CHANNEL_OPTIONS, Probe, start_probe, tool_state


@dataclass
class Mesh:
    relay: Relay
    address: str
    probe: Probe
    probe_address: str
    holder: CatalogHolder
    channel: grpc.aio.Channel

    def set_tools(self, *states: object) -> None:
        version = self.holder.catalog.version + 1
        self.holder.replace(Catalog.build(states, version=version, store_id="test"))  # type: ignore[arg-type]


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every relay test runs on uvloop (what the sidecar runs on) and on asyncio's own loop."""
    return {"uvloop": uvloop.new_event_loop, "asyncio": asyncio.new_event_loop}


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    server, probe_address, probe = await start_probe()
    holder = CatalogHolder(
        Catalog.build([tool_state("probe", [probe_address])], version=1, store_id="test")
    )
    relay = Relay(holder, max_message_bytes=32 << 20)
    host, port = await relay.start("127.0.0.1", 0)
    address = f"{host}:{port}"
    channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
    try:
        yield Mesh(relay, address, probe, probe_address, holder, channel)
    finally:
        await channel.close()
        await relay.shutdown(0.5)
        await server.stop(None)
