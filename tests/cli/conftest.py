"""Fixtures for the CLI tests: running `toolmesh` as a process, and live registries/sidecars.

Live processes are started with the CLI's own `ChildProcesses` (the demo's process runner),
so each is stopped by its PID at teardown whatever the test did.
"""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from mesh.cli.processes import ChildProcesses, child_environment

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "examples" / "manifests"
START_DEADLINE_S = 20.0  # a cold Python start with grpc on a loaded 2-core machine
CLI_TIMEOUT_S = 60.0  # a hung CLI fails the test instead of hanging the suite


def _importable(module: str) -> str | None:
    """None when `module` imports, else why not (for skip reasons)."""
    try:
        importlib.import_module(module)
    except ImportError as error:
        return f"{module} cannot be imported yet ({error})"
    return None


REGISTRY_MISSING = _importable("registry.server")
SIDECAR_MISSING = _importable("sidecar.app")
EXAMPLES_MISSING = _importable("examples.tools.gen.support.v1.priority_router_pb2_grpc")

requires_registry = pytest.mark.skipif(
    REGISTRY_MISSING is not None, reason=f"needs the registry: {REGISTRY_MISSING}"
)
requires_mesh = pytest.mark.skipif(
    REGISTRY_MISSING is not None or SIDECAR_MISSING is not None or EXAMPLES_MISSING is not None,
    reason=f"needs registry, sidecar and example tools: "
    f"{REGISTRY_MISSING or SIDECAR_MISSING or EXAMPLES_MISSING}",
)


@dataclass(frozen=True)
class Result:
    """A finished `toolmesh` process."""

    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without TOOLMESH_* (the developer's own settings), plus `extra`."""
    environment = child_environment(python_path=[REPO])
    environment.update(extra or {})
    return environment


def run_toolmesh(
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    cwd: Path | None = None,
) -> Result:
    """Runs `python -m mesh.cli.main ARGS` to completion (bounded by CLI_TIMEOUT_S)."""
    completed = subprocess.run(
        [sys.executable, "-m", "mesh.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=clean_environment(env),
        cwd=cwd or REPO,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


def closed_port_address() -> str:
    """A loopback address where nothing listens: a port just bound and released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"127.0.0.1:{port}"


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[ChildProcesses]:
    """Starts children for one test; every one is stopped by its PID at teardown."""
    logs = tmp_path / "logs"
    logs.mkdir()
    with ChildProcesses(logs, clean_environment()) as children:
        yield children


def start_registry(
    processes: ChildProcesses, db: Path, *extra: str, env: Mapping[str, str] | None = None
) -> str:
    """Starts `toolmesh registry` on a free port; returns its address."""
    child = processes.spawn(
        f"registry-{len(processes.children)}",
        [sys.executable, "-m", "mesh.cli.main", "registry", "--listen", "127.0.0.1:0",
         "--db", str(db), *extra],
        announces_as="toolmesh registry",
    )  # fmt: skip
    return processes.wait_ready(child, deadline_s=START_DEADLINE_S)


@pytest.fixture
def registry(processes: ChildProcesses, tmp_path: Path) -> str:
    """A live registry (own SQLite file) for one test: its address."""
    if REGISTRY_MISSING is not None:
        pytest.skip(f"needs the registry: {REGISTRY_MISSING}")
    return start_registry(processes, tmp_path / "registry.db")


@pytest.fixture(autouse=True)
def _no_toolmesh_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests see no TOOLMESH_* settings of the developer's shell."""
    for name in [name for name in os.environ if name.startswith("TOOLMESH_")]:
        monkeypatch.delenv(name)
