"""`toolmesh register`/`deregister` print the registry's warnings about the policies a change
left stale on stderr (`toolmesh VERB: warning: ...`) and still exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh.cli.main import main
from tests.cli.conftest import requires_registry, run_toolmesh
from tests.cli.protos import CHANGED_BACKUP, write_backup, write_greeter

pytestmark = requires_registry

GREETER_STALE = "the policy of tool 'greeter' is stale after tool 'backup' was"


def register_args(registry: str, name: str, proto: Path, include: Path, *extra: str) -> list[str]:
    """The arguments of `toolmesh register` for tool `name` (for `main` or `run_toolmesh`)."""
    return [
        "register", "--registry", registry, "--name", name,
        "--proto", str(proto), "-I", str(include), *extra,
    ]  # fmt: skip


@pytest.fixture
def greeter_with_backup(registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """`backup` registered, then `greeter` with a policy naming it as its fallback; returns
    the include directory of their protos."""
    include, greeter = write_greeter(tmp_path / "protos")
    backup = write_backup(include)
    policy = tmp_path / "policy.yaml"
    policy.write_text("fallback: backup\n")
    assert main(register_args(registry, "backup", backup, include)) == 0
    assert main(register_args(registry, "greeter", greeter, include, "--policy", str(policy))) == 0
    assert capsys.readouterr().err == ""  # nothing stale yet
    return include


def test_registering_a_fallback_with_another_shape_warns_on_stderr_and_exits_0(
    registry: str, greeter_with_backup: Path
) -> None:
    changed = write_backup(greeter_with_backup, CHANGED_BACKUP)
    result = run_toolmesh(*register_args(registry, "backup", changed, greeter_with_backup))
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("registered backup (services demo.v1.BackupGreeter; ")
    assert result.error_lines == [
        f"toolmesh register: warning: {GREETER_STALE} registered: policy.fallback: tool "
        "'backup' method Greet takes demo.v1.BackupRequest, not demo.v1.GreetRequest "
        "(a fallback gets the call's messages as they are)"
    ]


def test_deregistering_a_fallback_warns_on_stderr_and_exits_0(
    registry: str, greeter_with_backup: Path
) -> None:
    result = run_toolmesh("deregister", "backup", "--registry", registry)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("deregistered backup at registry version ")
    assert result.error_lines == [
        f"toolmesh deregister: warning: {GREETER_STALE} deregistered: policy.fallback: tool "
        "'backup' is not registered, so a failed call gets no fallback there until it is "
        "registered again"
    ]


def test_a_change_that_leaves_no_policy_stale_prints_no_warning(
    registry: str, greeter_with_backup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = greeter_with_backup / "demo" / "v1" / "backup.proto"
    assert main(register_args(registry, "backup", backup, greeter_with_backup)) == 0
    assert main(["deregister", "greeter", "--registry", registry]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.splitlines()[-1].startswith("deregistered greeter at registry version ")
