"""Each tool as users start it: `python -m examples.tools.NAME --listen 127.0.0.1:0`."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest

from examples.tools.gen.echo.v1 import echo_pb2_grpc
from examples.tools.gen.echo.v1.echo_pb2 import EchoRequest
from examples.tools.gen.support.v1 import (
    customer_lookup_pb2,
    customer_lookup_pb2_grpc,
    email_parser_pb2,
    email_parser_pb2_grpc,
    priority_router_pb2,
    priority_router_pb2_grpc,
    sentiment_pb2,
    sentiment_pb2_grpc,
    tier_pb2,
)

REPO = Path(__file__).resolve().parents[2]
# A cold interpreter importing grpc and protobuf on a busy 2-core machine; normally < 1 s.
STARTUP_DEADLINE_S = 15.0
EXIT_DEADLINE_S = 10.0


@asynccontextmanager
async def tool_process(
    name: str, *args: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """Starts the tool's command, yields the process and the address from its one line."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"examples.tools.{name}",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), STARTUP_DEADLINE_S)
        match = re.fullmatch(rf"{name} listening on (127\.0\.0\.1:(\d+))\n", line.decode())
        assert match, f"unexpected first line {line!r}"
        assert int(match.group(2)) > 0
        yield process, match.group(1)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def stop(process: asyncio.subprocess.Process, signum: int = signal.SIGTERM) -> None:
    """Signals the process by its PID and asserts a clean exit with nothing more on stdout."""
    process.send_signal(signum)
    code = await asyncio.wait_for(process.wait(), EXIT_DEADLINE_S)
    assert process.stdout is not None and process.stderr is not None
    stderr = (await process.stderr.read()).decode(errors="replace")
    assert code == 0, f"exit code {code}; stderr:\n{stderr}"
    assert await process.stdout.read() == b""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_echo_command_serves_until_signalled(signum: int) -> None:
    async with tool_process("echo", "--listen", "127.0.0.1:0", "--instance", "proc-1") as (
        process,
        address,
    ):
        async with grpc.aio.insecure_channel(address) as channel:
            stub = echo_pb2_grpc.EchoStub(channel)  # type: ignore[no-untyped-call]
            response = await stub.Echo(EchoRequest(payload=b"ping"), timeout=5)
        assert (response.payload, response.instance) == (b"ping", "proc-1")
        await stop(process, signum)


Call = Callable[[grpc.aio.Channel], Awaitable[object]]


async def parse(channel: grpc.aio.Channel) -> object:
    stub = email_parser_pb2_grpc.EmailParserStub(channel)  # type: ignore[no-untyped-call]
    response = await stub.Parse(
        email_parser_pb2.ParseRequest(raw="From: a@example.com\n\nCUST-1001"), timeout=5
    )
    assert response.customer_id == "CUST-1001"
    return response


async def analyze(channel: grpc.aio.Channel) -> object:
    stub = sentiment_pb2_grpc.SentimentStub(channel)  # type: ignore[no-untyped-call]
    response = await stub.Analyze(sentiment_pb2.AnalyzeRequest(text="great"), timeout=5)
    assert response.label == sentiment_pb2.LABEL_POSITIVE
    return response


async def lookup(channel: grpc.aio.Channel) -> object:
    stub = customer_lookup_pb2_grpc.CustomerLookupStub(channel)  # type: ignore[no-untyped-call]
    response = await stub.Lookup(
        customer_lookup_pb2.LookupRequest(customer_id="CUST-1004"), timeout=5
    )
    assert response.tier == tier_pb2.TIER_ENTERPRISE
    return response


async def route(channel: grpc.aio.Channel) -> object:
    stub = priority_router_pb2_grpc.PriorityRouterStub(channel)  # type: ignore[no-untyped-call]
    response = await stub.Route(
        priority_router_pb2.RouteRequest(tier=tier_pb2.TIER_ENTERPRISE, subject="outage"),
        timeout=5,
    )
    assert response.priority == priority_router_pb2.PRIORITY_P1
    return response


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("email_parser", parse),
        ("sentiment", analyze),
        ("customer_lookup", lookup),
        ("priority_router", route),
    ],
)
async def test_support_tool_command_serves_until_sigterm(name: str, call: Call) -> None:
    async with tool_process(name, "--listen", "127.0.0.1:0") as (process, address):
        async with grpc.aio.insecure_channel(address) as channel:
            await call(channel)
        await stop(process)


async def test_an_unusable_listen_address_exits_2_with_a_message() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "examples.tools.echo",
        "--listen",
        "nowhere",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), STARTUP_DEADLINE_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 2
    assert stdout == b""
    assert "echo: listen address 'nowhere' is not HOST:PORT" in stderr.decode()
