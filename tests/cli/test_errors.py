"""Every way a command can be used wrongly or meet a missing mesh: one line, the right exit code.

Most cases run in-process (fast); the ones that matter most also run as real processes to
show that no traceback ever reaches the user.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mesh.cli import main as cli_main
from mesh.cli.main import main
from tests.cli.conftest import closed_port_address, run_toolmesh
from tests.cli.protos import MALFORMED, NO_SERVICE, write_greeter


@pytest.fixture
def greeter(tmp_path: Path) -> tuple[Path, Path]:
    return write_greeter(tmp_path / "protos")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    """main(argv) in-process: its exit status and its stderr lines."""
    code = main(list(argv))
    return code, capsys.readouterr().err.splitlines()


def register_args(greeter: tuple[Path, Path], *extra: str) -> list[str]:
    include, proto = greeter
    return ["register", "--name", "greeter", "--proto", str(proto), "-I", str(include), *extra]


# (command line, the start of the one line it must print); `toolmesh VERB: ` is implied.
USAGE_ERRORS = [
    ([], "a command is required (see `toolmesh --help`)"),
    (["bogus"], "argument COMMAND: invalid choice: 'bogus'"),
    (["tools", "--bogus"], "unrecognized arguments: --bogus"),
    (["call"], "the following arguments are required: TARGET"),
    (["tools", "--sidecar", "1.2.3.4"], "--sidecar: address '1.2.3.4' has no port"),
    (["tools", "--sidecar", "h:99999"], "--sidecar: address 'h:99999': port 99999 is out of range"),
    (["call", "echo/Echo", "--timeout", "5x"], "--timeout: '5x' is not a duration"),
    (["call", "echo", "{}"], "TARGET: 'echo' is not TOOL/METHOD"),
    (["call", "echo/Echo", "{bad"], "JSON: the request is not valid JSON"),
    (["call", "echo/Echo", "-H", "novalue"], "-H: 'novalue' is not KEY:VALUE"),
    (["call", "echo/Echo", "-H", "grpc-timeout:1S"], "-H: 'grpc-timeout' cannot be a metadata key"),
    (["deregister", "x", "--registry", "nope"], "--registry: address 'nope' has no port"),
    (["registry", "--listen", "127.0.0.1"], "--listen: address '127.0.0.1' has no port"),
    (["registry", "--db", "/nonexistent/dir/r.db"], "--db: directory '/nonexistent/dir' of"),
    (["registry", "--token-file", "/no/token"], "--token-file: file '/no/token' does not exist"),
    (["sidecar", "--grace-period", "0"], "--grace-period: duration '0' must be greater than zero"),
    (["sidecar", "--max-message-bytes", "lots"], "--max-message-bytes: 'lots' is not a whole"),
    (["sidecar", "--registry", "[::1"], "--registry: address '[::1': expected [IPv6]:PORT"),
    (["register", "--proto", "x.proto"], "--name is required"),
    (["register", "--name", "x"], "--proto is required"),
    (["register", "--name", "x", "--proto", "no.proto"], "--proto: file 'no.proto' does not exist"),
    (["register", "-f", "missing.yaml"], "-f: file 'missing.yaml' does not exist"),
]


@pytest.mark.parametrize(("argv", "expected"), USAGE_ERRORS)
def test_usage_errors_are_one_line_with_status_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code, lines = run(capsys, *argv)
    assert code == 2
    assert len(lines) == 1, lines
    prefix = f"toolmesh {argv[0]}: " if argv and argv[0] != "bogus" else "toolmesh: "
    assert lines[0].startswith(prefix + expected), lines[0]


def test_malformed_proto_shows_protocs_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("broken.proto").write_text(MALFORMED)
    code, lines = run(capsys, "register", "--name", "x", "--proto", "broken.proto")
    assert code == 2
    assert lines == ['toolmesh register: broken.proto:3:31: Expected ";".']


def test_proto_without_a_service_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lonely = tmp_path / "lonely.proto"
    lonely.write_text(NO_SERVICE)
    code, lines = run(capsys, "register", "--name", "x", "--proto", str(lonely))
    assert code == 2
    assert lines == [
        f"toolmesh register: no service is defined in {lonely}; a tool needs at least one"
    ]


def test_unknown_policy_key_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, greeter: tuple[Path, Path]
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("timeout: 1s\nretry: {max_atempts: 3}\n")
    code, lines = run(capsys, *register_args(greeter, "--policy", str(policy)))
    assert code == 2
    assert lines == [
        f"toolmesh register: {policy}: retry.max_atempts: unknown key (known: max_attempts, "
        "initial_backoff, max_backoff, multiplier, retryable_codes, budget_ratio, "
        "budget_min_per_second, budget_window)"
    ]


def test_bad_policy_duration_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, greeter: tuple[Path, Path]
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("timeout: 2 seconds\n")
    code, lines = run(capsys, *register_args(greeter, "--policy", str(policy)))
    assert code == 2
    assert lines == [
        f"toolmesh register: {policy}: timeout: '2 seconds' is not a duration "
        "(e.g. 250ms, 2s, 1m30s)"
    ]


def test_bad_annotation_is_refused(
    capsys: pytest.CaptureFixture[str], greeter: tuple[Path, Path]
) -> None:
    code, lines = run(capsys, *register_args(greeter, "--annotation", "novalue"))
    assert code == 2
    assert lines == ["toolmesh register: --annotation: 'novalue' is not KEY=VALUE"]


def test_empty_token_file_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, greeter: tuple[Path, Path]
) -> None:
    token = tmp_path / "token"
    token.write_text("\n")
    code, lines = run(capsys, *register_args(greeter, "--token-file", str(token)))
    assert code == 2
    assert lines == [f"toolmesh register: --token-file: token file {str(token)!r} is empty"]


def test_unreachable_registry_is_one_line_with_status_1(
    capsys: pytest.CaptureFixture[str], greeter: tuple[Path, Path]
) -> None:
    address = closed_port_address()
    code, lines = run(capsys, *register_args(greeter, "--registry", address, "--timeout", "2s"))
    assert code == 1
    assert lines == [f"toolmesh register: registry {address} is unreachable (Connection refused)"]


@pytest.mark.parametrize("argv", [["tools"], ["call", "echo/Echo", "{}"]], ids=["tools", "call"])
def test_unreachable_sidecar_is_one_line_with_status_1(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    address = closed_port_address()
    code, lines = run(capsys, *argv, "--sidecar", address)
    assert code == 1
    assert lines == [f"toolmesh {argv[0]}: sidecar {address} is unreachable (Connection refused)"]


def test_demo_reports_the_failed_step(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    code, lines = run(capsys, "demo", "--dir", str(not_a_directory))
    assert code == 1
    assert len(lines) == 1
    assert lines[0].startswith("toolmesh demo: step 'prepare the demo directory' failed: ")


def broken_runners() -> dict[str, object]:
    def boom(args: argparse.Namespace) -> int:
        raise RuntimeError("the\nwiring broke")

    return {"tools": boom}


def test_internal_error_is_one_line_without_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_main, "_runners", broken_runners)
    code, lines = run(capsys, "tools")
    assert code == 1
    assert lines == [
        "toolmesh tools: internal error: RuntimeError: the wiring broke "
        "(set TOOLMESH_DEBUG=1 for a traceback)"
    ]


def test_internal_error_traceback_with_debug(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_main, "_runners", broken_runners)
    monkeypatch.setenv("TOOLMESH_DEBUG", "1")
    code, lines = run(capsys, "tools")
    assert code == 1
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1].startswith("toolmesh tools: internal error: RuntimeError")


# The same failures as real processes: one line on stderr, never a traceback.


def test_process_bad_address(greeter: tuple[Path, Path]) -> None:
    result = run_toolmesh(*register_args(greeter, "--registry", "nowhere"))
    assert result.code == 2
    assert result.error_lines == [
        "toolmesh register: --registry: address 'nowhere' has no port (expected HOST:PORT)"
    ]


def test_process_malformed_proto(tmp_path: Path) -> None:
    (tmp_path / "broken.proto").write_text(MALFORMED)
    result = run_toolmesh("register", "--name", "x", "--proto", "broken.proto", cwd=tmp_path)
    assert result.code == 2
    assert result.error_lines == ['toolmesh register: broken.proto:3:31: Expected ";".']


def test_process_unreachable_registry_from_env(greeter: tuple[Path, Path]) -> None:
    address = closed_port_address()
    result = run_toolmesh(*register_args(greeter), env={"TOOLMESH_REGISTRY": address})
    assert result.code == 1
    assert result.error_lines == [
        f"toolmesh register: registry {address} is unreachable (Connection refused)"
    ]
    assert "Traceback" not in result.stderr


def test_process_unknown_flag() -> None:
    result = run_toolmesh("call", "echo/Echo", "--frobnicate")
    assert result.code == 2
    assert result.error_lines == [
        "toolmesh call: unrecognized arguments: --frobnicate (see `toolmesh call --help`)"
    ]


def test_unreachable_unix_socket(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    address = f"unix:{tmp_path / 'nobody.sock'}"
    code, lines = run(capsys, "tools", "--sidecar", address)
    assert code == 1
    assert lines == [
        f"toolmesh tools: sidecar {address} is unreachable (No such file or directory)"
    ]
