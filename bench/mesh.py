"""The toolmesh processes under test: a registry and a sidecar, and tools registered in it.

Both run as `python -m registry` / `python -m sidecar` subprocesses of the benchmark, like
any deployment, so their CPU time and memory can be read from /proc by PID.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
from google.protobuf import descriptor_pb2

from bench.processes import RunningProcess, running
from mesh.api.v1 import registry_pb2, registry_pb2_grpc

REGISTRY_LISTENING = re.compile(r"toolmesh registry listening on (?P<address>\S+)")
SIDECAR_LISTENING = re.compile(r"toolmesh sidecar listening on (?P<address>\S+)")
REGISTER_TIMEOUT_S = 10.0


@contextmanager
def registry(log_dir: Path, repo: Path) -> Iterator[RunningProcess]:
    """A registry on 127.0.0.1 (free port) with a fresh SQLite file in `log_dir`."""
    argv = [
        sys.executable,
        "-m",
        "registry",
        "--listen",
        "127.0.0.1:0",
        "--db",
        str(log_dir / "registry.db"),
    ]
    with running(
        "registry", argv, log_dir=log_dir, listening=REGISTRY_LISTENING, cwd=repo
    ) as process:
        yield process


@contextmanager
def sidecar(
    registry_address: str, log_dir: Path, repo: Path, upstream_connections: int | None = None
) -> Iterator[RunningProcess]:
    """A sidecar on 127.0.0.1 (free port) watching `registry_address`."""
    argv = [
        sys.executable,
        "-m",
        "sidecar",
        "--listen",
        "127.0.0.1:0",
        "--registry",
        registry_address,
        "--cache",
        str(log_dir / "sidecar-snapshot.pb"),
    ]
    if upstream_connections is not None:
        argv += ["--upstream-connections", str(upstream_connections)]
    with running(
        "sidecar", argv, log_dir=log_dir, listening=SIDECAR_LISTENING, cwd=repo
    ) as process:
        yield process


def register_tool(
    registry_address: str,
    name: str,
    files: descriptor_pb2.FileDescriptorSet,
    endpoint: str,
    description: str = "",
) -> int:
    """Registers (or replaces) tool `name` serving every service of `files` at the static
    `endpoint`; returns the registry version the change produced."""
    tool = registry_pb2.Tool(
        name=name,
        description=description,
        descriptors=files,
        endpoints=[registry_pb2.Endpoint(address=endpoint)],
    )
    with grpc.insecure_channel(registry_address) as channel:
        stub = registry_pb2_grpc.RegistryStub(channel)  # type: ignore[no-untyped-call]
        response = stub.RegisterTool(
            registry_pb2.RegisterToolRequest(tool=tool), timeout=REGISTER_TIMEOUT_S
        )
    return int(response.version)
