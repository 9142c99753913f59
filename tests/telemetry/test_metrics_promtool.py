"""What the sidecar and the registry expose passes `promtool check metrics` (names, help,
units, types), with every metric populated."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mesh.telemetry.metrics import ALL_METRICS
from tests.observability.feed import FedMesh


def promtool() -> str:
    path = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(path).exists():
        pytest.fail("promtool is not installed: `make apt` installs Debian's prometheus package")
    return path


@pytest.fixture
def fed() -> FedMesh:
    mesh = FedMesh()
    mesh.warm_up()
    mesh.drive()
    return mesh


def exposition(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_every_metric_is_exposed(fed: FedMesh) -> None:
    text = exposition(fed.sidecar_registry) + exposition(fed.registry_registry)
    exposed = {family.name for family in text_string_to_metric_families(text)}
    # The text parser names counters without their `_total`.
    wanted = {spec.name.removesuffix("_total") for spec in ALL_METRICS}
    assert wanted <= exposed, wanted - exposed


@pytest.mark.parametrize("process", ["sidecar", "registry"])
def test_promtool_finds_nothing_to_lint(fed: FedMesh, process: str) -> None:
    registry = fed.sidecar_registry if process == "sidecar" else fed.registry_registry
    result = subprocess.run(
        [promtool(), "check", "metrics"],
        input=exposition(registry),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""
