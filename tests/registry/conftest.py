from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from tests.registry.registry_harness import Launcher, Registry, compile_descriptor_sets


@pytest.fixture(scope="session")
def descriptor_sets(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, descriptor_pb2.FileDescriptorSet]:
    """FileDescriptorSets compiled from registry_harness.PROTOS: common, echo, multi."""
    return compile_descriptor_sets(tmp_path_factory.mktemp("protos"))


@pytest.fixture
def echo(
    descriptor_sets: dict[str, descriptor_pb2.FileDescriptorSet],
) -> descriptor_pb2.FileDescriptorSet:
    """One file (plus google/protobuf/timestamp.proto) defining the service Echo."""
    return descriptor_sets["echo"]


@pytest.fixture
def multi(
    descriptor_sets: dict[str, descriptor_pb2.FileDescriptorSet],
) -> descriptor_pb2.FileDescriptorSet:
    """Two files defining the services Math and Text."""
    return descriptor_sets["multi"]


@pytest.fixture
async def launcher(tmp_path: Path) -> AsyncIterator[Launcher]:
    launcher = Launcher(tmp_path)
    try:
        yield launcher
    finally:
        await launcher.stop_all()


@pytest.fixture
async def registry(launcher: Launcher) -> Registry:
    """A registry without a token on a fresh database file."""
    return await launcher.start()
