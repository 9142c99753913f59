"""Fixtures for the policy tests that need a registry: compiled descriptor sets, in-process
registries (the registry's own test kit) and `toolmesh registry` processes (the CLI's), each
stopped at teardown."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from mesh.cli.processes import ChildProcesses
from tests.cli.conftest import REGISTRY_MISSING, clean_environment, start_registry
from tests.registry.registry_harness import Launcher, Registry, compile_descriptor_sets


@pytest.fixture(scope="session")
def descriptor_sets(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, descriptor_pb2.FileDescriptorSet]:
    """FileDescriptorSets keyed `echo` (service Echo) and `multi` (Math and Text)."""
    return compile_descriptor_sets(tmp_path_factory.mktemp("protos"))


@pytest.fixture
async def registry_server(tmp_path: Path) -> AsyncIterator[Registry]:
    """An in-process registry on a fresh SQLite file, with a client stub."""
    launcher = Launcher(tmp_path)
    try:
        yield await launcher.start()
    finally:
        await launcher.stop_all()


@pytest.fixture
def registry_process(tmp_path: Path) -> Iterator[str]:
    """A `toolmesh registry` process on a free loopback port (own SQLite file): its address.
    Stopped by its PID at teardown."""
    if REGISTRY_MISSING is not None:
        pytest.skip(f"needs the registry: {REGISTRY_MISSING}")
    logs = tmp_path / "logs"
    logs.mkdir()
    with ChildProcesses(logs, clean_environment()) as children:
        yield start_registry(children, tmp_path / "registry.db")


@pytest.fixture(autouse=True)
def _no_toolmesh_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process CLI runs see no TOOLMESH_* settings of the developer's shell."""
    for name in [name for name in os.environ if name.startswith("TOOLMESH_")]:
        monkeypatch.delenv(name)
