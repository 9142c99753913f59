"""Tool manifests: loading, relative paths, and flags overriding their fields."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mesh.cli.errors import UsageError
from mesh.cli.main import build_parser
from mesh.cli.manifest import ManifestError, load_manifest
from mesh.cli.register import ToolSpec, build_request, spec_from_args
from tests.cli.conftest import MANIFESTS
from tests.cli.protos import write_greeter

EXAMPLE_TOOLS = ("echo", "email_parser", "sentiment", "customer_lookup", "priority_router")


def write_manifest(directory: Path) -> Path:
    """A greeter manifest in `directory`, with protos below it given as relative paths."""
    write_greeter(directory / "protos")
    manifest = directory / "greeter.yaml"
    manifest.write_text(
        "name: greeter\n"
        "version: 1.2.0\n"
        "description: Says hello.\n"
        "annotations: {idempotent: true, owner: team-a}\n"
        "protos: [protos/demo/v1/greeter.proto]\n"
        "include_dirs: [protos]\n"
        "endpoints: ['127.0.0.1:50051', '127.0.0.1:50052']\n"
        "policy: {timeout: 750ms}\n"
    )
    return manifest


def spec_for(*argv: str) -> ToolSpec:
    return spec_from_args(build_parser().parse_args(["register", *argv]))


def test_paths_are_relative_to_the_manifest_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_manifest(tmp_path / "tool")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = spec_for("-f", str(manifest))
    assert spec.protos == (tmp_path / "tool" / "protos" / "demo" / "v1" / "greeter.proto",)
    assert spec.include_dirs == (tmp_path / "tool" / "protos",)
    assert [str(a) for a in spec.endpoints] == ["127.0.0.1:50051", "127.0.0.1:50052"]
    assert spec.name == "greeter"
    assert spec.version == "1.2.0"
    assert dict(spec.annotations) == {"idempotent": "true", "owner": "team-a"}
    assert spec.policy is not None
    assert spec.policy.timeout.ToTimedelta() == timedelta(milliseconds=750)
    request = build_request(spec)
    assert list(request.tool.services) == ["demo.v1.Greeter"]


def test_flags_override_manifest_fields(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "tool")
    policy = tmp_path / "policy.yaml"
    policy.write_text("timeout: 3s\n")
    spec = spec_for(
        "-f", str(manifest),
        "--name", "greeter-2",
        "--version", "2.0.0",
        "--endpoint", "127.0.0.1:6000",
        "--annotation", "owner=team-b",
        "--annotation", "tier=gold",
        "--policy", str(policy),
    )  # fmt: skip
    assert spec.name == "greeter-2"
    assert spec.version == "2.0.0"
    assert spec.description == "Says hello."  # not overridden: kept from the manifest
    assert [str(a) for a in spec.endpoints] == ["127.0.0.1:6000"]  # replaced, not appended
    assert dict(spec.annotations) == {"idempotent": "true", "owner": "team-b", "tier": "gold"}
    assert spec.policy is not None
    assert spec.policy.timeout.ToTimedelta() == timedelta(seconds=3)


def test_unknown_manifest_key_is_named(tmp_path: Path) -> None:
    manifest = tmp_path / "tool.yaml"
    manifest.write_text("name: x\nendpoint: 127.0.0.1:1\n")
    with pytest.raises(ManifestError, match=r"unknown key 'endpoint' \(known: name, "):
        load_manifest(manifest)


def test_unknown_policy_key_in_manifest_is_named(tmp_path: Path) -> None:
    manifest = tmp_path / "tool.yaml"
    manifest.write_text("name: x\npolicy: {timeout: 1s, hedge: 2}\n")
    with pytest.raises(ManifestError, match=rf"{manifest}: policy.hedge: unknown key \(known: "):
        load_manifest(manifest)


def test_manifest_proto_missing_names_the_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "tool.yaml"
    manifest.write_text("name: x\nprotos: [nowhere.proto]\n")
    with pytest.raises(
        UsageError, match=r"tool.yaml: protos: file '.*nowhere.proto' does not exist"
    ):
        spec_for("-f", str(manifest))


def test_manifest_endpoint_must_be_an_address(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "tool")
    text = manifest.read_text().replace("'127.0.0.1:50052'", "'localhost'")
    manifest.write_text(text)
    with pytest.raises(
        UsageError, match=r"greeter.yaml: endpoints: address 'localhost' has no port"
    ):
        spec_for("-f", str(manifest))


def test_manifest_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "tool.yaml"
    manifest.write_text("- name: x\n")
    with pytest.raises(ManifestError, match="a manifest must be a YAML mapping"):
        load_manifest(manifest)


@pytest.mark.parametrize("tool", EXAMPLE_TOOLS)
def test_example_manifests_compile_into_their_tool(tool: str) -> None:
    spec = spec_for("-f", str(MANIFESTS / f"{tool}.yaml"))
    request = build_request(spec)
    assert request.tool.name == tool
    assert len(request.tool.services) == 1
    assert request.tool.endpoints  # an example endpoint, replaced by --endpoint in practice
    assert request.tool.policy.HasField("timeout")
    assert request.tool.description


def test_a_manifest_cost_is_read_and_checked(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("name: t\ncost: {amount: 0.002, unit: USD}\n")
    assert load_manifest(good).cost == (0.002, "USD")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\ncost: 3\n")
    with pytest.raises(ManifestError, match="cost must be a mapping"):
        load_manifest(bad)
