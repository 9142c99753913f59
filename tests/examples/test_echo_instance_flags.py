"""The echo tool's per-instance faults: `--latency-ms`, `--fail-rate` (seeded), `--report-calls`."""

from __future__ import annotations

import asyncio
import functools
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import cast

import grpc
import pytest

from examples.tools.echo import EchoServicer, InstanceFaults, start
from examples.tools.gen.echo.v1 import echo_pb2_grpc
from examples.tools.gen.echo.v1.echo_pb2 import EchoRequest

OpenTool = Callable[
    [Callable[[], Awaitable[tuple[grpc.aio.Server, str]]]], Awaitable[grpc.aio.Channel]
]
REPO = Path(__file__).resolve().parents[2]
STARTUP_DEADLINE_S = 15.0  # a cold interpreter importing grpc on a busy 2-core machine
EXIT_DEADLINE_S = 10.0


def stub_of(channel: grpc.aio.Channel) -> echo_pb2_grpc.EchoStub:
    return echo_pb2_grpc.EchoStub(channel)  # type: ignore[no-untyped-call]


async def outcomes(stub: echo_pb2_grpc.EchoStub, calls: int) -> list[bool]:
    """Whether each of `calls` sequential plain Echo calls succeeded (UNAVAILABLE: False)."""
    found: list[bool] = []
    for _ in range(calls):
        try:
            await stub.Echo(EchoRequest(payload=b"p"), timeout=5)
            found.append(True)
        except grpc.aio.AioRpcError as error:
            assert error.code() is grpc.StatusCode.UNAVAILABLE
            found.append(False)
    return found


# --- the pure decision ---------------------------------------------------------------------


def test_fault_values_out_of_range_are_refused_naming_the_flag() -> None:
    with pytest.raises(ValueError, match=r"--latency-ms must be >= 0 \(got -1\)"):
        InstanceFaults(latency_ms=-1)
    with pytest.raises(ValueError, match=r"--fail-rate must be within \[0, 1\] \(got 1.5\)"):
        InstanceFaults(fail_rate=1.5)
    with pytest.raises(ValueError, match="--fail-rate"):
        InstanceFaults(fail_rate=float("nan"))


def test_fails_draws_once_per_call_and_compares_with_the_rate() -> None:
    draws: list[float] = []

    def draw(value: float) -> Callable[[], float]:
        def make() -> float:
            draws.append(value)
            return value

        return make

    assert InstanceFaults(fail_rate=0.5).fails(draw(0.49))
    assert not InstanceFaults(fail_rate=0.5).fails(draw(0.5))
    assert InstanceFaults(fail_rate=1.0).fails(draw(0.999))
    assert not InstanceFaults(latency_ms=5).fails(draw(0.0))  # no rate: no draw at all
    assert draws == [0.49, 0.5, 0.999]
    assert not InstanceFaults().active
    assert InstanceFaults(latency_ms=1).active and InstanceFaults(fail_rate=0.1).active


# --- in-process servers --------------------------------------------------------------------


async def test_latency_delays_every_plain_call(open_tool: OpenTool) -> None:
    servicer = EchoServicer(instance="slow", faults=InstanceFaults(latency_ms=60))
    stub = stub_of(await open_tool(lambda: start(servicer=servicer)))
    started = time.monotonic()
    response = await stub.Echo(EchoRequest(payload=b"late"), timeout=5)
    elapsed = time.monotonic() - started
    assert (response.payload, response.instance) == (b"late", "slow")
    assert elapsed >= 0.060
    # Write (and the request's own steering) are delayed as well.
    started = time.monotonic()
    await stub.Write(EchoRequest(payload=b"w", call_id="w-1"), timeout=5)
    assert time.monotonic() - started >= 0.060


async def test_a_call_cancelled_during_the_delay_is_counted(open_tool: OpenTool) -> None:
    servicer = EchoServicer(faults=InstanceFaults(latency_ms=2_000))
    stub = stub_of(await open_tool(lambda: start(servicer=servicer)))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Echo(EchoRequest(payload=b"x"), timeout=0.1)
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    log = servicer.log
    await asyncio.wait_for(log.wait_until(lambda: log.cancelled["Echo"] == 1), 2)
    assert log.report() == "echo calls: received=1 cancelled=1 failed=0"


async def test_fail_rate_one_fails_every_call_with_unavailable(open_tool: OpenTool) -> None:
    servicer = EchoServicer(instance="bad", faults=InstanceFaults(fail_rate=1.0))
    stub = stub_of(await open_tool(lambda: start(servicer=servicer)))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Echo(EchoRequest(payload=b"x"), metadata=(("x-trace", "t1"),), timeout=5)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert caught.value.details() == "echo: instance 'bad' is failing calls (--fail-rate 1)"
    # grpc's stubs type metadata loosely: read it as plain pairs.
    pairs = cast("Iterable[Iterable[object]]", caught.value.trailing_metadata() or ())
    assert ("x-trace", "t1") in {tuple(pair) for pair in pairs}
    assert await outcomes(stub, 3) == [False, False, False]
    assert servicer.log.failed["Echo"] == 4


async def test_fail_rate_is_a_seeded_per_call_draw(open_tool: OpenTool) -> None:
    runs = []
    for servicer in [EchoServicer(seed=11, faults=InstanceFaults(fail_rate=0.5)) for _ in "ab"]:
        channel = await open_tool(functools.partial(start, servicer=servicer))
        runs.append(await outcomes(stub_of(channel), 60))
    assert runs[0] == runs[1]  # same seed, same calls: same outcomes
    assert 15 <= runs[0].count(False) <= 45  # about half (binomial, 60 draws)


async def test_an_instance_without_faults_answers_at_once(open_tool: OpenTool) -> None:
    servicer = EchoServicer(faults=InstanceFaults())
    stub = stub_of(await open_tool(lambda: start(servicer=servicer)))
    assert await outcomes(stub, 5) == [True] * 5
    assert servicer.log.report() == "echo calls: received=5 cancelled=0 failed=0"


# --- the command ---------------------------------------------------------------------------


async def test_the_command_applies_the_flags_and_reports_calls_on_sigusr1() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "examples.tools.echo",
        "--listen",
        "127.0.0.1:0",
        "--instance",
        "cmd",
        "--latency-ms",
        "40",
        "--fail-rate",
        "1",
        "--seed",
        "3",
        "--report-calls",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), STARTUP_DEADLINE_S)
        match = re.fullmatch(r"echo listening on (127\.0\.0\.1:\d+)\n", line.decode())
        assert match, f"unexpected first line {line!r}"
        async with grpc.aio.insecure_channel(match.group(1)) as channel:
            started = time.monotonic()
            assert await outcomes(stub_of(channel), 2) == [False, False]
            assert time.monotonic() - started >= 0.080  # 2 calls x 40 ms
        process.send_signal(signal.SIGUSR1)
        report = await asyncio.wait_for(process.stdout.readline(), EXIT_DEADLINE_S)
        assert report.decode() == "echo calls: received=2 cancelled=0 failed=2\n"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), EXIT_DEADLINE_S) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--latency-ms", "-5"), "--latency-ms must be >= 0 (got -5)"),
        (("--fail-rate", "1.5"), "--fail-rate must be within [0, 1] (got 1.5)"),
    ],
)
async def test_the_command_refuses_bad_values_with_exit_2(
    flags: tuple[str, str], message: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "examples.tools.echo",
        *flags,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), STARTUP_DEADLINE_S)
        assert process.returncode == 2
        assert message in stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
