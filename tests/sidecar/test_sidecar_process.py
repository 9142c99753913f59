"""The sidecar process: start-up line, start-up errors, graceful SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import wrappers_pb2

from mesh.api.v1 import registry_pb2, registry_pb2_grpc
from registry.options import RegistryOptions
from registry.server import start
from tests.relay.probe import SERVER_STREAM, UNARY, start_probe, tool_state


async def spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sidecar",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
        await process.wait()


@pytest.fixture
async def registry_address(tmp_path: Path) -> AsyncIterator[str]:
    running = await start(RegistryOptions(listen="127.0.0.1:0", db=str(tmp_path / "r.db")))
    try:
        yield running.address
    finally:
        await running.stop(0.5)


async def test_sigterm_lets_calls_in_flight_finish_and_exits_zero(
    registry_address: str, tmp_path: Path
) -> None:
    server, probe_address, probe = await start_probe()
    process = await spawn(
        "--listen", "127.0.0.1:0", "--registry", registry_address, "--cache", str(tmp_path / "c.pb")
    )
    try:
        async with grpc.aio.insecure_channel(registry_address) as channel:
            stub = registry_pb2_grpc.RegistryStub(channel)  # type: ignore[no-untyped-call]
            await stub.RegisterTool(
                registry_pb2.RegisterToolRequest(tool=tool_state("probe", [probe_address]).tool)
            )
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        assert line.startswith("toolmesh sidecar listening on 127.0.0.1:")
        address = line.split()[-1]
        async with grpc.aio.insecure_channel(address) as agent:
            pack = wrappers_pb2.BytesValue(value=b"").SerializeToString()
            await _until_callable(agent, pack)
            stream = agent.unary_stream(SERVER_STREAM)(
                pack, metadata=(("x-count", "2"), ("x-gated", "1")), timeout=20
            )
            probe.state.gate.set()
            assert await stream.read() is not grpc.aio.EOF
            process.send_signal(signal.SIGTERM)
            # The sidecar now drains: the open stream must still complete.
            probe.state.gate.set()
            assert await stream.read() is not grpc.aio.EOF
            assert await stream.read() is grpc.aio.EOF
            assert await stream.code() == grpc.StatusCode.OK
        assert await asyncio.wait_for(process.wait(), 15) == 0
    finally:
        await stop(process)
        await server.stop(None)


async def _until_callable(channel: grpc.aio.Channel, pack: bytes) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while True:
        try:
            await channel.unary_unary(UNARY)(pack, timeout=2)
            return
        except grpc.aio.AioRpcError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "nohost"], "address 'nohost' has no port"),
        (["--listen", "127.0.0.1:99999"], "port 99999 is out of range"),
        (["--registry", "[::1"], "expected [IPv6]:PORT"),
    ],
)
async def test_bad_addresses_get_one_clear_line(
    args: list[str], message: str, tmp_path: Path
) -> None:
    process = await spawn(*args, "--cache", str(tmp_path / "c.pb"))
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
        assert process.returncode == 1
        text = stderr.decode()
        assert message in text
        assert "Traceback" not in text
        assert len(text.strip().splitlines()) == 1
    finally:
        await stop(process)


async def test_a_busy_port_gets_one_clear_line(registry_address: str, tmp_path: Path) -> None:
    process = await spawn(
        "--listen",
        registry_address,
        "--registry",
        registry_address,
        "--cache",
        str(tmp_path / "c.pb"),
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
        assert process.returncode == 1
        lines = [line for line in stderr.decode().splitlines() if "toolmesh sidecar:" in line]
        assert lines and "cannot listen on" in lines[0], stderr.decode()
        assert "Traceback" not in stderr.decode()
    finally:
        await stop(process)
