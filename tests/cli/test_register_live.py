"""`toolmesh register`/`deregister` against a real registry process (SQLite in tmp_path)."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import grpc

from mesh.api.v1 import registry_pb2, registry_pb2_grpc
from mesh.cli.processes import ChildProcesses
from tests.cli.conftest import (
    MANIFESTS,
    START_DEADLINE_S,
    requires_registry,
    run_toolmesh,
    start_registry,
)
from tests.cli.protos import write_greeter

pytestmark = requires_registry


def get_tool(registry: str, name: str) -> registry_pb2.ToolState:
    with grpc.insecure_channel(registry) as channel:
        stub = registry_pb2_grpc.RegistryStub(channel)  # type: ignore[no-untyped-call]
        response: registry_pb2.GetToolResponse = stub.GetTool(
            registry_pb2.GetToolRequest(name=name), timeout=5
        )
    return response.state


def test_register_from_protos(registry: str, tmp_path: Path) -> None:
    include, proto = write_greeter(tmp_path / "protos")
    policy = tmp_path / "policy.yaml"
    policy.write_text("timeout: 250ms\n")
    result = run_toolmesh(
        "register", "--registry", registry,
        "--name", "greeter", "--proto", str(proto), "-I", str(include),
        "--endpoint", "127.0.0.1:6001", "--endpoint", "127.0.0.1:6002",
        "--version", "1.0.0", "--description", "Says hello.",
        "--annotation", "idempotent=true", "--policy", str(policy),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.stdout.startswith(
        "registered greeter (services demo.v1.Greeter; 2 endpoints) at registry version "
    )
    state = get_tool(registry, "greeter")
    assert list(state.tool.services) == ["demo.v1.Greeter"]
    assert [e.address for e in state.tool.endpoints] == ["127.0.0.1:6001", "127.0.0.1:6002"]
    assert state.tool.version == "1.0.0"
    assert dict(state.tool.annotations) == {"idempotent": "true"}
    assert state.tool.policy.timeout.ToTimedelta() == timedelta(milliseconds=250)
    names = {f.name for f in state.tool.descriptors.file}
    assert {"demo/v1/greeter.proto", "demo/v1/common.proto"} <= names
    greeter = next(f for f in state.tool.descriptors.file if f.name == "demo/v1/greeter.proto")
    assert greeter.source_code_info.location  # --include_source_info reached the registry


def test_register_from_manifest_with_endpoint_override_and_env_registry(registry: str) -> None:
    result = run_toolmesh(
        "register",
        "-f",
        str(MANIFESTS / "customer_lookup.yaml"),
        "--endpoint",
        "127.0.0.1:6100",
        env={"TOOLMESH_REGISTRY": registry},
    )
    assert result.code == 0, result.stderr
    assert (
        "registered customer_lookup (services support.v1.CustomerLookup; 1 endpoint)"
        in result.stdout
    )
    state = get_tool(registry, "customer_lookup")
    assert [e.address for e in state.tool.endpoints] == ["127.0.0.1:6100"]
    assert state.tool.policy.timeout.ToTimedelta() == timedelta(seconds=1)
    assert state.tool.annotations["read_only"] == "true"


def test_reregistering_reports_a_newer_version(registry: str) -> None:
    first = run_toolmesh("register", "-f", str(MANIFESTS / "echo.yaml"), "--registry", registry)
    second = run_toolmesh("register", "-f", str(MANIFESTS / "echo.yaml"), "--registry", registry)
    assert first.code == second.code == 0
    version = int(first.stdout.split()[-1])
    assert int(second.stdout.split()[-1]) > version


def test_deregister(registry: str) -> None:
    assert (
        run_toolmesh("register", "-f", str(MANIFESTS / "echo.yaml"), "--registry", registry).code
        == 0
    )
    removed = run_toolmesh("deregister", "echo", "--registry", registry)
    assert removed.code == 0
    assert removed.stdout.startswith("deregistered echo at registry version ")
    again = run_toolmesh("deregister", "echo", "--registry", registry)
    assert again.code == 1
    assert again.error_lines == [
        f"toolmesh deregister: registry {registry} refused the request: "
        "NOT_FOUND: tool 'echo' is not registered"
    ]


def test_registry_refusal_is_one_line(registry: str, tmp_path: Path) -> None:
    include, proto = write_greeter(tmp_path / "protos")
    result = run_toolmesh(
        "register",
        "--registry",
        registry,
        "--name",
        "Bad Name!",
        "--proto",
        str(proto),
        "-I",
        str(include),
    )
    assert result.code == 1
    assert len(result.error_lines) == 1
    assert result.error_lines[0].startswith(
        f"toolmesh register: registry {registry} refused the request: INVALID_ARGUMENT: "
    )


def test_token_is_required_and_sent(processes: ChildProcesses, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    registry = start_registry(processes, tmp_path / "auth.db", "--token-file", str(token))
    manifest = str(MANIFESTS / "echo.yaml")
    refused = run_toolmesh("register", "-f", manifest, "--registry", registry)
    assert refused.code == 1
    assert refused.error_lines[0].startswith(
        f"toolmesh register: registry {registry} refused the request: UNAUTHENTICATED: "
    )
    accepted = run_toolmesh(
        "register", "-f", manifest, "--registry", registry, env={"TOOLMESH_TOKEN_FILE": str(token)}
    )
    assert accepted.code == 0, accepted.stderr


def test_registry_flags_from_env(processes: ChildProcesses, tmp_path: Path) -> None:
    db = tmp_path / "from-env.db"
    child = processes.spawn(
        "registry-env",
        [sys.executable, "-m", "mesh.cli.main", "registry"],
        announces_as="toolmesh registry",
        extra_environment={"TOOLMESH_REGISTRY_LISTEN": "127.0.0.1:0", "TOOLMESH_DB": str(db)},
    )
    address = processes.wait_ready(child, deadline_s=START_DEADLINE_S)
    assert address.startswith("127.0.0.1:")
    assert db.exists()
