"""Fixtures for the example tools: in-process servers on 127.0.0.1:0 and channels to them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest

from examples.tools.serving import MAX_MESSAGE_BYTES

Starter = Callable[[], Awaitable[tuple[grpc.aio.Server, str]]]
OpenTool = Callable[[Starter], Awaitable[grpc.aio.Channel]]

CLIENT_OPTIONS = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
)


@pytest.fixture
async def open_tool() -> AsyncIterator[OpenTool]:
    """Starts a tool with the given starter and returns a channel to it; stops both after."""
    servers: list[grpc.aio.Server] = []
    channels: list[grpc.aio.Channel] = []

    async def open_(starter: Starter) -> grpc.aio.Channel:
        server, address = await starter()
        servers.append(server)
        channel = grpc.aio.insecure_channel(address, options=CLIENT_OPTIONS)
        channels.append(channel)
        return channel

    yield open_
    for channel in channels:
        await channel.close(None)
    for server in servers:
        await server.stop(None)
