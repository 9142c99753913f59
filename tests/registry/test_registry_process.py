"""`python -m registry` as a process: ready line, clean shutdown, start-up failures, and
durability under SIGKILL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh.api.v1 import registry_pb2 as pb
from mesh.api.v1 import registry_pb2_grpc
from registry.options import RegistryOptions
from registry.server import serve
from tests.registry.registry_harness import (
    Launcher,
    RegistryProcess,
    make_tool,
    run_registry_to_exit,
    seconds,
    stub_for,
)

DescriptorSet = descriptor_pb2.FileDescriptorSet


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[RegistryProcess]]:
    started: list[RegistryProcess] = []
    yield started
    for process in started:
        process.close()


def _spawn(processes: list[RegistryProcess], db: Path, *extra: str) -> RegistryProcess:
    process = RegistryProcess(db, db.parent / f"stderr-{len(processes)}.txt", *extra)
    processes.append(process)
    return process


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert lines[0].startswith("toolmesh registry: error: ")
    return lines[0]


async def test_ready_line_then_clean_exit_on_sigterm(
    tmp_path: Path, processes: list[RegistryProcess]
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("tok\n")
    process = _spawn(processes, tmp_path / "registry.db", "--token-file", str(token_file))
    address = await process.ready()
    host, _, port = address.rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = await health.Check(
            health_pb2.HealthCheckRequest(service="toolmesh.v1.Registry"), timeout=3
        )
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        stub = stub_for(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.SetPolicy(pb.SetPolicyRequest(tool="x"), timeout=3)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED  # the token file is used
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.SetPolicy(
                pb.SetPolicyRequest(tool="x"), metadata=[("authorization", "Bearer tok")], timeout=3
            )
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert await process.terminate() == 0
    assert process.process.stdout is not None
    assert process.process.stdout.read() == b""  # exactly one line on stdout
    assert "Traceback" not in process.stderr()


def test_corrupt_database_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "corrupt.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\x13" * 4000)
    before = db.read_bytes()
    result = run_registry_to_exit(db, "--listen", "127.0.0.1:0")
    assert result.returncode != 0
    assert result.stdout == ""
    line = _one_error_line(result.stderr)
    assert str(db) in line and "not a toolmesh registry database" in line
    assert db.read_bytes() == before


def test_unparsable_listen_address_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    result = run_registry_to_exit(tmp_path / "r.db", "--listen", "localhost")
    assert result.returncode != 0
    assert "listen: address 'localhost' has no port (expected HOST:PORT)" in _one_error_line(
        result.stderr
    )


async def test_address_in_use_exits_non_zero_with_one_line(
    launcher: Launcher, tmp_path: Path
) -> None:
    running = await launcher.start(tmp_path / "first.db")
    result = await asyncio.to_thread(
        run_registry_to_exit, tmp_path / "second.db", "--listen", running.running.address
    )
    assert result.returncode != 0
    assert f"listen {running.running.address}: address already in use" in _one_error_line(
        result.stderr
    )


async def test_serve_calls_ready_and_stops_when_cancelled(tmp_path: Path) -> None:
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    options = RegistryOptions(
        listen="127.0.0.1:0", db=str(tmp_path / "serve.db"), metrics_listen="127.0.0.1:0"
    )
    task = asyncio.create_task(serve(options, ready=ready.set_result))
    try:
        address = await asyncio.wait_for(ready, 5)
        async with grpc.aio.insecure_channel(address) as channel:
            listing = await stub_for(channel).ListTools(pb.ListToolsRequest(), timeout=3)
            assert listing.version == 0
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
    async with grpc.aio.insecure_channel(address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as down:
            await stub_for(channel).ListTools(pb.ListToolsRequest(), timeout=1)
        assert down.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


# -- durability -----------------------------------------------------------------------------

CLIENTS = 6
PER_CLIENT = 60  # mutations at most per client
KILL_AFTER = 60  # acknowledged mutations before the SIGKILL
TIME_LIMIT = 10.0  # seconds for the whole load phase


async def test_sigkill_mid_flight_loses_nothing_acknowledged(
    tmp_path: Path, processes: list[RegistryProcess], echo: DescriptorSet, multi: DescriptorSet
) -> None:
    db = tmp_path / "durable.db"
    first = _spawn(processes, db)
    address = await first.ready()
    acknowledged_tools: dict[str, int] = {}  # tool -> last acknowledged version label
    # (tool, registration label) -> endpoints acknowledged after that registration, which
    # replaced the tool's static endpoints.
    acknowledged_endpoints: dict[tuple[str, int], set[str]] = {}
    acknowledged_instances: set[tuple[str, str]] = set()
    versions: list[int] = []
    enough = asyncio.Event()

    def acked(version: int) -> None:
        versions.append(version)
        if len(versions) >= KILL_AFTER:
            enough.set()

    async def client(index: int, stub: registry_pb2_grpc.RegistryStub) -> None:
        # One tool per client, re-registered and given endpoints and instances in turn.
        name = f"tool-{index}"
        for step in range(PER_CLIENT):
            if step % 3 == 0:
                tool = make_tool(name, descriptors[index], version=str(step))
                response = await stub.RegisterTool(pb.RegisterToolRequest(tool=tool), timeout=5)
                acknowledged_tools[name] = step
                acknowledged_endpoints[name, step] = set()
                acked(response.version)
            elif step % 3 == 1:
                address_text = f"127.0.0.1:{10000 + index * 100 + step}"
                added = await stub.AddEndpoints(
                    pb.AddEndpointsRequest(
                        tool=name, endpoints=[pb.Endpoint(address=address_text)]
                    ),
                    timeout=5,
                )
                acknowledged_endpoints[name, acknowledged_tools[name]].add(address_text)
                acked(added.version)
            else:
                instance = f"pod-{step}"
                registered = await stub.RegisterInstance(
                    pb.RegisterInstanceRequest(
                        tool=name, address="127.0.0.1:9", instance_id=instance, ttl=seconds(3600)
                    ),
                    timeout=5,
                )
                acknowledged_instances.add((name, instance))
                acked(registered.version)

    descriptors = [_single_service_set(echo, index) for index in range(CLIENTS)]
    async with grpc.aio.insecure_channel(address) as channel:
        stub = stub_for(channel)
        tasks = [asyncio.create_task(client(index, stub)) for index in range(CLIENTS)]
        try:
            await asyncio.wait_for(enough.wait(), TIME_LIMIT)
            first.kill()  # SIGKILL while the other mutations are in flight
        finally:
            results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures, "the kill should have interrupted mutations in flight"
    assert all(isinstance(f, grpc.aio.AioRpcError) for f in failures), failures

    second = _spawn(processes, db)
    address = await second.ready()
    async with grpc.aio.insecure_channel(address) as channel:
        listing = await stub_for(channel).ListTools(pb.ListToolsRequest(), timeout=5)
    assert await second.terminate() == 0

    assert listing.version >= max(versions)
    states = {state.tool.name: state for state in listing.tools}
    for name, label in acknowledged_tools.items():
        # The registration in flight at the kill may have committed too: at least ours.
        stored_label = int(states[name].tool.version)
        assert stored_label >= label
        expected = acknowledged_endpoints.get((name, stored_label), set())
        assert expected <= {e.address for e in states[name].tool.endpoints}
    for name, instance in acknowledged_instances:
        assert instance in {i.instance_id for i in states[name].instances}
    for state in states.values():
        assert 0 < state.tool.revision <= listing.version
        assert state.tool.descriptors.file  # stored whole

    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        version, changes = connection.execute(
            "SELECT (SELECT version FROM meta), (SELECT COUNT(*) FROM changes)"
        ).fetchone()
    connection.close()
    assert version == listing.version == changes  # one logged change per version, no gaps


def _single_service_set(echo: DescriptorSet, index: int) -> DescriptorSet:
    """Echo's descriptors under a package of their own, so each client's tool owns its service."""
    copy = DescriptorSet()
    copy.CopyFrom(echo)
    old, new = ".testtools.echo.v1.", f".testtools.echo{index}.v1."
    for file in copy.file:
        if file.name == "echo.proto":
            file.name = f"echo{index}.proto"
            file.package = new.strip(".")
            for method in file.service[0].method:
                method.input_type = method.input_type.replace(old, new)
                method.output_type = method.output_type.replace(old, new)
    return copy


async def test_the_registry_serves_its_metrics(tmp_path: Path) -> None:
    """`--metrics-listen`: tools, version and requests by RPC and status, scraped over HTTP."""
    import urllib.request

    from registry.server import start

    running = await start(
        RegistryOptions(
            listen="127.0.0.1:0", db=str(tmp_path / "m.db"), metrics_listen="127.0.0.1:0"
        )
    )
    try:
        assert running.metrics_server is not None
        async with grpc.aio.insecure_channel(running.address) as channel:
            stub = registry_pb2_grpc.RegistryStub(channel)  # type: ignore[no-untyped-call]
            await stub.ListTools(pb.ListToolsRequest())
        url = f"http://{running.metrics_server.address}/metrics"
        text = await asyncio.to_thread(
            lambda: urllib.request.urlopen(url, timeout=5).read().decode()
        )
        assert "toolmesh_registry_tools 0.0" in text
        assert 'toolmesh_registry_requests_total{code="OK",rpc="ListTools"} 1.0' in text
    finally:
        await running.stop(0.5)
