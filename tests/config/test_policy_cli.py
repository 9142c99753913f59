"""`toolmesh policy check|set|get`, and `toolmesh register --policy` with the full schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh.cli.main import main
from mesh.cli.processes import ChildProcesses
from mesh.config import load_policy_yaml
from tests.cli.conftest import (
    MANIFESTS,
    REGISTRY_MISSING,
    clean_environment,
    run_toolmesh,
    start_registry,
)
from tests.cli.protos import write_greeter
from tests.config.policies import ISSUE_EXAMPLE


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    """main(argv) in-process: exit status, stdout lines, stderr lines."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- check: offline ---------------------------------------------------------------------------


def test_check_accepts_the_issues_example(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, ISSUE_EXAMPLE)
    assert run(capsys, "policy", "check", str(path)) == (0, ["ok"], [])


def test_check_prints_every_problem_and_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(
        tmp_path, "timeout: 0s\nretry: {max_attempts: 0}\ncircuit_breaker: {open_fro: 1s}\n"
    )
    code, out, err = run(capsys, "policy", "check", str(path))
    assert code == 2
    assert out[0].startswith(f"{path}: circuit_breaker.open_fro: unknown key (known: enabled, ")
    assert out[1:] == [
        f"{path}: timeout must be > 0 (got 0s)",
        f"{path}: retry.max_attempts must be between 1 and 10 (got 0)",
    ]
    assert err == [f"toolmesh policy check: 3 problems in {path}"]


def test_check_with_the_tool_refuses_a_fallback_to_itself(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, "fallback: echo\n")
    assert run(capsys, "policy", "check", str(path))[:2] == (0, ["ok"])
    code, out, err = run(capsys, "policy", "check", str(path), "--tool", "echo")
    assert (code, err) == (2, [f"toolmesh policy check: 1 problem in {path}"])
    assert out == [f"{path}: fallback: 'echo' is the tool itself (a fallback must be another tool)"]


def test_check_of_a_missing_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nope.yaml"
    assert run(capsys, "policy", "check", str(missing)) == (
        2,
        [],
        [f"toolmesh policy check: FILE.yaml: file {str(missing)!r} does not exist"],
    )


def test_policy_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "policy") == (
        2,
        [],
        ["toolmesh policy: an action is required: set, get, check (see `toolmesh policy --help`)"],
    )


def test_set_validates_before_calling_the_registry(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, "timeout: 0s\nhedging: {max_hedges: 4}\n")
    # Nothing listens on port 9 of loopback: the file is refused before any connection.
    code, out, err = run(capsys, "policy", "set", "echo", str(path), "--registry", "127.0.0.1:9")
    assert (code, out) == (2, [])
    assert err == [
        f"toolmesh policy set: {path}: timeout must be > 0 (got 0s); "
        f"{path}: hedging.max_hedges must be between 1 and 3 (got 4)"
    ]


# -- set and get against a registry process ----------------------------------------------------


def test_set_then_get_round_trips_through_the_registry(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, registry_process: str
) -> None:
    registry = ["--registry", registry_process]
    for manifest in ("echo.yaml", "customer_lookup.yaml"):
        assert run(capsys, "register", "-f", str(MANIFESTS / manifest), *registry)[0] == 0
    assert run(capsys, "policy", "get", "echo", *registry) == (0, ["timeout: 5s"], [])

    refused = write(tmp_path, ISSUE_EXAMPLE)  # its fallback, other-tool, is not registered
    code, out, err = run(capsys, "policy", "set", "echo", str(refused), *registry)
    assert (code, out) == (1, [])
    assert err == [
        f"toolmesh policy set: registry {registry_process} refused the request: "
        "INVALID_ARGUMENT: policy.fallback: tool 'other-tool' is not registered "
        "(a fallback must be a registered tool); policy.methods: 'Summarize' is not a method "
        "of tool 'echo' (its methods: Echo, Write, ServerStream, ClientStream, Bidi)"
    ]
    assert run(capsys, "policy", "get", "echo", *registry)[1] == ["timeout: 5s"]  # unchanged

    # No example tool has echo's method shapes, so the accepted policy has no fallback.
    policy_text = ISSUE_EXAMPLE.replace("fallback: other-tool", "#").replace("Summarize", "Echo")
    accepted = write(tmp_path, policy_text, "accepted.yaml")
    code, out, err = run(capsys, "policy", "set", "echo", str(accepted), *registry)
    assert (code, err) == (0, [])
    [line] = out
    assert line.startswith("policy of echo set at registry version ")
    assert int(line.rsplit(" ", 1)[1]) >= 3

    code, out, _ = run(capsys, "policy", "get", "echo", *registry)
    assert code == 0
    printed = "\n".join(out)
    assert load_policy_yaml(printed, where="get") == load_policy_yaml(policy_text, where="set")


def test_get_says_when_the_defaults_apply(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, registry_process: str
) -> None:
    include, proto = write_greeter(tmp_path / "protos")
    registered = run(
        capsys, "register", "--registry", registry_process,
        "--name", "greeter", "--proto", str(proto), "-I", str(include),
    )  # fmt: skip
    assert registered[0] == 0
    code, out, _ = run(capsys, "policy", "get", "greeter", "--registry", registry_process)
    assert (code, out) == (
        0,
        ["# greeter has no policy: every default applies (see the README, Policies)"],
    )
    assert load_policy_yaml("\n".join(out), where="get").ByteSize() == 0  # still valid YAML


def test_get_of_an_unknown_tool_is_refused(
    capsys: pytest.CaptureFixture[str], registry_process: str
) -> None:
    code, _, err = run(capsys, "policy", "get", "ghost", "--registry", registry_process)
    assert code == 1
    assert err == [
        f"toolmesh policy get: registry {registry_process} refused the request: "
        "NOT_FOUND: tool 'ghost' is not registered"
    ]


def test_register_takes_the_full_schema_as_a_process(tmp_path: Path, registry_process: str) -> None:
    include, proto = write_greeter(tmp_path / "protos")
    policy = write(
        tmp_path,
        "timeout: 2s\nretry: {max_attempts: 2}\nmethods: {Greet: {idempotent: true}}\n",
    )
    result = run_toolmesh(
        "register", "--registry", registry_process, "--name", "greeter",
        "--proto", str(proto), "-I", str(include), "--policy", str(policy),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    got = run_toolmesh("policy", "get", "greeter", "--registry", registry_process)
    assert got.code == 0, got.stderr
    assert load_policy_yaml(got.stdout, where="get") == load_policy_yaml(
        policy.read_text(), where="file"
    )


@pytest.mark.skipif(REGISTRY_MISSING is not None, reason=f"needs the registry: {REGISTRY_MISSING}")
def test_set_sends_the_token(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    token = write(tmp_path, "s3cret\n", "token")
    logs = tmp_path / "logs"
    logs.mkdir()
    with ChildProcesses(logs, clean_environment()) as children:
        registry = start_registry(children, tmp_path / "auth.db", "--token-file", str(token))
        auth = ["--registry", registry, "--token-file", str(token)]
        assert run(capsys, "register", "-f", str(MANIFESTS / "echo.yaml"), *auth)[0] == 0
        path = write(tmp_path, "timeout: 3s\n")
        code, _, err = run(capsys, "policy", "set", "echo", str(path), "--registry", registry)
        assert code == 1
        assert err[0].startswith(
            f"toolmesh policy set: registry {registry} refused the request: UNAUTHENTICATED: "
        )
        assert run(capsys, "policy", "set", "echo", str(path), *auth)[0] == 0
        assert run(capsys, "policy", "get", "echo", "--registry", registry)[1] == ["timeout: 3s"]
