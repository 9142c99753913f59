"""`toolmesh tools` and `toolmesh call` against a real registry, sidecar and example tools."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from mesh.addresses import parse_address
from mesh.cli.errors import CliError
from mesh.cli.processes import ChildProcesses
from mesh.cli.tools import list_tools
from tests.cli.conftest import (
    MANIFESTS,
    START_DEADLINE_S,
    clean_environment,
    requires_mesh,
    run_toolmesh,
    start_registry,
)

pytestmark = requires_mesh

TOOLS = ("echo", "sentiment")
LISTING_DEADLINE_S = 10.0


@dataclass(frozen=True)
class LiveMesh:
    registry: str
    sidecar: str


def wait_for_tools(sidecar: str, names: tuple[str, ...]) -> None:
    """Polls ListTools (another process: nothing to await) until `names` have endpoints."""
    deadline = time.monotonic() + LISTING_DEADLINE_S
    address = parse_address(sidecar)
    while True:
        try:
            listing = list_tools(address, timeout=timedelta(seconds=1))
            ready = {t.name for t in listing.tools if t.endpoint_count > 0}
        except CliError:
            ready = set()
        if set(names) <= ready:
            return
        assert time.monotonic() < deadline, f"sidecar still lacks {set(names) - ready}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveMesh]:
    """Registry, sidecar, echo and sentiment as processes, tools registered; for the module."""
    directory = tmp_path_factory.mktemp("mesh")
    with ChildProcesses(directory, clean_environment()) as processes:
        registry = start_registry(processes, directory / "registry.db")
        tools = {
            name: processes.spawn(
                name, [sys.executable, "-m", f"examples.tools.{name}", "--listen", "127.0.0.1:0"],
                announces_as=name,
            )
            for name in TOOLS
        }  # fmt: skip
        sidecar_child = processes.spawn(
            "sidecar",
            [sys.executable, "-m", "mesh.cli.main", "sidecar", "--listen", "127.0.0.1:0",
             "--registry", registry, "--cache", str(directory / "cache.pb"), "--grace-period", "1"],
            announces_as="toolmesh sidecar",
        )  # fmt: skip
        for name, child in tools.items():
            endpoint = processes.wait_ready(child, deadline_s=START_DEADLINE_S)
            registered = run_toolmesh(
                "register", "-f", str(MANIFESTS / f"{name}.yaml"),
                "--endpoint", endpoint, "--registry", registry,
            )  # fmt: skip
            assert registered.code == 0, registered.stderr
        sidecar = processes.wait_ready(sidecar_child, deadline_s=START_DEADLINE_S)
        wait_for_tools(sidecar, TOOLS)
        yield LiveMesh(registry, sidecar)


def test_tools_table(mesh: LiveMesh) -> None:
    result = run_toolmesh("tools", "--sidecar", mesh.sidecar)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TOOL", "VERSION", "ENDPOINTS", "METHOD"]
    assert ["echo", "1.0.0", "1", "echo.v1.Echo/Echo"] in [line.split() for line in lines]
    assert any(
        line.split()[-3:] == ["echo.v1.Echo/ServerStream", "(server", "stream)"] for line in lines
    )
    assert ["sentiment", "1.0.0", "1", "support.v1.Sentiment/Analyze"] in [
        line.split() for line in lines
    ]
    assert lines[-1].startswith("2 tools, catalog version ")


def test_tools_json_from_env_twin(mesh: LiveMesh) -> None:
    result = run_toolmesh("tools", "--json", env={"TOOLMESH_SIDECAR": mesh.sidecar})
    assert result.code == 0, result.stderr
    listing = json.loads(result.stdout)
    sentiment = next(t for t in listing["tools"] if t["name"] == "sentiment")
    analyze = next(m for m in sentiment["methods"] if m["name"] == "Analyze")
    assert analyze["path"] == "/support.v1.Sentiment/Analyze"
    assert "text" in json.dumps(analyze["inputSchema"])


@pytest.mark.parametrize("target", ["sentiment/Analyze", "support.v1.Sentiment/Analyze"])
def test_call_prints_the_response_json(mesh: LiveMesh, target: str) -> None:
    result = run_toolmesh(
        "call", target, '{"text": "I love this, it works great"}', "--sidecar", mesh.sidecar
    )
    assert result.code == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["label"] == "LABEL_POSITIVE"
    assert response["score"] > 0
    assert result.stdout.startswith("{\n  ")  # pretty-printed


def test_call_reads_the_request_from_stdin(mesh: LiveMesh) -> None:
    result = run_toolmesh(
        "call",
        "sentiment/Analyze",
        "-",
        "--sidecar",
        mesh.sidecar,
        stdin='{"text": "awful, broken"}',
    )
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["label"] == "LABEL_NEGATIVE"


def test_call_prints_every_message_of_a_server_stream(mesh: LiveMesh) -> None:
    result = run_toolmesh("call", "echo/ServerStream", '{"count": 3}', "--sidecar", mesh.sidecar)
    assert result.code == 0, result.stderr
    decoder = json.JSONDecoder()
    text, messages = result.stdout.strip(), []
    while text:
        message, end = decoder.raw_decode(text)
        messages.append(message)
        text = text[end:].strip()
    assert [m.get("sequence", 0) for m in messages] == [0, 1, 2]


def test_tool_error_is_code_and_message_with_status_3(mesh: LiveMesh) -> None:
    result = run_toolmesh(
        "call", "echo/Echo", '{"statusCode": 5, "statusMessage": "no such thing"}',
        "--sidecar", mesh.sidecar,
    )  # fmt: skip
    assert result.code == 3
    assert result.error_lines == ["error: NOT_FOUND: no such thing"]


def test_call_deadline(mesh: LiveMesh) -> None:
    result = run_toolmesh(
        "call", "echo/Echo", '{"latencyMs": 3000}', "--timeout", "200ms", "--sidecar", mesh.sidecar
    )
    assert result.code == 3
    assert result.error_lines[0].startswith("error: DEADLINE_EXCEEDED: ")


def test_unknown_tool_is_a_tool_error(mesh: LiveMesh) -> None:
    result = run_toolmesh("call", "nosuchtool/Do", "{}", "--sidecar", mesh.sidecar)
    assert result.code == 3
    assert len(result.error_lines) == 1
    assert result.error_lines[0].startswith("error: ")
    assert "nosuchtool" in result.error_lines[0]
