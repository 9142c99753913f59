"""The toolmesh processes under test: registries and sidecars, and tools registered in them.

Both run as `python -m registry` / `python -m sidecar` subprocesses of the benchmark, like
any deployment, so their CPU time and memory can be read from /proc by PID. Each process
has a `name`, unique within one benchmark run: it names its stderr log and its files in the
work directory, so several registries and sidecars can share that directory.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import grpc
from google.protobuf import descriptor_pb2

from bench.processes import RunningProcess, running
from mesh.api.v1 import policy_pb2, registry_pb2, registry_pb2_grpc
from mesh.config import policy_from_proto

REGISTRY_LISTENING = re.compile(r"toolmesh registry listening on (?P<address>\S+)")
SIDECAR_LISTENING = re.compile(r"toolmesh sidecar listening on (?P<address>\S+)")
REGISTER_TIMEOUT_S = 10.0


@contextmanager
def registry(log_dir: Path, repo: Path, name: str = "registry") -> Iterator[RunningProcess]:
    """A registry on 127.0.0.1 (free port) with a fresh SQLite file `log_dir/NAME.db`."""
    argv = [
        sys.executable,
        "-m",
        "registry",
        "--listen",
        "127.0.0.1:0",
        "--db",
        str(log_dir / f"{name}.db"),
    ]
    with running(name, argv, log_dir=log_dir, listening=REGISTRY_LISTENING, cwd=repo) as process:
        yield process


@contextmanager
def sidecar(
    registry_address: str,
    log_dir: Path,
    repo: Path,
    upstream_connections: int | None = None,
    *,
    policies: bool = True,
    telemetry: bool = True,
    name: str = "sidecar",
    env: Mapping[str, str] | None = None,
) -> Iterator[RunningProcess]:
    """A sidecar on 127.0.0.1 (free port) watching `registry_address`; with `policies`
    False it forwards without resilience policies (`--no-policies`, the baseline), with
    `telemetry` False it records no metrics and traces nothing (`--no-telemetry`). `env` is
    its whole environment (None: the benchmark's own), e.g. to set `OTEL_*`."""
    argv = [
        sys.executable,
        "-m",
        "sidecar",
        "--listen",
        "127.0.0.1:0",
        "--registry",
        registry_address,
        "--cache",
        str(log_dir / f"{name}-snapshot.pb"),
    ]
    if upstream_connections is not None:
        argv += ["--upstream-connections", str(upstream_connections)]
    if not policies:
        argv.append("--no-policies")
    if not telemetry:
        argv.append("--no-telemetry")
    with running(
        name, argv, log_dir=log_dir, listening=SIDECAR_LISTENING, cwd=repo, env=env
    ) as process:
        yield process


def register_tool(
    registry_address: str,
    name: str,
    files: descriptor_pb2.FileDescriptorSet,
    endpoint: str | Sequence[str],
    description: str = "",
    policy: policy_pb2.ToolPolicy | None = None,
) -> int:
    """Registers (or replaces) tool `name` serving every service of `files` at the static
    `endpoint` (one HOST:PORT, or several: instances of the same tool), with `policy` (None:
    the sidecar's defaults); returns the registry version the change produced."""
    endpoints = [endpoint] if isinstance(endpoint, str) else list(endpoint)
    tool = registry_pb2.Tool(
        name=name,
        description=description,
        descriptors=files,
        endpoints=[registry_pb2.Endpoint(address=address) for address in endpoints],
    )
    if policy is not None:
        tool.policy.CopyFrom(policy)
    with grpc.insecure_channel(registry_address) as channel:
        stub = registry_pb2_grpc.RegistryStub(channel)  # type: ignore[no-untyped-call]
        response = stub.RegisterTool(
            registry_pb2.RegisterToolRequest(tool=tool), timeout=REGISTER_TIMEOUT_S
        )
    return int(response.version)


def call_timeout_s(policy: policy_pb2.ToolPolicy | None, service: str, method: str) -> float | None:
    """The total timeout (seconds) a sidecar applying `policy` (None: the defaults) gives a
    call of `service`/`method` that carries no deadline of its own; None for no timeout.

    Read through the sidecar's own policy code, so the benchmark expects what it applies.
    """
    config = policy_from_proto(policy or policy_pb2.ToolPolicy(), tool="benchmark")
    return config.for_method(service, method).timeout_s
