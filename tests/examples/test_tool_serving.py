"""Starting tools: bound addresses and listen errors."""

from __future__ import annotations

import grpc
import pytest

from examples.tools import echo, sentiment
from examples.tools.gen.echo.v1 import echo_pb2_grpc
from examples.tools.gen.echo.v1.echo_pb2 import EchoRequest
from examples.tools.serving import ListenError


async def test_start_reports_the_real_port_and_serves_there() -> None:
    server, address = await echo.start("127.0.0.1:0", instance="b")
    try:
        host, port = address.rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0
        async with grpc.aio.insecure_channel(address) as channel:
            stub = echo_pb2_grpc.EchoStub(channel)  # type: ignore[no-untyped-call]
            response = await stub.Echo(EchoRequest(), timeout=5)
        assert response.instance == "b"
    finally:
        await server.stop(None)


async def test_a_port_in_use_is_a_listen_error_naming_tool_and_address() -> None:
    server, address = await echo.start()
    try:
        with pytest.raises(ListenError, match=rf"^sentiment: cannot listen on '{address}'"):
            await sentiment.start(address)
    finally:
        await server.stop(None)


@pytest.mark.parametrize("listen", ["127.0.0.1", "localhost:http", "127.0.0.1:70000", ""])
async def test_a_malformed_listen_address_is_refused(listen: str) -> None:
    with pytest.raises(ListenError, match=r"is not HOST:PORT, \[IPv6\]:PORT or unix:/PATH"):
        await echo.start(listen)


async def test_a_unix_socket_address_is_reported_as_given(tmp_path: object) -> None:
    listen = f"unix:{tmp_path}/echo.sock"
    server, address = await echo.start(listen)
    try:
        assert address == listen
        async with grpc.aio.insecure_channel(address) as channel:
            stub = echo_pb2_grpc.EchoStub(channel)  # type: ignore[no-untyped-call]
            response = await stub.Echo(EchoRequest(payload=b"u"), timeout=5)
        assert response.payload == b"u"
    finally:
        await server.stop(None)
